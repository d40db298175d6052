"""What kind of file a file is, in words, for the readers' messages ("this is an ephemeris file,
not a results file").

A reader given the wrong kind of file says which kind it was given instead of which variable or
byte it lacks. `kind_of_file` looks at the first bytes (the HDF5 signature, XML, TOML, a TLE's
line numbers) and, for an HDF5 file, at what fragrisk writes into each of its files: the
`title` attribute of the fragments and ephemeris files (engine/files/fragments_file.py,
engine/files/ephemeris_file.py: their titles start with the prefixes below) and the
`expected_collisions` variable of a results file.
"""

from __future__ import annotations

import os
import re
import tomllib

__all__ = ["EPHEMERIS", "EPHEMERIS_TITLE_PREFIX", "FRAGMENTS", "FRAGMENTS_TITLE_PREFIX", "HDF5", "RESULTS",
           "kind_of_bytes", "kind_of_file"]

#: How each fragrisk HDF5 file begins its `title` attribute (the fragments and ephemeris files).
FRAGMENTS_TITLE_PREFIX = "fragrisk fragments"
EPHEMERIS_TITLE_PREFIX = "fragrisk ephemeris"
#: The kinds, as the messages write them.
RESULTS = "a results file (fragrisk run)"
FRAGMENTS = "a fragments file (fragrisk sample)"
EPHEMERIS = "an ephemeris file (fragrisk propagate)"
HDF5 = "an HDF5 file that fragrisk did not write"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_HEAD_BYTES = 65536
_TLE_LINE = re.compile(rb"^1 [ 0-9A-Z]{5}[A-Z ] .{50,}\r?\n2 [ 0-9A-Z]{5} ", re.MULTILINE)


def kind_of_bytes(head: bytes) -> str | None:
    """The kind of a file from its first bytes, or None where it is none fragrisk knows."""
    if head.startswith(_HDF5_SIGNATURE):
        return "an HDF5 file"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (or a NumPy .npz)"
    if head.startswith(b"\x89PNG"):
        return "a PNG image"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<"):
        return "an OMM file (XML)" if b"<omm" in text.lower() or b"<ndm" in text.lower() else "an XML file"
    if _TLE_LINE.search(text):
        return "a TLE file"
    try:
        table = tomllib.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    if any(key in table for key in ("analysis", "targets", "event", "population", "parent")):
        return "a scenario (TOML)"
    return None


def kind_of_file(path: str | os.PathLike) -> str | None:
    """The kind of the file at `path` (see the module docstring), or None where it cannot be
    read or is none fragrisk knows."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError:
        return None
    kind = kind_of_bytes(head)
    if kind != "an HDF5 file":
        return kind
    import h5py  # only here: naming a kind must not load h5py at import

    try:
        with h5py.File(path, "r") as f:
            title = f.attrs.get("title", "")
            title = title.decode("utf-8", "replace") if isinstance(title, bytes) else str(title)
            if title.startswith(FRAGMENTS_TITLE_PREFIX):
                return FRAGMENTS
            if title.startswith(EPHEMERIS_TITLE_PREFIX):
                return EPHEMERIS
            if "expected_collisions" in f:
                return RESULTS
    except (OSError, KeyError, TypeError, ValueError, RuntimeError):
        return "a damaged HDF5 file"
    return HDF5
