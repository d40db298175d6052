"""kernels/pc_mc.cu, the Monte Carlo's GPU path: NVRTC compiles it, gcc runs its per-trial
arithmetic (kernels/pc_mc.cuh) on the CPU against NumPy's (engine/conjunction/montecarlo.py), and
on a GPU the same seed gives the same hits."""

from __future__ import annotations

import ctypes
import functools
import shutil
import subprocess

import numpy as np
import pytest
from conjunction_cases import DATA
from fragrisk.engine.conjunction import montecarlo, pc3d
from fragrisk.engine.conjunction.assess import inertial_covariances
from fragrisk.engine.conjunction.cdm import read_cdm
from fragrisk.kernels import pc_mc_gpu
from fragrisk.kernels.build import compile_ptx
from sgp4_backends import ROOT, constants_header_file

CASES = [("OmitronTestCase_Test01_HighPc.cdm", 20.0),  # LEO, 14 km/s: a 3-point grid
         ("AlfanoTestCase06.cdm", 10.0)]               # LEO, 0.17 m/s: a long grid, Newton at work


def _encounter(name, hbr_m):
    c = read_cdm(DATA / "sample" / name)
    (c1, c2), _ = inertial_covariances(c)
    x1, x2 = c.objects[0].state_km, c.objects[1].state_km
    window = pc3d.encounter_window(x1, c1, x2, c2, hbr_m * 1e-3)
    return montecarlo.encounter(x1, c1, x2, c2, hbr_m * 1e-3, window)


def test_kernel_compiles_with_nvrtc():
    pytest.importorskip("cupy_backends.cuda.libs.nvrtc")
    ptx = compile_ptx("pc_mc.cu", defines=pc_mc_gpu.defines())
    assert "pc_mc_min_distance" in ptx


def test_kernel_constants_are_the_python_values():
    from fragrisk.engine.conjunction import philox, twobody

    d = dict(pc_mc_gpu.defines())
    assert float(d["PC_MU_KM3_S2"]) == twobody.MU_KM3_S2 and float(d["PC_TWOPI"]) == philox.TWO_PI
    assert int(d["PC_PHILOX_M0"].rstrip("u")) == philox.PHILOX_M0
    assert d["PC_KEPLER_STEPS"] == twobody.KEPLER_STEPS and d["PC_REFINE_STEPS"] == montecarlo.REFINE_STEPS


@functools.lru_cache(maxsize=None)
def _harness(build_dir: str):
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    defines = [f"-D{k}={v}" for k, v in pc_mc_gpu.defines()]
    lib = f"{build_dir}/libpc_mc_harness.so"
    subprocess.run(["gcc", "-O2", "-std=c99", "-shared", "-fPIC", "-ffp-contract=off", "-Wall", "-Werror",
                    *defines, "-include", constants_header_file(build_dir), "-I", str(ROOT / "kernels"),
                    str(ROOT / "tests" / "c" / "pc_mc_harness.c"), "-o", lib, "-lm"], check=True)
    f = ctypes.CDLL(lib).pc_mc_min_distance_host
    f.restype = None
    f.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int, ctypes.c_ulonglong, ctypes.c_ulonglong,
                                          ctypes.c_longlong, ctypes.c_void_p]
    return f


@pytest.mark.parametrize("name,hbr_m", CASES)
def test_kernel_arithmetic_matches_numpy(tmp_path_factory, name, hbr_m):
    enc = _encounter(name, hbr_m)
    f = _harness(str(tmp_path_factory.mktemp("pc_mc")))
    n, first, seed = 4000, 123_456, 42
    out = np.empty(n)
    mean, root, times = (np.ascontiguousarray(a, dtype=np.float64) for a in (enc.mean, enc.sqrt_cov, enc.times_s))
    f(mean.ctypes.data, root.ctypes.data, times.ctypes.data, len(times), seed, first, n, out.ctypes.data)
    ref = montecarlo.chunk_min_distance(enc, seed, first, n)
    # Same steps in the same order; libm and BLAS summation order differ by ulps, which the
    # Newton steps do not amplify: 1e-9 relative is a millimetre at 1000 km.
    assert np.allclose(out, ref, rtol=1e-9, atol=1e-12)
    assert np.array_equal(out < enc.hbr_km, ref < enc.hbr_km)


@pytest.mark.gpu
@pytest.mark.parametrize("name,hbr_m", CASES)
def test_gpu_gives_the_cpu_hits(name, hbr_m):
    import cupy

    enc = _encounter(name, hbr_m)
    n, first, seed = 200_000, 7, 9
    d = pc_mc_gpu.min_distance(cupy.asarray(enc.mean), cupy.asarray(enc.sqrt_cov), cupy.asarray(enc.times_s),
                               seed, first, n).get()
    ref = montecarlo.chunk_min_distance(enc, seed, first, n)
    assert np.allclose(d, ref, rtol=1e-9, atol=1e-12)
    assert int((d < enc.hbr_km).sum()) == int((ref < enc.hbr_km).sum())
    a = montecarlo.run(enc, 300_000, seed=seed)
    b = montecarlo.run(enc, 300_000, seed=seed, count_hits=pc_mc_gpu.count_hits)
    assert (a.hits, a.trials) == (b.hits, b.trials)


def test_wrapper_checks_arrays():
    cupy = pytest.importorskip("cupy")
    try:
        cupy.zeros(1)
    except Exception:  # noqa: BLE001  no device: the checks run before any launch, on host arrays
        pytest.skip("CuPy cannot allocate here")
    with pytest.raises(TypeError):
        pc_mc_gpu.min_distance(np.zeros((2, 6)), cupy.zeros((2, 6, 6)), cupy.zeros(3), 0, 0, 10)
