"""The fused estimator on every backend: kernels/risk.cuh compiled by gcc (CPU-only CI runs the
GPU's arithmetic) and kernels/risk.cu on a GPU, against the NumPy path engine.risk."""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import subprocess

import numpy as np
import pytest

from fragrisk.engine import montecarlo
from fragrisk.engine.scenario import load_scenario
from fragrisk.kernels.build import compile_ptx
from sgp4_backends import ROOT, requires_gpu


@pytest.fixture(scope="module")
def case():
    """Realizations 0-2 of the built-in scenario over 6 hours with two targets (the ISS and a
    copy 2 minutes behind it), so the per-target loop is exercised."""
    sc = load_scenario("cosmos1408")
    iss = sc.targets[0]
    lagging = dataclasses.replace(iss, name="ISS-2", hard_body_radius_m=30.0)
    sc = dataclasses.replace(sc, targets=(iss, lagging),
                             analysis=dataclasses.replace(sc.analysis, duration_days=0.25, time_bin_s=1800.0))
    setup = montecarlo.make_setup(sc, "cpu", use_prefilter=False)
    # Shift the second target's samples by two steps: a distinct, valid trajectory.
    r = setup.targets.r_km.copy()
    r[1] = np.roll(r[0], 2, axis=0)
    setup = dataclasses.replace(setup, targets=dataclasses.replace(setup.targets, r_km=r))
    pop, *_ = montecarlo.fragment_objects(setup, np.arange(3))
    return setup, pop


def numpy_rates(setup, pop):
    lam, decay, _, _ = montecarlo.object_rates(setup, pop)
    return lam, decay


@functools.lru_cache(maxsize=None)
def _harness(build_dir: str, n_targets: int):
    lib = f"{build_dir}/librisk_harness_{n_targets}.so"
    subprocess.run(["gcc", "-O2", "-std=c99", "-shared", "-fPIC", "-ffp-contract=off", f"-DRISK_N_TARGETS={n_targets}",
                    "-I", str(ROOT / "kernels"), str(ROOT / "tests" / "c" / "risk_harness.c"), "-o", lib, "-lm"],
                   check=True)
    f = ctypes.CDLL(lib).risk_fused_host
    f.restype = None
    return f


def c_source_rates(setup, pop, build_dir, reach):
    w, tg = setup.window, setup.targets
    K = len(tg.names)
    f = _harness(str(build_dir), K)
    sov = (montecarlo.risk.cross_section_km2(tg.hard_body_radius_m, pop.lc_m)
           / montecarlo.risk.sphere_volume_km3(setup.kernel_radius_km))
    args = dict(table=np.ascontiguousarray(pop.table), offset=np.ascontiguousarray(pop.offset_min),
                times=np.ascontiguousarray(w.times_min), tr=np.ascontiguousarray(tg.r_km),
                valid=np.ascontiguousarray(tg.valid.astype(np.uint8)), sov=np.ascontiguousarray(sov),
                seg=np.ascontiguousarray(w.seg_bin.astype(np.int32)), reach=np.ascontiguousarray(reach, dtype=float))
    n, m = pop.lc_m.size, w.times_s.size
    lam = np.zeros((n, K, w.n_bins))
    decay = np.empty(n, dtype=np.int64)
    p = lambda a: a.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
    order = np.ascontiguousarray(np.random.default_rng(0).permutation(n).astype(np.int64))  # any order
    f(p(order), p(args["table"]), ctypes.c_long(n), p(args["offset"]), p(args["times"]), ctypes.c_long(m), p(args["tr"]),
      p(args["valid"]), p(args["sov"]), p(args["reach"]), ctypes.c_double(setup.kernel_radius_km), p(args["seg"]),
      ctypes.c_long(w.n_bins), p(lam), p(decay))
    return lam, decay


def test_risk_kernel_compiles_with_nvrtc():
    pytest.importorskip("cupy_backends.cuda.libs.nvrtc")
    for k in (1, 3):
        ptx = compile_ptx("risk.cu", defines=(("RISK_N_TARGETS", k),))
        assert "risk_fused" in ptx and "segment_sum" in ptx
    assert "sgp4_grid_pairs" in compile_ptx("sgp4_propagate.cu")


def _reach(setup, pop):
    w, tg = setup.window, setup.targets
    _, reach, _ = montecarlo.risk.prefilter(pop.table, pop.offset_min, pop.offset_min + w.times_min[-1], w.step_s,
                                         tg.r_km, tg.valid, setup.kernel_radius_km)
    return reach


@pytest.mark.parametrize("jumps", [False, True], ids=["every-sample", "with-jumps"])
def test_c_source_matches_numpy(case, tmp_path_factory, jumps):
    """The fused kernel's arithmetic (gcc) against engine/risk.py, which evaluates every sample;
    with jumps the kernel skips the samples the prefilter proves irrelevant."""
    setup, pop = case
    lam_np, dec_np = numpy_rates(setup, pop)
    reach = _reach(setup, pop) if jumps else np.zeros(pop.lc_m.size)
    if jumps:
        assert (reach > 0).mean() > 0.5, "most fragments of this case can jump"
    lam_c, dec_c = c_source_rates(setup, pop, tmp_path_factory.mktemp("risk-harness"), reach)
    assert lam_np.sum() > 0
    np.testing.assert_array_equal(dec_c, dec_np)
    # 1e-9 relative per fragment and bin (the CUDA-vs-NumPy bound): both sum the same
    # chords in time order (jumps only drop chords that are exactly 0); only libm ulps differ.
    np.testing.assert_allclose(lam_c, lam_np, rtol=1e-9, atol=1e-300)


@pytest.mark.gpu
@requires_gpu
def test_cuda_matches_numpy(case):
    setup, pop = case
    lam_np, dec_np = numpy_rates(setup, pop)
    gpu = dataclasses.replace(setup, device="gpu")
    lam_g, dec_g = numpy_rates(gpu, pop)
    np.testing.assert_array_equal(dec_g, dec_np)
    np.testing.assert_allclose(lam_g, lam_np, rtol=1e-9, atol=1e-300)


@pytest.mark.gpu
@requires_gpu
def test_cuda_run_matches_numpy_per_realization(case):
    setup, _ = case
    reals = np.arange(4)
    cpu = montecarlo.run_batch(setup, reals)
    gpu = montecarlo.run_batch(dataclasses.replace(setup, device="gpu", use_prefilter=True), reals)
    np.testing.assert_allclose(gpu.by_time.sum(axis=2), cpu.by_time.sum(axis=2), rtol=1e-9, atol=0)
    np.testing.assert_allclose(gpu.fragments_in_orbit, cpu.fragments_in_orbit, rtol=0, atol=0)


@pytest.mark.gpu
@requires_gpu
def test_segment_sum_matches_numpy():
    import cupy

    from fragrisk.kernels import risk_gpu

    rng = np.random.default_rng(2)
    x = rng.uniform(size=(1000, 7))
    starts = np.array([0, 0, 10, 500, 999, 1000], dtype=np.int64)
    got = cupy.asnumpy(risk_gpu.segment_sum(cupy.asarray(x), cupy.asarray(starts)))
    want = np.array([x[a:b].sum(axis=0) for a, b in zip(starts[:-1], starts[1:])])
    np.testing.assert_allclose(got, want, rtol=1e-13)
