"""The SGP4 backends every SGP4 test runs on: one suite, three implementations of one algorithm.

- numpy:    engine/physics/sgp4_numpy.py
- c-source: kernels/sgp4.cuh compiled by gcc and called through ctypes (CPU-only CI runs the
            GPU's arithmetic this way)
- cuda:     kernels/sgp4_propagate.cu on a GPU (marked `gpu`, skipped without a usable device)
Each backend is a function (table, offset_min (n,), times_min (m,)) -> r (n,m,3), v, err (n,m).
"""

from __future__ import annotations

import ctypes
import functools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from fragrisk.engine.physics import sgp4_numpy as sgp4
from fragrisk.kernels.build import constants_header

ROOT = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=None)
def gpu_usable() -> bool:
    """The backend's own test (engine.backend): CuPy imports and cupy.is_available(). Probed on
    first use (conftest.py skips `gpu` tests with it), not when this module is imported."""
    from fragrisk.engine.backend import gpu_unusable_reason

    return gpu_unusable_reason() is None


def numpy_backend(table, offset_min, times_min):
    t = np.asarray(offset_min)[:, None] + np.asarray(times_min)[None, :]
    return sgp4.propagate(table, t)


def constants_header_file(build_dir) -> str:
    """kernels/build.py's generated #defines as a header in build_dir, for gcc's -include (the
    NVRTC builds get the same text prepended)."""
    path = Path(build_dir) / "fragrisk_constants.h"
    path.write_text(constants_header())
    return str(path)


@functools.lru_cache(maxsize=None)
def _harness(build_dir: str):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not found: cannot build the CPU harness of the CUDA source")
    lib = Path(build_dir) / "libsgp4_harness.so"
    # -ffp-contract=off: no fused multiply-add, as the NVRTC build (--fmad=false).
    subprocess.run(["gcc", "-O2", "-std=c99", "-shared", "-fPIC", "-ffp-contract=off",
                    "-include", constants_header_file(build_dir), "-I", str(ROOT / "kernels"), str(ROOT / "tests" / "c" / "sgp4_harness.c"),
                    "-o", str(lib), "-lm"], check=True)
    dll = ctypes.CDLL(str(lib))
    f = dll.sgp4_grid_host
    f.restype = None
    return f


def c_source_backend(table, offset_min, times_min, build_dir):
    f = _harness(str(build_dir))
    table = np.ascontiguousarray(table, dtype=np.float64)
    offset_min = np.ascontiguousarray(offset_min, dtype=np.float64)
    times_min = np.ascontiguousarray(times_min, dtype=np.float64)
    n, m = table.shape[1], times_min.shape[0]
    r = np.empty((n, m, 3))
    v = np.empty((n, m, 3))
    err = np.empty((n, m), dtype=np.int8)
    ptr = lambda a: a.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
    f(ptr(table), ctypes.c_long(n), ptr(offset_min), ptr(times_min), ctypes.c_long(m), ptr(r), ptr(v), ptr(err))
    return r, v, err


def cuda_backend(table, offset_min, times_min, layout="pairs"):
    import cupy
    from fragrisk.kernels import sgp4_gpu

    r, v, err = sgp4_gpu.propagate(cupy.asarray(table), cupy.asarray(offset_min, dtype=np.float64),
                                   cupy.asarray(times_min, dtype=np.float64), layout=layout)
    return cupy.asnumpy(r), cupy.asnumpy(v), cupy.asnumpy(err)


BACKEND_PARAMS = [
    pytest.param("numpy", id="numpy"),
    pytest.param("c-source", id="c-source"),
    pytest.param("cuda-pairs", id="cuda-pairs", marks=pytest.mark.gpu),
    pytest.param("cuda-objects", id="cuda-objects", marks=pytest.mark.gpu),
]


@pytest.fixture(params=BACKEND_PARAMS)
def sgp4_backend(request, tmp_path_factory):
    name = request.param
    if name == "numpy":
        return numpy_backend
    if name == "c-source":
        build = tmp_path_factory.getbasetemp() / "c-harness"
        build.mkdir(exist_ok=True)
        return functools.partial(c_source_backend, build_dir=build)
    return functools.partial(cuda_backend, layout=name.split("-")[1])
