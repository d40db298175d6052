"""Every core, long windows, and the batch pipeline: local worker processes (--jobs), time chunks
of the window, the host stage prefetched ahead of the estimator, batch sizes from free memory,
and the progress line.

Every way of running a batch must give the results of one process bit for bit (a realization
depends only on (seed, index)); time chunks change the order of floating-point sums only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import write_tiny_scenario
from fragrisk.engine.errors import InputError
from fragrisk.engine.run import estimate, jobs, montecarlo
from fragrisk.engine.run.batches import estimate_batch, estimate_chunks, merge_host_batches, prepare_batch, run_batch
from fragrisk.engine.run.estimate import (
    _sum_by_realization,
    in_orbit_by_realization,
    join_passages,
    object_rates_numpy,
    sigma_over_volume,
)
from fragrisk.engine.run.host_stage import HostStage
from fragrisk.engine.run.objects import fragment_objects
from fragrisk.engine.run.pool import ProcessPool
from fragrisk.engine.run.setup import make_setup
from fragrisk.engine.run.sizing import (
    MAX_GPU_BATCH,
    GPU_BATCH_MEMORY_SHARE,
    batch_size_for_memory,
    default_batch_size,
    device_bytes_per_object,
)
from fragrisk.engine.run.window import CHUNK_SEGMENTS, analysis_window, time_chunks
from fragrisk.engine.scenario import load_scenario
from helpers import object_rates

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "engine" / "data"
BATCH_ARRAYS = ("realization", "by_time", "by_size", "fragments_in_orbit", "n_fragments", "status_counts")


def scenario_with_parent_target(folder, **analysis) -> Path:
    """The tiny scenario with the parent itself as a second target, so that expected collisions
    are not all zero (the fragments start at its position)."""
    path = write_tiny_scenario(folder, **analysis)
    path.write_text(path.read_text() + f'''
[[targets]]
name = "COSMOS 1408 intact"
tle_file = "{(DATA / 'cosmos1408_2021-11-15.tle').as_posix()}"
hard_body_radius_m = 5
''')
    return path


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """Half a day at 120 s steps (360 segments, 24 bins), 4 realizations, two targets."""
    return load_scenario(scenario_with_parent_target(tmp_path_factory.mktemp("jobs"), duration_days=0.5,
                                                     realizations=4))


@pytest.fixture(scope="module")
def setup(scenario):
    return make_setup(scenario, "cpu")


#: Each BatchResult array and the axis its realizations run along.
BATCH_AXES = {"realization": 0, "by_time": 1, "by_size": 1, "fragments_in_orbit": 0, "n_fragments": 0}


def assert_same_batches(a: list, b: list, rtol: float = 0.0) -> None:
    """Batches of two runs hold the same realizations with the same aggregates (floats within rtol
    where given, else bit for bit), whatever their sizes and order."""
    a = sorted(a, key=lambda x: int(x.realization[0]))
    b = sorted(b, key=lambda x: int(x.realization[0]))
    for name, axis in BATCH_AXES.items():
        x = np.concatenate([getattr(q, name) for q in a], axis=axis)
        y = np.concatenate([getattr(q, name) for q in b], axis=axis)
        if rtol and np.issubdtype(x.dtype, np.floating):
            np.testing.assert_allclose(y, x, rtol=rtol, atol=0, err_msg=name)
        else:
            np.testing.assert_array_equal(y, x, err_msg=name)
    np.testing.assert_array_equal(sum(q.status_counts for q in b), sum(q.status_counts for q in a))
    assert sum(q.fragment_steps for q in a) == sum(q.fragment_steps for q in b)
    assert (a[0].encounters is None) == (b[0].encounters is None)
    if a[0].encounters is not None:
        from fragrisk.engine.results.encounter_table import EncounterTable

        x, y = (EncounterTable.concat([q.encounters for q in batches]) for batches in (a, b))
        assert len(x) == len(y)
        for name in ("realization", "target", "fragment", "tca_s", "miss_km", "speed_km_s", "expected_collisions",
                     "lc_m"):
            u, v = getattr(x, name), getattr(y, name)
            if rtol and np.issubdtype(u.dtype, np.floating):
                np.testing.assert_allclose(v, u, rtol=rtol, atol=0, err_msg=name)
            else:
                np.testing.assert_array_equal(v, u, err_msg=name)


# --- time chunks ---------------------------------------------------------------------------------

def test_time_chunks_cover_the_window_at_bin_starts():
    seg_bin = np.repeat(np.arange(10), 7).astype(np.int32)  # 10 bins of 7 segments
    chunks = time_chunks(seg_bin, 20)
    assert chunks == ((0, 14), (14, 28), (28, 42), (42, 56), (56, 70))
    # A bin longer than a chunk is split; consecutive chunks share a sample.
    assert time_chunks(np.zeros(45, dtype=np.int32), 20) == ((0, 20), (20, 40), (40, 45))
    assert time_chunks(seg_bin, 1000) == ((0, 70),)
    assert time_chunks(np.zeros(0, dtype=np.int32), 10) == ((0, 0),)


def test_year_long_window_has_chunks_of_whole_bins():
    w = analysis_window(load_scenario("cosmos1408", ["analysis.duration_days=365"]).analysis)
    assert w.times_s.size == 525_601 and w.n_bins == 8760
    starts = [s0 for s0, _ in w.chunks]
    assert w.chunks[0][0] == 0 and w.chunks[-1][1] == 525_600
    assert all(a[1] == b[0] for a, b in zip(w.chunks[:-1], w.chunks[1:]))
    assert all(s1 - s0 <= CHUNK_SEGMENTS for s0, s1 in w.chunks)
    assert all(w.seg_bin[s] != w.seg_bin[s - 1] for s in starts[1:])  # each chunk starts a bin
    assert w.max_chunk_bins() <= CHUNK_SEGMENTS // 60
    # The built-in 7 days are one chunk.
    assert len(analysis_window(load_scenario("cosmos1408").analysis).chunks) == 1


@pytest.mark.parametrize("chunk_segments", [50, 37])
def test_chunked_window_gives_the_whole_window_results(scenario, setup, chunk_segments):
    """Chunks of whole bins (50: 3 bins of 15 segments + 5 segments, moved to a bin start) and
    chunks that split bins (37) against one chunk: the same sums in another order (1e-12), the
    same decays (fragments in orbit exactly)."""
    whole = [run_batch(setup, np.arange(3))]
    chunked_setup = make_setup(scenario, "cpu", chunk_segments=chunk_segments)
    assert len(chunked_setup.window.chunks) >= 7
    chunked = [run_batch(chunked_setup, np.arange(3))]
    lam = whole[0].by_time.sum(axis=2)
    assert (lam[1] > 0).all(), "the parent target gives every realization expected collisions"
    in_orbit = whole[0].fragments_in_orbit
    assert (in_orbit[:, -1] < in_orbit[:, 0]).any(), "fragments decay within the window"
    # Some passages run across a chunk's end (cut there by the chunks, then joined again).
    *_, found = estimate_chunks(setup, prepare_batch(setup, np.arange(3)))
    ends = [s1 for _, s1 in chunked_setup.window.chunks[:-1]]
    assert any(((found.first < s1) & (found.last >= s1)).any() for s1 in ends)
    assert_same_batches(whole, chunked, rtol=1e-12)
    np.testing.assert_array_equal(chunked[0].fragments_in_orbit, in_orbit)
    assert whole[0].fragment_steps == chunked[0].fragment_steps


def test_join_passages_across_chunk_ends():
    from fragrisk.engine.physics.risk import Passages

    a = Passages(np.array([0, 0, 1]), np.array([0, 1, 0]), np.array([3, 8, 9]), np.array([9, 9, 9]),
                 np.array([1.0, 2.0, 3.0]))       # chunk of segments 0..9
    b = Passages(np.array([0, 1, 2]), np.array([0, 0, 0]), np.array([10, 11, 10]), np.array([12, 11, 10]),
                 np.array([0.5, 4.0, 5.0]))       # chunk of segments 10..19
    got = join_passages([a, b])
    assert got.row.tolist() == [0, 0, 1, 1, 2] and got.target.tolist() == [0, 1, 0, 0, 0]
    assert got.first.tolist() == [3, 8, 9, 11, 10] and got.last.tolist() == [12, 9, 9, 11, 10]
    assert got.length_km.tolist() == [1.5, 2.0, 3.0, 4.0, 5.0]   # row 1: a gap at segment 10, not joined


def test_chunks_equal_the_unchunked_estimator(setup):
    """object_rates (one piece over the window, no chunks) against run_batch's
    chunks, per realization and bin."""
    objs, *_ = fragment_objects(setup, np.arange(2))
    lam, decay, _, _ = object_rates(setup, objs)
    want = _sum_by_realization(lam, objs.realization, np.arange(2)).transpose(1, 0, 2)
    chunked = make_setup(setup.scenario, "cpu", chunk_segments=40)
    got = run_batch(chunked, np.arange(2)).by_time
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def _in_orbit_per_sample(decay, rows, R, window):
    """The definition, sample by sample: segment j of an object is in orbit when j + 1 < decay."""
    m = window.times_s.size
    alive = np.zeros((R, m - 1))
    for d, r in zip(decay, rows):
        alive[r, :max(0, min(d - 1, m - 1))] += 1
    counts = window.segments_per_bin()
    sums = np.zeros((R, window.n_bins))
    np.add.at(sums.T, window.seg_bin, alive.T)
    return sums / counts


def test_fragments_in_orbit_per_bin_against_the_definition(setup):
    w = setup.window
    m = w.times_s.size
    rng = np.random.default_rng(5)
    rows = np.sort(rng.integers(0, 3, 200))
    decay = rng.choice(np.r_[0, 1, 2, m - 2, m - 1, m, rng.integers(0, m + 1, 50)], 200)
    got = in_orbit_by_realization(decay, rows, np.arange(3), w)
    np.testing.assert_array_equal(got, _in_orbit_per_sample(decay, rows, 3, w))
    never = np.array([4, 0, 7])
    with_never = in_orbit_by_realization(decay, rows, np.arange(3), w, never)
    # (n + never x segments) / segments: exact numerators, one rounding (so not bit for bit got + never).
    np.testing.assert_allclose(with_never, got + never[:, None], rtol=1e-15, atol=0)


# --- the host stage, prefetched ------------------------------------------------------------------

def test_prefetched_host_stage_gives_the_same_batches(setup):
    a = montecarlo.run(setup, np.arange(4), batch_size=2, prefetch=False)
    seen = []
    b = montecarlo.run(setup, np.arange(5), batch_size=2, prefetch=True, batches=a.batches[:1],
                       on_batch=lambda batch, done, total: seen.append((batch.realization.tolist(), done, total)))
    # Batch n is finished on a host thread while batch n+1 is estimated: delivered in order.
    assert seen == [([2, 3], 4, 5), ([4], 5, 5)]
    b = montecarlo.run(setup, np.arange(4), batch_size=2, prefetch=True)
    assert [x.realization.tolist() for x in b.batches] == [[0, 1], [2, 3]]
    assert_same_batches(a.batches, b.batches)
    assert all(x.host_s > 0 and x.kernel_s > 0 for x in b.batches)


def test_host_batches_of_pieces_merge_into_the_batch(scenario):
    """merge_host_batches of consecutive pieces is prepare_batch of the whole batch, and the
    estimator gives the same results from either (the GPU host stage splits batches so)."""
    setup = make_setup(scenario, "cpu", chunk_segments=50)
    whole = prepare_batch(setup, np.arange(4))
    merged = merge_host_batches([prepare_batch(setup, p) for p in ([0], [1, 2], [3])])
    for name in ("realization", "never_decay", "kept", "n_fragments", "status_counts"):
        np.testing.assert_array_equal(getattr(merged, name), getattr(whole, name), err_msg=name)
    for name in ("table", "realization", "lc_m", "offset_min"):
        np.testing.assert_array_equal(getattr(merged.objs, name), getattr(whole.objs, name), err_msg=name)
    for a, b in zip(whole.screens, merged.screens):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(y, x)
    assert_same_batches([estimate_batch(setup, whole)], [estimate_batch(setup, merged)])


def test_prefilter_skips_objects_that_stay_in_orbit():
    """The built-in scenario over 2.4 hours: a third of its fragments provably never come near
    the ISS nor decay; they are left out of the estimator and counted in orbit all along."""
    sc = load_scenario("cosmos1408", ["analysis.duration_days=0.1", "analysis.time_bin_s=1800"])
    setup = make_setup(sc, "cpu", chunk_segments=50)
    host = prepare_batch(setup, np.arange(2))
    assert (host.never_decay > 0).all() and host.objs.lc_m.size < host.kept.sum()
    off = make_setup(sc, "cpu", use_prefilter=False)
    with_prefilter = estimate_batch(setup, host)
    without = run_batch(off, np.arange(2))
    np.testing.assert_array_equal(with_prefilter.fragments_in_orbit, without.fragments_in_orbit)
    np.testing.assert_allclose(with_prefilter.by_time, without.by_time, rtol=1e-9, atol=0)


def _numpy_stand_in_for_cupy(monkeypatch, free_bytes: float = 8e9):
    """The GPU branch of the estimator with NumPy in CuPy's place: `cupy` a module of the few calls
    it makes, the fused kernel the NumPy estimator, segment_sum a loop. What it checks is the
    branch's own bookkeeping (rows, segments, reshapes, decays), which CPU-only CI can run."""
    import types

    from fragrisk.kernels import risk_gpu

    def segment_sum(x, starts):
        return np.array([x[a:b].sum(axis=0) for a, b in zip(starts[:-1], starts[1:])]).reshape(-1, x.shape[1])

    def kernel(setup, objs, idx, reach, order, chunk=None, *, passages=False):
        assert sorted(order.tolist()) == list(range(idx.size)), "the thread order is a permutation"
        return object_rates_numpy(setup, objs, idx, reach, chunk, passages=passages)

    pool = types.SimpleNamespace(free_bytes=lambda: 0, free_all_blocks=lambda: None)
    cuda = types.SimpleNamespace(Device=lambda: types.SimpleNamespace(mem_info=(free_bytes, 2 * free_bytes)),
                                 memory=types.SimpleNamespace(OutOfMemoryError=MemoryError))
    fake = types.SimpleNamespace(asarray=np.asarray, asnumpy=np.asarray, get_default_memory_pool=lambda: pool,
                                 get_default_pinned_memory_pool=lambda: pool, cuda=cuda)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(risk_gpu, "segment_sum", segment_sum)
    monkeypatch.setattr(estimate, "object_rates_gpu", kernel)


