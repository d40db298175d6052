"""The fused estimator on every backend: kernels/risk.cuh compiled by gcc (CPU-only CI runs the
GPU's arithmetic) and kernels/risk.cu on a GPU, against the NumPy path engine.physics.risk."""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import subprocess

import numpy as np
import pytest
from fragrisk.engine.physics import risk
from fragrisk.engine.run.batches import run_batch
from fragrisk.engine.run.estimate import object_rates_gpu, sigma_over_volume
from fragrisk.engine.run.objects import fragment_objects
from fragrisk.engine.run.setup import make_setup
from fragrisk.engine.scenario import load_scenario
from fragrisk.kernels import risk_gpu
from fragrisk.kernels.build import compile_ptx
from helpers import object_rates
from sgp4_backends import ROOT, constants_header_file


@pytest.fixture(scope="module")
def case():
    """Realizations 0-2 of the built-in scenario over 6 hours with two targets (the ISS and a
    copy 2 minutes behind it), so the per-target loop is exercised."""
    sc = load_scenario("cosmos1408")
    iss = sc.targets[0]
    lagging = dataclasses.replace(iss, name="ISS-2", hard_body_radius_m=30.0)
    sc = dataclasses.replace(sc, targets=(iss, lagging),
                             analysis=dataclasses.replace(sc.analysis, duration_days=0.25, time_bin_s=1800.0))
    setup = make_setup(sc, "cpu", use_prefilter=False)
    # Shift the second target's samples by two steps: a distinct, valid trajectory.
    r = setup.targets.r_km.copy()
    r[1] = np.roll(r[0], 2, axis=0)
    setup = dataclasses.replace(setup, targets=dataclasses.replace(setup.targets, r_km=r))
    pop, *_ = fragment_objects(setup, np.arange(3))
    return setup, pop


def device_rates(setup, pop):
    """Per-object rates and decay samples on setup.device: NumPy for "cpu", CUDA for "gpu"."""
    lam, decay, _, _ = object_rates(setup, pop)
    return lam, decay


def numpy_passages(setup, pop, reach=None):
    """engine/physics/risk.py's passages, every sample evaluated (reach None) or with the coarse screen."""
    w, tg = setup.window, setup.targets
    sov = (risk.cross_section_km2(tg.hard_body_radius_m, pop.lc_m)
           / risk.sphere_volume_km3(setup.kernel_radius_km))
    return risk.fragment_rates(pop.table, pop.offset_min, w.times_min, tg.r_km, tg.valid, sov,
                                          setup.kernel_radius_km, w.seg_bin, w.n_bins, reach_km=reach,
                                          passages=True)


@functools.lru_cache(maxsize=None)
def _harness(build_dir: str, n_targets: int, encounters: bool = True):
    lib = f"{build_dir}/librisk_harness_{n_targets}_{int(encounters)}.so"
    subprocess.run(["gcc", "-O2", "-std=c99", "-shared", "-fPIC", "-ffp-contract=off", f"-DRISK_N_TARGETS={n_targets}",
                    f"-DRISK_ENCOUNTERS={int(encounters)}", "-Wall", "-Werror", "-Wno-unknown-pragmas",
                    "-include", constants_header_file(build_dir), "-I", str(ROOT / "kernels"),
                    str(ROOT / "tests" / "c" / "risk_harness.c"), "-o", lib, "-lm"],
                   check=True)
    f = ctypes.CDLL(lib).risk_fused_host
    f.restype = None
    return f


