"""Load, inline and compile the CUDA sources of this folder.

CuPy's RawModule cache keys on the source text only, so headers are inlined here (an edited
header included by file would be served stale from the cache). Every entry point is `extern "C"`,
so kernels are fetched by plain name.

The numbers the CUDA sources share with the Python engine (WGS-72 constants, SGP4's coefficient
rows and error codes, the decay radius) are defined in Python only: `constant_defines` turns them
into `#define` lines that every compilation prepends (`constants_header` gives them to gcc for
tests/c/), so kernels/*.cuh never retype a value.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

from ..engine.physics import constants
from ..engine.physics import sgp4_numpy as sgp4

_INCLUDE = re.compile(r'^\s*#include\s+"([^"]+)"\s*$', re.MULTILINE)

#: NVRTC options for every module: IEEE float64 (no fast-math, no FMA contraction), so the GPU
#: evaluates each expression as gcc and NumPy do, up to libm differences of an ulp.
NVRTC_OPTIONS = ("--std=c++11", "--fmad=false")


def source(name: str) -> str:
    """Text of kernels/<name> with every `#include "file"` of this folder inlined, recursively."""
    folder = resources.files(__package__)

    def expand(filename: str, seen: tuple[str, ...]) -> str:
        if filename in seen:
            raise RuntimeError(f"kernels/{filename}: circular #include via {' -> '.join(seen)}")
        text = folder.joinpath(filename).read_text()
        return _INCLUDE.sub(lambda m: expand(m.group(1), seen + (filename,)), text)

    return expand(name, ())


def _c_literal(value) -> str:
    """A C literal of exactly `value`: ints as written, floats by their shortest round-trip text
    (repr), which a C compiler reads back to the same double."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{value!r} is not an int or a float")
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    if text in ("inf", "-inf", "nan"):
        raise ValueError(f"{value!r} has no C literal")
    return text


@functools.lru_cache(maxsize=None)
def constant_defines() -> tuple[tuple[str, str], ...]:
    """((NAME, C literal), ...): the Python values the CUDA sources use, each from its one home.

    SGP4_* from engine/physics/sgp4_numpy.py (WGS-72, Kepler iteration, small-angle threshold, error codes,
    the rows of the coefficient table), RISK_DECAY_RADIUS_KM from engine/physics/constants.py.
    FRAGRISK_CONSTANTS marks that they are there (kernels/common.cuh checks it).
    """
    values: list[tuple[str, int | float]] = [("FRAGRISK_CONSTANTS", 1)]
    values += [(f"SGP4_C_{name.upper()}", k) for k, name in enumerate(sgp4.COEFFICIENTS)]
    values += [
        ("SGP4_N_COEFFICIENTS", sgp4.N_COEFFICIENTS),
        ("SGP4_RADIUS_EARTH_KM", sgp4.RADIUS_EARTH_KM),
        ("SGP4_J2", sgp4.J2),
        ("SGP4_XKE", sgp4.XKE),
        ("SGP4_VKMPERSEC", sgp4.VKMPERSEC),
        ("SGP4_TWOPI", sgp4.TWOPI),
        ("SGP4_KEPLER_TOLERANCE_RAD", sgp4.KEPLER_TOLERANCE_RAD),
        ("SGP4_KEPLER_MAX_ITERATIONS", sgp4.KEPLER_MAX_ITERATIONS),
        ("SGP4_SMALL_ANGLE_RAD", sgp4.SMALL_ANGLE_RAD),
        ("SGP4_OK", sgp4.ERR_OK),
        ("SGP4_ERR_ECCENTRICITY", sgp4.ERR_ECCENTRICITY),
        ("SGP4_ERR_MEAN_MOTION", sgp4.ERR_MEAN_MOTION),
        ("SGP4_ERR_SEMILATUS", sgp4.ERR_SEMILATUS),
        ("SGP4_ERR_DECAYED", sgp4.ERR_DECAYED),
        ("RISK_DECAY_RADIUS_KM", constants.DECAY_RADIUS_KM),
    ]
    return tuple((name, _c_literal(value)) for name, value in values)


def constants_header() -> str:
    """`constant_defines` as the text of a C header, for gcc (``gcc -include``)."""
    return _with_defines("", constant_defines())


def _with_defines(text: str, defines: tuple) -> str:
    return "".join(f"#define {key} {value}\n" for key, value in defines) + text


@functools.lru_cache(maxsize=None)
def module(name: str, defines: tuple = ()):
    """cupy.RawModule of kernels/<name>, compiled once per process (CuPy also caches on disk).

    defines: ((NAME, value), ...) prepended as #define lines after `constant_defines` (part of
    the source text, hence of CuPy's cache key).
    """
    import cupy

    code = _with_defines(source(name), constant_defines() + tuple(defines))
    return cupy.RawModule(code=code, options=NVRTC_OPTIONS)


def compile_ptx(name: str, arch: str = "compute_90", defines: tuple = ()) -> str:
    """PTX of kernels/<name> through NVRTC directly: needs libnvrtc, but no GPU and no driver.

    CPU-only CI uses this to prove the CUDA sources compile.
    """
    from cupy_backends.cuda.libs import nvrtc

    prog = nvrtc.createProgram(_with_defines(source(name), constant_defines() + tuple(defines)),
                               name, [], [])
    try:
        nvrtc.compileProgram(prog, list(NVRTC_OPTIONS) + [f"--gpu-architecture={arch}"])
    except nvrtc.NVRTCError as exc:
        raise RuntimeError(f"kernels/{name}: NVRTC failed: {exc}\n{nvrtc.getProgramLog(prog)}") from exc
    ptx = nvrtc.getPTX(prog)
    nvrtc.destroyProgram(prog)
    return ptx.decode() if isinstance(ptx, bytes) else ptx


def check_array(a, name: str, dtype, shape: tuple) -> None:
    """CuPy checks nothing a raw kernel receives: dtype, C-contiguity and shape are checked here."""
    import cupy

    if not isinstance(a, cupy.ndarray):
        raise TypeError(f"{name}: expected a cupy.ndarray, got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {dtype}, got {a.dtype}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name}: must be C-contiguous")
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {tuple(a.shape)}")