def test_gpu_branch_bookkeeping_with_numpy_stand_ins(scenario, monkeypatch):
    import dataclasses

    cpu = make_setup(scenario, "cpu", chunk_segments=50)
    reference = montecarlo.run(cpu, np.arange(4), batch_size=4)
    _numpy_stand_in_for_cupy(monkeypatch)
    gpu = dataclasses.replace(cpu, device="gpu")
    assert default_batch_size(gpu, 4) == 4
    out = montecarlo.run(gpu, np.arange(4), batch_size=3)   # prefetched on a host thread, as on a GPU
    assert out.host_wait_s is not None
    assert_same_batches(reference.batches, out.batches, rtol=1e-12)
    np.testing.assert_array_equal(np.concatenate([b.fragments_in_orbit for b in out.batches]),
                                  reference.batches[0].fragments_in_orbit)


# --- batch sizes from free memory ----------------------------------------------------------------

def test_batch_size_for_memory():
    # The built-in scenario at lc_min 1 cm, 7 days: ~85,000 fragments a realization, 168 bins.
    frags = 85_076
    for gib in (16, 24, 40, 80, 141):
        free = gib * 2**30 - 2**30  # what a card of that size has free next to the CUDA context
        size = batch_size_for_memory(free, frags, 1, 168)
        assert size * frags * device_bytes_per_object(1, 168) <= GPU_BATCH_MEMORY_SHARE * free
        assert size >= 40 if gib == 16 else size >= 60
    # A year of hourly bins costs as much as its largest time chunk, not the year.
    year = batch_size_for_memory(15 * 2**30, frags, 1, CHUNK_SEGMENTS // 60)
    assert year >= 20
    # Host memory bounds it too; never below 1, never above the cap.
    assert batch_size_for_memory(15 * 2**30, frags, 1, 168, free_host_bytes=2**30) < 10
    assert batch_size_for_memory(1e6, frags, 1, 168) == 1
    assert batch_size_for_memory(1e15, 1500, 1, 168) == MAX_GPU_BATCH


def test_device_memory_model_covers_the_estimators_arrays(scenario):
    """What a GPU batch puts on the device per time chunk (chunk_rates: the kernel's inputs and
    outputs, and the per-object totals), counted on the CPU: within device_bytes_per_object."""
    setup = make_setup(scenario, "cpu", chunk_segments=50)
    host = prepare_batch(setup, np.arange(2))
    K = len(setup.targets.names)
    for chunk, (idx, reach, _, order) in zip(setup.window.chunks, host.screens):
        b0, b1 = setup.window.chunk_bins(chunk)
        n = idx.size
        arrays = (host.objs.table[:, idx], host.objs.offset_min[idx], reach, order, idx,
                  sigma_over_volume(setup, host.objs)[idx], np.zeros((n, K, b1 - b0)),  # rates
                  np.zeros(n, np.int64), np.zeros((n, K)))  # decay, totals
        assert sum(a.nbytes for a in arrays) == n * device_bytes_per_object(K, b1 - b0)


# --- local worker processes ----------------------------------------------------------------------

def test_make_executor(monkeypatch):
    assert jobs.make_executor("cpu", jobs=1) is None
    assert jobs.make_executor("cpu", jobs=3).jobs == 3
    monkeypatch.setattr(jobs, "usable_cores", lambda: 5)
    assert jobs.make_executor("cpu").jobs == 5
    assert jobs.make_executor("gpu").jobs == 5  # the GPU's host stage on every core
    monkeypatch.setattr(jobs, "usable_cores", lambda: 1)
    assert jobs.make_executor("cpu") is None
    with pytest.raises(InputError, match=r"^--jobs: must be >= 1, got 0$"):
        jobs.make_executor("cpu", jobs=0)
    with pytest.raises(InputError, match=r"^--jobs and --workers/--scheduler: give one"):
        jobs.make_executor("cpu", jobs=2, workers=2)


def test_usable_cores_is_the_affinity():
    from fragrisk.engine.backend import usable_cores

    assert usable_cores() == len(os.sched_getaffinity(0))


@pytest.mark.slow
def test_process_pool_gives_the_in_process_batches(setup):
    reference = montecarlo.run(setup, np.arange(4))
    seen = []
    pooled = ProcessPool(2).run(setup, np.arange(4), on_batch=lambda b, done, total: seen.append((done, total)))
    assert_same_batches(reference.batches, pooled.batches)
    assert [d for d, _ in seen] == [1, 2, 3, 4] and {t for _, t in seen} == {4}
    resumed = ProcessPool(2).run(setup, np.arange(4), batches=reference.batches[:2])
    assert_same_batches(reference.batches, resumed.batches)


@pytest.mark.slow
def test_host_stage_on_worker_processes_gives_the_same_batches(setup):
    """The GPU backend's way (host stage split over the workers, estimator here), run with the
    NumPy estimator: the same batches as one process."""
    from fragrisk.engine.run import pool as pool_mod

    reference = montecarlo.run(setup, np.arange(4), batch_size=3)
    workers = pool_mod._start(2, setup)
    stage = HostStage(setup, pool=workers, workers=2, prepare_in_worker=pool_mod.prepare_in_worker)
    try:
        out = montecarlo.run(setup, np.arange(4), batch_size=3, host_stage=stage)
    finally:
        stage.close()
        workers.shutdown()
    assert [b.realization.tolist() for b in out.batches] == [[0, 1, 2], [3]]
    assert_same_batches(reference.batches, out.batches)


@pytest.mark.slow
def test_gpu_run_with_the_host_stage_on_worker_processes(scenario, monkeypatch):
    """ProcessPool on the GPU backend (its host stage on the workers, the estimator here), with
    NumPy in CuPy's place: the batches of one CPU process."""
    import dataclasses

    cpu = make_setup(scenario, "cpu")
    reference = montecarlo.run(cpu, np.arange(4))
    _numpy_stand_in_for_cupy(monkeypatch)
    out = ProcessPool(2).run(dataclasses.replace(cpu, device="gpu"), np.arange(4), batch_size=3)
    assert [b.realization.tolist() for b in out.batches] == [[0, 1, 2], [3]]
    assert_same_batches(reference.batches, out.batches, rtol=1e-12)


@pytest.mark.slow
def test_an_error_in_a_worker_reaches_the_caller(setup):
    """A bad batch fails the run with the worker's own exception (here: a realization index the
    breakup sampler refuses)."""
    with pytest.raises(InputError, match="realizations must be >= 0, got -"):
        ProcessPool(2).run(setup, np.array([-1, -2]))


# --- the command line ----------------------------------------------------------------------------

def fragrisk_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "fragrisk.cli", *map(str, args)]


