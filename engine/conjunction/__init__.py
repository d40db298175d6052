"""Conjunction assessment: the probability of collision (Pc) of two objects at a close approach,
from their states and covariances at the time of closest approach (TCA), as a Conjunction Data
Message (CCSDS 508.0-B-1) gives them. docs/conjunction.md describes the methods and their checks
against NASA CARA's reference values.

cdm: read and write CDMs.  covariance: RTN to inertial, non-positive-definite repair.
twobody: Keplerian motion (equinoctial elements) shared by the 3D and Monte Carlo methods.
pc2d: Foster's 2D Pc.  pc3d: Hall's 3D Nc.  montecarlo: two-body Monte Carlo with a
counter-based RNG (philox) that the CUDA kernel reproduces.  assess: all of them for one CDM.
"""