def c_source_rates(setup, pop, build_dir, reach, *, encounters=True, capacity=4096, with_count=False):
    """The fused kernel's arithmetic run by gcc: lam, decay and the passage records (sorted as
    kernels/risk_gpu.py sorts them), and with with_count the counter the kernel reached."""
    from fragrisk.engine.physics.risk import Passages

    w, tg = setup.window, setup.targets
    K = len(tg.names)
    f = _harness(str(build_dir), K, encounters)
    sov = (risk.cross_section_km2(tg.hard_body_radius_m, pop.lc_m)
           / risk.sphere_volume_km3(setup.kernel_radius_km))
    args = dict(table=np.ascontiguousarray(pop.table), offset=np.ascontiguousarray(pop.offset_min),
                times=np.ascontiguousarray(w.times_min), tr=np.ascontiguousarray(tg.r_km),
                valid=np.ascontiguousarray(tg.valid.astype(np.uint8)), sov=np.ascontiguousarray(sov),
                seg=np.ascontiguousarray(w.seg_bin.astype(np.int32)), reach=np.ascontiguousarray(reach, dtype=float))
    n, m = pop.lc_m.size, w.times_s.size
    lam = np.zeros((n, K, w.n_bins))
    decay = np.empty(n, dtype=np.int64)
    count = np.zeros(1, dtype=np.uint64)
    record = np.full((max(capacity, 1), 4), -7, dtype=np.int64)
    length = np.full(max(capacity, 1), np.nan)
    p = lambda a: a.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
    order = np.ascontiguousarray(np.random.default_rng(0).permutation(n).astype(np.int64))  # any order
    f(p(order), p(args["table"]), ctypes.c_long(n), p(args["offset"]), p(args["times"]), ctypes.c_long(m), p(args["tr"]),
      p(args["valid"]), p(args["sov"]), p(args["reach"]), ctypes.c_double(setup.kernel_radius_km), p(args["seg"]),
      ctypes.c_long(w.n_bins), p(lam), p(decay), p(count), ctypes.c_longlong(capacity), p(record), p(length))
    found = int(count[0])
    kept = min(found, capacity)
    assert (record[kept:capacity] == -7).all(), "nothing is written past the counter's slots"
    rec = record[:kept]
    passages = Passages(rec[:, 0].copy(), rec[:, 1].copy(), rec[:, 2].copy(), rec[:, 3].copy(), length[:kept]).sorted()
    if with_count:
        return lam, decay, passages, found
    return lam, decay, passages


def test_risk_kernel_compiles_with_nvrtc():
    pytest.importorskip("cupy_backends.cuda.libs.nvrtc")
    for k in (1, 3):
        for encounters in (False, True):
            ptx = compile_ptx("risk.cu", defines=risk_gpu.defines(k, encounters=encounters))
            assert "risk_fused" in ptx and "segment_sum" in ptx
            # The passage slots are taken with an atomic add; the lean kernel has none.
            assert ("atom.global.add.u64" in ptx) == encounters
    assert "sgp4_grid_pairs" in compile_ptx("sgp4_propagate.cu")


def _reach(setup, pop):
    w, tg = setup.window, setup.targets
    _, reach, _ = risk.prefilter(pop.table, pop.offset_min, pop.offset_min + w.times_min[-1], w.step_s,
                                         tg.r_km, tg.valid, setup.kernel_radius_km)
    return reach


@pytest.mark.parametrize("jumps", [False, True], ids=["every-sample", "with-jumps"])
def test_c_source_matches_numpy(case, tmp_path_factory, jumps):
    """The fused kernel's arithmetic (gcc) against engine/physics/risk.py, here with the prefilter off
    (every sample evaluated); with jumps the kernel skips the samples the prefilter's bound
    proves irrelevant."""
    setup, pop = case
    lam_np, dec_np = device_rates(setup, pop)
    reach = _reach(setup, pop) if jumps else np.zeros(pop.lc_m.size)
    if jumps:
        assert (reach > 0).mean() > 0.5, "most fragments of this case can jump"
    lam_c, dec_c, _ = c_source_rates(setup, pop, tmp_path_factory.mktemp("risk-harness"), reach)
    assert lam_np.sum() > 0
    np.testing.assert_array_equal(dec_c, dec_np)
    # 1e-9 relative per fragment and bin: both sum the same chords in time order (jumps only drop
    # chords that are exactly 0), so only libm's last-ulp differences remain; through SGP4 and the
    # chord they stay near 1e-11 (CUDA vs NumPy on an H200: 9.7e-12,
    # benchmarks/results/gpu_check_h200/run_gpu.json), well inside 1e-9.
    np.testing.assert_allclose(lam_c, lam_np, rtol=1e-9, atol=1e-300)


