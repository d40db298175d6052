"""Load, inline and compile the CUDA sources of this folder.

CuPy's RawModule cache keys on the source text only, so headers are inlined here (an edited
header included by file would be served stale from the cache). Every entry point is `extern "C"`,
so kernels are fetched by plain name.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

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


def _with_defines(text: str, defines: tuple) -> str:
    return "".join(f"#define {key} {value}\n" for key, value in defines) + text


@functools.lru_cache(maxsize=None)
def module(name: str, defines: tuple = ()):
    """cupy.RawModule of kernels/<name>, compiled once per process (CuPy also caches on disk).

    defines: ((NAME, value), ...) prepended as #define lines (part of the source text, hence
    of CuPy's cache key).
    """
    import cupy

    return cupy.RawModule(code=_with_defines(source(name), defines), options=NVRTC_OPTIONS)


def compile_ptx(name: str, arch: str = "compute_90", defines: tuple = ()) -> str:
    """PTX of kernels/<name> through NVRTC directly: needs libnvrtc, but no GPU and no driver.

    CPU-only CI uses this to prove the CUDA sources compile.
    """
    from cupy_backends.cuda.libs import nvrtc

    prog = nvrtc.createProgram(_with_defines(source(name), defines), name, [], [])
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