def results_equal(a: Path, b: Path) -> None:
    import h5py

    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names = []
        fa.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        assert names
        for n in names:
            np.testing.assert_array_equal(fb[n][()], fa[n][()], err_msg=n)
        assert fa.attrs["scenario"] == fb.attrs["scenario"]


@pytest.mark.slow
def test_jobs_1_and_2_write_the_same_results(tmp_path):
    scenario = scenario_with_parent_target(tmp_path, duration_days=0.2, realizations=5)
    outs = []
    for n in (1, 2):
        out = tmp_path / f"jobs{n}.h5"
        r = subprocess.run(fragrisk_cmd("run", scenario, "--device", "cpu", "--jobs", n, "-o", out),
                           cwd=REPO, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        outs.append(out)
    results_equal(*outs)


@pytest.mark.slow
@pytest.mark.parametrize("signum, code, said", [(signal.SIGINT, 130, "interrupted"),
                                                (signal.SIGTERM, 143, "terminated (SIGTERM)")],
                         ids=["ctrl-c", "sigterm"])
def test_ctrl_c_with_worker_processes(tmp_path, signum, code, said):
    """Ctrl-C in a terminal reaches the whole process group, as does a batch scheduler's SIGTERM:
    fragrisk alone acts on it (exit 130 or 143, checkpoint kept, no traceback), and no worker
    process outlives it."""
    scenario = scenario_with_parent_target(tmp_path, duration_days=0.05, realizations=40)
    out = tmp_path / "interrupted.h5"
    folder = tmp_path / "interrupted.h5.checkpoint"
    proc = subprocess.Popen(fragrisk_cmd("run", scenario, "--device", "cpu", "--jobs", 2, "-o", out),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(folder.glob("batch_*.npz"))) < 2:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        group = _process_group(proc.pid)
        assert len(group) >= 3, "fragrisk and its two workers"
        os.killpg(proc.pid, signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == code, err
    assert f"{said}: finished batches are kept in" in err and "Traceback" not in err, err
    assert not out.exists() and len(list(folder.glob("batch_*.npz"))) >= 2
    workers = [p for p in group if p != proc.pid]
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in workers if _alive(p)], "worker processes outlived fragrisk"
    r = subprocess.run(fragrisk_cmd("run", scenario, "--device", "cpu", "--jobs", 2, "-o", out, "--resume"),
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "resumed:" in r.stderr, r.stderr
    assert not folder.exists()


def _process_group(pgid: int) -> list[int]:
    """The processes of process group pgid (Linux /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def _alive(pid: int) -> bool:
    """A process that runs (a zombie, waiting for its parent to read its status, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# --- progress ---------------------------------------------------------------------------------------

def test_progress_line_shows_realizations_rate_and_time_left(monkeypatch):
    from types import SimpleNamespace

    from fragrisk.commands import common
    from fragrisk.commands import run as run_command

    lines = []
    monkeypatch.setattr(run_command.click, "echo", lambda text="", nl=True, err=False: lines.append(text))
    clock = iter([90.0, 100.0, 110.0, 120.0])
    bar = run_command._RunProgress(enabled=True, clock=lambda: next(clock))
    bar.update(2, 10, None)   # the run starts, 2 realizations resumed from a checkpoint
    bar.update(4, 10, SimpleNamespace(fragment_steps=2_000_000, realization=np.arange(2)))  # 10 s later
    bar.update(6, 10, SimpleNamespace(fragment_steps=2_000_000, realization=np.arange(2)))  # 20 s later
    assert "2/10 realizations" in lines[0]
    assert "4/10 realizations, 2e+05 fragment-steps/s, 30 s left" in lines[1]
    assert "6/10 realizations, 2e+05 fragment-steps/s, 20 s left" in lines[2]
    assert common.duration_text(30) == "30 s" and common.duration_text(600) == "10 min" and common.duration_text(9000) == "2.5 h"