@pytest.mark.gpu
def test_cuda_matches_numpy(case):
    setup, pop = case
    lam_np, dec_np = device_rates(setup, pop)  # the case's setup runs on the CPU
    gpu = dataclasses.replace(setup, device="gpu")
    lam_g, dec_g = device_rates(gpu, pop)
    np.testing.assert_array_equal(dec_g, dec_np)
    np.testing.assert_allclose(lam_g, lam_np, rtol=1e-9, atol=1e-300)


@pytest.mark.gpu
def test_cuda_run_matches_numpy_per_realization(case):
    setup, _ = case
    reals = np.arange(4)
    cpu = run_batch(setup, reals)
    gpu = run_batch(dataclasses.replace(setup, device="gpu", use_prefilter=True), reals)
    np.testing.assert_allclose(gpu.by_time.sum(axis=2), cpu.by_time.sum(axis=2), rtol=1e-9, atol=0)
    np.testing.assert_allclose(gpu.fragments_in_orbit, cpu.fragments_in_orbit, rtol=0, atol=0)


@pytest.mark.gpu
def test_segment_sum_matches_numpy():
    import cupy

    rng = np.random.default_rng(2)
    x = rng.uniform(size=(1000, 7))
    starts = np.array([0, 0, 10, 500, 999, 1000], dtype=np.int64)
    got = cupy.asnumpy(risk_gpu.segment_sum(cupy.asarray(x), cupy.asarray(starts)))
    want = np.array([x[a:b].sum(axis=0) for a, b in zip(starts[:-1], starts[1:])])
    np.testing.assert_allclose(got, want, rtol=1e-13)


# --- passages through the spheres (the encounter table's raw records) --------------------------

def _assert_same_passages(got, want):
    np.testing.assert_array_equal(got.row, want.row)
    np.testing.assert_array_equal(got.target, want.target)
    np.testing.assert_array_equal(got.first, want.first)
    np.testing.assert_array_equal(got.last, want.last)
    # Sums of the same chords in the same order; only libm ulps of SGP4 differ (as for lam).
    np.testing.assert_allclose(got.length_km, want.length_km, rtol=1e-9, atol=0)


@pytest.fixture(scope="module")
def numpy_case_passages(case):
    setup, pop = case
    lam, decay, found = numpy_passages(setup, pop)
    return lam, decay, found


def test_numpy_passages_add_up_to_lambda_and_do_not_depend_on_the_screen(case, numpy_case_passages):
    """Every positive chord belongs to one passage: per fragment and target the passages' lengths
    x sigma/V are its lambda; the coarse screen of engine/physics/risk.py finds the same passages."""
    setup, pop = case
    lam, _, found = numpy_case_passages
    assert found.size >= 4 and set(found.target.tolist()) == {0, 1}, "both targets need passages here"
    assert (found.last >= found.first).all() and (found.length_km > 0).all()
    sov = (risk.cross_section_km2(setup.targets.hard_body_radius_m, pop.lc_m)
           / risk.sphere_volume_km3(setup.kernel_radius_km))
    per = np.zeros(lam.shape[:2])
    np.add.at(per, (found.row, found.target), found.length_km * sov[found.row, found.target])
    np.testing.assert_allclose(per, lam.sum(axis=2), rtol=1e-12, atol=1e-300)
    _, _, screened = numpy_passages(setup, pop, _reach(setup, pop))
    _assert_same_passages(screened, found)


@pytest.mark.parametrize("jumps", [False, True], ids=["every-sample", "with-jumps"])
def test_c_source_passages_match_numpy(case, numpy_case_passages, tmp_path_factory, jumps):
    """kernels/risk.cuh records the passages engine/physics/risk.py finds: same runs, same lengths; the
    lean build (RISK_ENCOUNTERS 0) gives the same rates and records nothing."""
    setup, pop = case
    lam_np, _, want = numpy_case_passages
    reach = _reach(setup, pop) if jumps else np.zeros(pop.lc_m.size)
    build = tmp_path_factory.mktemp("risk-harness-passages")
    lam_c, _, got = c_source_rates(setup, pop, build, reach)
    _assert_same_passages(got, want)
    lam_lean, _, none, count = c_source_rates(setup, pop, build, reach, encounters=False, with_count=True)
    assert count == 0 and none.size == 0
    np.testing.assert_array_equal(lam_lean, lam_c)


