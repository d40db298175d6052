"""fragrisk's numerical engine: arrays in, arrays out; no printing, no global state."""

__version__ = "0.1.0"
