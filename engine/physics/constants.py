"""fragrisk's decay rule, in one place that every layer and the CUDA sources may read.

The estimator (engine.physics.risk and kernels/risk.cuh, where it arrives as a generated
#define: kernels/build.py), the sub-orbital status of a sampled fragment (engine.cloud), a
scenario's decayed parent (engine.scenario), calibration's in-orbit test and the Gabbard
diagram's note (engine.plots) all use it. docs/estimator.md states the rule.
"""

from __future__ import annotations

from .sgp4_numpy import RADIUS_EARTH_KM

#: Altitude below which an object counts as decayed (km).
DECAY_ALTITUDE_KM = 100.0
#: Geocentric radius of that altitude above SGP4's (WGS-72) earth radius, km.
DECAY_RADIUS_KM = RADIUS_EARTH_KM + DECAY_ALTITUDE_KM