def test_passage_buffer_overflow_is_detected_and_retried(case, numpy_case_passages, tmp_path_factory):
    """A buffer too small for the passages: the counter still counts them all and nothing is
    written past the end (c_source_rates checks); risk_gpu.run_until_it_fits launches again with
    exactly the count, and gets every passage."""
    from fragrisk.kernels.risk_gpu import run_until_it_fits

    setup, pop = case
    _, _, want = numpy_case_passages
    reach = _reach(setup, pop)
    build = tmp_path_factory.mktemp("risk-harness-overflow")
    capacities = []

    def launch(capacity):
        capacities.append(capacity)
        _, _, found, count = c_source_rates(setup, pop, build, reach, capacity=capacity, with_count=True)
        return count, found

    _, _, partial, count = c_source_rates(setup, pop, build, reach, capacity=2, with_count=True)
    assert count == want.size > 2 and partial.size == 2
    got, used, launches = run_until_it_fits(launch, 2)
    assert capacities == [2, want.size] and launches == 2 and used == want.size
    _assert_same_passages(got, want)
    got, _, launches = run_until_it_fits(launch, want.size)
    assert launches == 1
    _assert_same_passages(got, want)
    with pytest.raises(RuntimeError, match="not reproducible"):
        run_until_it_fits(lambda capacity: (capacity + 1, None), 2)


@pytest.mark.gpu
def test_cuda_passages_match_numpy(case, numpy_case_passages):
    import cupy

    setup, pop = case
    _, _, want = numpy_case_passages
    gpu = dataclasses.replace(setup, device="gpu")
    for reach in (np.zeros(pop.lc_m.size), _reach(setup, pop)):
        idx = np.arange(pop.lc_m.size)
        lam, decay, got = object_rates_gpu(gpu, pop, idx, reach, idx, passages=True)
        _assert_same_passages(got, want)
        # A buffer of one slot overflows: the retry must still give every passage.
        w, tg = setup.window, setup.targets
        sov = np.ascontiguousarray(sigma_over_volume(setup, pop))
        *_, small = risk_gpu.fragment_rates(
            cupy.asarray(np.ascontiguousarray(pop.table)), cupy.asarray(pop.offset_min), cupy.asarray(w.times_min),
            cupy.asarray(tg.r_km), cupy.asarray(tg.valid.astype(np.uint8)), cupy.asarray(sov),
            setup.kernel_radius_km, cupy.asarray(w.seg_bin), w.n_bins,
            reach_km=cupy.asarray(np.ascontiguousarray(reach)), passages=True, capacity=1)
        _assert_same_passages(small, want)


@pytest.mark.gpu
def test_cuda_encounter_table_matches_numpy(case):
    """CPU and GPU give the same encounter set: the same rows (realization, target, fragment),
    TCA within 1 ms and miss distance within 1 m (both refine the same passages with the same host
    code; the backends' states differ by micrometres, a relative 1e-11), and on both the shares
    add up to expected_collisions within 1e-9 per realization and target."""
    setup, _ = case
    reals = np.arange(4)
    cpu = run_batch(setup, reals)
    gpu = run_batch(dataclasses.replace(setup, device="gpu", use_prefilter=True), reals)
    a, b = cpu.encounters, gpu.encounters
    assert len(a) > 0
    for name in ("realization", "target", "fragment"):
        np.testing.assert_array_equal(getattr(b, name), getattr(a, name))
    np.testing.assert_allclose(b.tca_s, a.tca_s, rtol=0, atol=1e-3)
    np.testing.assert_allclose(b.miss_km, a.miss_km, rtol=0, atol=1e-3)
    np.testing.assert_allclose(b.expected_collisions, a.expected_collisions, rtol=1e-9, atol=0)
    for batch, table in ((cpu, a), (gpu, b)):
        lam = batch.by_time.sum(axis=2)
        np.testing.assert_allclose(table.sums(lam.shape[0], batch.realization), lam, rtol=1e-9, atol=0)
