"""Scale out and survive: Dask workers, shards and merge, checkpoints after SIGKILL, Ctrl-C,
refused merges, and the GPU out-of-memory batch halving (tested on the CPU with a fake error).

A tiny scenario (72 minutes at 120 s, Lc >= 0.3 m, 6 realizations) keeps the file fast; the
parent itself is a second target so that expected collisions are not all zero. `fragrisk` runs
as `python -m fragrisk.cli`, in a subprocess, as a user would run it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import h5py
import numpy as np
import pytest
from fragrisk.engine.errors import DeviceMemoryError, InputError
from fragrisk.engine.run import distributed as run_distributed
from fragrisk.engine.run import host_stage, montecarlo
from fragrisk.engine.run.batches import BatchResult
from fragrisk.engine.run.sizing import out_of_memory_errors, shrink_note

pytest.importorskip("distributed")

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "engine" / "data"
#: Realizations of the interrupted runs: enough batches of 1 that a kill lands part-way.
N_LONG = 40
#: Attributes allowed to differ between equal runs.
PER_RUN_ATTRS = {"history", "elapsed_s", "device"}


def scenario_text() -> str:
    return f'''name = "tiny"
[parent]
tle_file = "{DATA / 'cosmos1408_2021-11-15.tle'}"
mass_kg = 2200
kind = "spacecraft"

[event]
epoch = "2021-11-15T02:47:00Z"
type = "collision"
projectile_mass_kg = 20
impact_velocity_km_s = 7.5
lc_min_m = 0.3
am_sampling = "mixture"
mass_policy = "remnants"
drag_coefficient = 2.2
drag_scale = 1.0

[[targets]]
name = "ISS"
tle_file = "{DATA / 'iss_2021-11-15.tle'}"
hard_body_radius_m = 66.1

[[targets]]
name = "COSMOS 1408 intact"
tle_file = "{DATA / 'cosmos1408_2021-11-15.tle'}"
hard_body_radius_m = 5

[analysis]
start = "2021-11-15T02:47:00Z"
duration_days = 0.05
step_s = 120
realizations = 6
seed = 20211115
kernel = "sphere"
kernel_radius_km = 10
time_bin_s = 1800
'''


def fragrisk_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "fragrisk.cli", *map(str, args)]


def fragrisk(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(fragrisk_cmd(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout)


def run_ok(*args) -> subprocess.CompletedProcess:
    r = fragrisk(*args)
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("scale")


@pytest.fixture(scope="module")
def scenario(work) -> Path:
    path = work / "tiny.toml"
    path.write_text(scenario_text())
    return path


@pytest.fixture(scope="module")
def reference(scenario, work) -> Path:
    """The whole run, in this process's way: one process, default batches."""
    out = work / "reference.h5"
    run_ok("run", scenario, "--device", "cpu", "-o", out)
    return out


@pytest.fixture(scope="module")
def reference_long(scenario, work) -> Path:
    out = work / "reference_long.h5"
    run_ok("run", scenario, "--device", "cpu", "--realizations", N_LONG, "-o", out)
    return out


@pytest.fixture(scope="module")
def shards(scenario, work) -> list[Path]:
    paths = []
    for k in (1, 2, 3):
        out = work / f"shard_{k}.h5"
        run_ok("run", scenario, "--device", "cpu", "--shard", f"{k}/3", "-o", out)
        paths.append(out)
    return paths


# --- comparing files ---------------------------------------------------------------------------

def _datasets(f: h5py.File) -> dict:
    found = {}
    f.visititems(lambda name, obj: found.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    return found


def _plain_attrs(attrs, skip=()) -> dict:
    """Attributes as comparable values (dimension-scale references left out)."""
    return {k: v for k, v in attrs.items()
            if k not in skip and k not in ("DIMENSION_LIST", "REFERENCE_LIST")}


def assert_same_results(a: Path, b: Path, rtol: float = 0.0) -> None:
    """Every variable of two results files equal (integers exactly, floats within rtol), and
    every attribute equal but the per-run ones."""
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        da, db = _datasets(fa), _datasets(fb)
        assert sorted(da) == sorted(db)
        for name in da:
            x, y = da[name][()], db[name][()]
            assert x.dtype == y.dtype and x.shape == y.shape, name
            if rtol and np.issubdtype(x.dtype, np.floating):
                np.testing.assert_allclose(y, x, rtol=rtol, atol=0, err_msg=name)
            else:
                np.testing.assert_array_equal(y, x, err_msg=name)
            xa, ya = _plain_attrs(da[name].attrs), _plain_attrs(db[name].attrs)
            assert sorted(xa) == sorted(ya), name
            for k in xa:
                np.testing.assert_array_equal(ya[k], xa[k], err_msg=f"{name}:{k}")
        ga, gb = _plain_attrs(fa.attrs, PER_RUN_ATTRS), _plain_attrs(fb.attrs, PER_RUN_ATTRS)
        assert sorted(ga) == sorted(gb)
        for k in ga:
            np.testing.assert_array_equal(gb[k], ga[k], err_msg=k)


@pytest.mark.slow
def test_reference_is_not_trivial(reference):
    with h5py.File(reference, "r") as f:
        lam = f["expected_collisions"][()]
        assert lam.shape == (2, 6) and (lam[1] > 0).all()
        assert f["n_fragments"][()].min() > 100
        # The encounter table goes through every path compared below (Dask, shards, resume).
        assert set(f["encounter_realization"][()].tolist()) == set(range(6))


# --- Dask ----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_dask_local_cluster_matches_single_process(scenario, reference, work):
    out = work / "dask.h5"
    r = run_ok("run", scenario, "--device", "cpu", "--workers", 2, "-o", out)
    assert "6 realizations" in r.stdout
    assert_same_results(reference, out)
    assert not (work / "dask.h5.checkpoint").exists()


@pytest.mark.slow
def test_dask_existing_scheduler(scenario, reference, work):
    """--scheduler: a cluster this test starts (threads in this process), reached over TCP."""
    import distributed

    out = work / "scheduler.h5"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp://",
                                  dashboard_address=None) as cluster:
        r = run_ok("run", scenario, "--device", "cpu", "--scheduler", cluster.scheduler_address,
                   "--batch-size", 4, "-o", out)
    assert "wrote" in r.stdout
    assert_same_results(reference, out)


@pytest.mark.slow
def test_dask_options_refused(scenario, work):
    for args, message in ((("--workers", 0), "error: --workers: must be >= 1, got 0"),
                          (("--workers", 2, "--scheduler", "tcp://127.0.0.1:9"),
                           "error: --scheduler and --workers: give one")):
        r = fragrisk("run", scenario, "--device", "cpu", "-o", work / "refused.h5", *args)
        assert r.returncode == 2
        assert r.stderr.startswith(message) and r.stderr.count("\n") == 1, r.stderr
    assert not (work / "refused.h5").exists()


def test_missing_dask_is_one_line(monkeypatch):
    from fragrisk.engine.run import distributed as dist

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(InputError, match=r"^--workers/--scheduler need dask: pip install 'fragrisk\[dask\]'$"):
        dist.DaskExecutor(workers=2, device="cpu")


@pytest.mark.slow
def test_unreachable_scheduler_is_one_line(monkeypatch):
    from fragrisk.engine.run import distributed as dist

    monkeypatch.setattr(dist, "CONNECT_TIMEOUT_S", 1)
    ex = dist.DaskExecutor(scheduler="tcp://127.0.0.1:9", device="cpu")
    with pytest.raises(InputError, match=r"^--scheduler tcp://127.0.0.1:9: cannot connect"):
        ex.run(None, np.arange(3), batch_size=1)
    ex.close()


# --- shards ----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_merged_shards_equal_the_whole_run(shards, reference, work):
    with h5py.File(shards[1], "r") as f:
        assert f.attrs["shard"] == "2/3" and f["realization"][()].tolist() == [2, 3]
    out = work / "merged.h5"
    r = run_ok("merge", *shards, "-o", out)
    assert "from 3 shards" in r.stdout
    assert_same_results(reference, out, rtol=1e-12)


@pytest.mark.slow
def test_mismatched_shards_are_refused(scenario, shards, work):
    other_seed = work / "shard_2_seed7.h5"
    run_ok("run", scenario, "--device", "cpu", "--shard", "2/3", "--seed", 7, "-o", other_seed)
    half = work / "shard_1of2.h5"  # realizations 0..2: overlaps shard 2/3 (2..3)
    run_ok("run", scenario, "--device", "cpu", "--shard", "1/2", "-o", half)
    damaged = work / "shard_2_damaged.h5"
    data = shards[1].read_bytes()
    damaged.write_bytes(data[:len(data) // 2])
    s1, s2, s3 = shards
    cases = {
        "seed": ([s1, other_seed, s3], f"{other_seed}: global attribute 'seed' is 7 but {s1} has "),
        "overlap": ([half, s2, s3], "overlap"),
        "missing": ([s1, s3], "realizations 2..3 are in no shard"),
        "damaged": ([s1, damaged, s3], f"{damaged}: damaged or not an HDF5 file"),
    }
    out = work / "refused_merge.h5"
    for case, (paths, message) in cases.items():
        r = fragrisk("merge", *paths, "-o", out)
        assert r.returncode == 2, (case, r.stderr)
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, (case, r.stderr)
        assert message in r.stderr, (case, r.stderr)
        assert not out.exists(), case
    assert not list(work.glob(".refused_merge.h5*"))  # no temporary file left behind


# --- crashes and Ctrl-C ------------------------------------------------------------------------------

def _start_long_run(scenario, out: Path, *extra, new_session: bool = False) -> subprocess.Popen:
    return subprocess.Popen(fragrisk_cmd("run", scenario, "--device", "cpu", "--realizations", N_LONG,
                                         "--batch-size", 1, "-o", out, *extra),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=new_session)


def _wait_for_batches(proc: subprocess.Popen, folder: Path, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(list(folder.glob("batch_*.npz"))) < n:
        assert proc.poll() is None, f"the run ended before {n} batches were checkpointed"
        assert time.monotonic() < deadline, "no checkpoint batches"
        time.sleep(0.002)


@pytest.mark.slow
def test_killed_run_leaves_no_file_and_resumes_to_the_same_results(scenario, reference_long, work):
    out = work / "killed.h5"
    folder = work / "killed.h5.checkpoint"
    proc = _start_long_run(scenario, out)
    try:
        _wait_for_batches(proc, folder, 2)
        proc.kill()  # SIGKILL: no handler, no cleanup
    finally:
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    kept = len(list(folder.glob("batch_*.npz")))
    assert 2 <= kept < N_LONG and (folder / "manifest.json").exists()

    r = run_ok("run", scenario, "--device", "cpu", "--realizations", N_LONG, "--batch-size", 1, "-o", out,
               "--resume")
    assert f"resumed: {kept} realizations" in r.stderr, r.stderr
    assert_same_results(reference_long, out)
    assert not folder.exists()


@pytest.mark.slow
def test_ctrl_c_keeps_the_checkpoint_and_exits_130(scenario, reference_long, work):
    out = work / "interrupted.h5"
    folder = work / "interrupted.h5.checkpoint"
    # The default run, worker processes included: engine/run/pool.py's _stop says why their
    # teardown must end before the interpreter's exit hook runs.
    proc = _start_long_run(scenario, out)
    try:
        _wait_for_batches(proc, folder, 1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert (f"interrupted: finished batches are kept in {folder}; continue with the same command and "
            f"--resume") in err
    assert "Traceback" not in err
    assert not out.exists() and not list(work.glob(".interrupted.h5.*"))
    assert (folder / "manifest.json").exists() and list(folder.glob("batch_*.npz"))

    run_ok("run", scenario, "--device", "cpu", "--realizations", N_LONG, "--batch-size", 1, "-o", out, "--resume")
    assert_same_results(reference_long, out)
    assert not folder.exists()


@pytest.mark.slow
def test_ctrl_c_in_a_terminal_with_dask_workers(scenario, work):
    """Ctrl-C in a terminal signals the whole process group, workers included: only fragrisk
    acts on it (the workers ignore SIGINT), so it exits 130 with the checkpoint, no traceback."""
    out = work / "interrupted_dask.h5"
    folder = work / "interrupted_dask.h5.checkpoint"
    proc = _start_long_run(scenario, out, "--workers", 2, new_session=True)
    try:
        _wait_for_batches(proc, folder, 2)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, err
    assert "interrupted: finished batches are kept in" in err and "Traceback" not in err, err
    assert not out.exists() and len(list(folder.glob("batch_*.npz"))) >= 2


# --- GPU out of memory: halve the batch (fake error, no GPU needed) ----------------------------------

class FakeOutOfMemory(Exception):
    """Stands for cupy.cuda.memory.OutOfMemoryError."""


def _fake_setup():
    return types.SimpleNamespace(device="gpu", targets=types.SimpleNamespace(names=("A", "B")),
                                 window=types.SimpleNamespace(n_bins=3))


def _fake_batch(realizations) -> BatchResult:
    r = np.asarray(realizations, dtype=np.int64)
    return BatchResult(r, np.zeros((2, r.size, 3)), np.zeros((2, r.size, 1)), np.zeros((r.size, 3)),
                                  np.ones(r.size, dtype=np.int64), np.zeros(5, dtype=np.int64), None,
                                  r.size, r.size, 0.0)


#: What the fake GPU fits and what it saw (module level: Dask pickles these functions by reference,
#: so the in-process workers of the Dask test record here too).
FAKE_GPU = types.SimpleNamespace(fits=2, calls=[], frees=0)


def _fake_run_batch(setup, realizations):
    FAKE_GPU.calls.append(len(realizations))
    if len(realizations) > FAKE_GPU.fits:
        raise FakeOutOfMemory(f"Out of memory allocating {len(realizations)} bytes\n(allocated so far: 0)")
    return _fake_batch(realizations)


def _fake_estimate_chunks(setup, host):
    """estimate_chunks after _fake_prepare_batch: the fake GPU (fails when too big)."""
    FAKE_GPU.calls.append(len(host))
    if len(host) > FAKE_GPU.fits:
        raise FakeOutOfMemory(f"Out of memory allocating {len(host)} bytes\n(allocated so far: 0)")
    return host


def _fake_finish_batch(setup, host, estimated):
    return _fake_batch(host)


def _fake_prepare_batch(setup, realizations):
    return np.asarray(realizations)


def _fake_free_device_memory(device):
    FAKE_GPU.frees += 1


def _fake_out_of_memory_errors(device):
    return (FakeOutOfMemory,) if device == "gpu" else ()


@pytest.fixture
def fake_gpu(monkeypatch):
    """montecarlo on a GPU that fits FAKE_GPU.fits realizations a batch; records batches and frees."""
    monkeypatch.setattr(FAKE_GPU, "fits", 2)
    monkeypatch.setattr(FAKE_GPU, "calls", [])
    monkeypatch.setattr(FAKE_GPU, "frees", 0)
    monkeypatch.setattr(host_stage, "prepare_batch", _fake_prepare_batch)
    for module in (montecarlo, run_distributed):  # each calls these by its own name
        monkeypatch.setattr(module, "out_of_memory_errors", _fake_out_of_memory_errors)
        monkeypatch.setattr(module, "free_device_memory", _fake_free_device_memory)
    monkeypatch.setattr(montecarlo, "estimate_chunks", _fake_estimate_chunks)
    monkeypatch.setattr(montecarlo, "finish_batch", _fake_finish_batch)
    monkeypatch.setattr(run_distributed, "run_batch", _fake_run_batch)
    return FAKE_GPU


def test_out_of_memory_halves_the_batch_and_goes_on(fake_gpu):
    seen = []
    out = montecarlo.run(_fake_setup(), np.arange(10), batch_size=8,
                         on_batch=lambda b, done, total: seen.append((b.realization.tolist(), done, total)))
    assert fake_gpu.calls == [8, 4, 2, 2, 2, 2, 2]  # 8 and 4 do not fit; 2 does, and stays
    assert fake_gpu.frees == 2
    assert np.concatenate([b.realization for b in out.batches]).tolist() == list(range(10))
    assert [d for _, d, _ in seen] == [2, 4, 6, 8, 10] and {t for _, _, t in seen} == {10}
    assert out.notes == [shrink_note(8, 2)]


def test_out_of_memory_with_one_realization_is_one_line(fake_gpu):
    fake_gpu.fits = 0
    with pytest.raises(DeviceMemoryError) as exc:
        montecarlo.run(_fake_setup(), np.arange(4, 7), batch_size=2)
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith("GPU out of memory with a single realization (realization 4, 2 targets x 3 time bins)")
    assert fake_gpu.calls == [2, 1]


def test_out_of_memory_on_the_cpu_is_not_caught(fake_gpu):
    setup = _fake_setup()
    setup.device = "cpu"
    with pytest.raises(FakeOutOfMemory):
        montecarlo.run(setup, np.arange(4), batch_size=4)
    assert fake_gpu.frees == 0


def test_out_of_memory_types():
    assert out_of_memory_errors("cpu") == ()
    cupy = pytest.importorskip("cupy")  # importable without a GPU
    assert out_of_memory_errors("gpu") == (cupy.cuda.memory.OutOfMemoryError,)


@pytest.mark.slow
def test_out_of_memory_on_dask_workers_splits_the_batch(fake_gpu):
    """The executor's resubmission in halves, on an in-process cluster (threads see the fakes)."""
    import distributed
    from fragrisk.engine.run.distributed import DaskExecutor

    ex = DaskExecutor(workers=1, device="gpu")
    ex.client = distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None)
    try:
        seen = []
        out = ex.run(_fake_setup(), np.arange(10), batch_size=8,
                     on_batch=lambda b, done, total: seen.append(done), batches=[_fake_batch([9])])
    finally:
        ex.close()
    got = sorted(int(r) for b in out.batches for r in b.realization)
    assert got == list(range(10))
    assert sorted(fake_gpu.calls) == [1, 2, 2, 2, 2, 4, 4, 8]  # 8 -> 4 + 4 -> 2 + 2 + 2 + 2; 1 = [8]
    assert seen[-1] == 10 and len(seen) == 5
    assert out.notes == [shrink_note(8, 2)]
    assert fake_gpu.frees == 3  # once on each worker (one here) per failed batch


# --- a worker process that dies -------------------------------------------------------------------

def _die_once(setup, realizations):
    """run_batch whose first call ends its worker process, as the kernel's OOM killer would."""
    marker = Path(setup.marker)
    if not marker.exists():
        marker.write_text("died")
        os._exit(1)
    return _fake_batch(realizations)


@pytest.mark.slow
def test_a_dead_worker_process_is_replaced_and_its_batch_rerun(tmp_path, monkeypatch):
    """One worker: its death also loses the scattered Setup, which the executor sends again."""
    from fragrisk.engine.run.distributed import DaskExecutor

    monkeypatch.setattr(run_distributed, "run_batch", _die_once)
    setup = types.SimpleNamespace(device="cpu", marker=str(tmp_path / "died"))
    ex = DaskExecutor(workers=1, device="cpu")
    try:
        out = ex.run(setup, np.arange(6), batch_size=2)
    finally:
        ex.close()
    assert (tmp_path / "died").exists()
    assert sorted(int(r) for b in out.batches for r in b.realization) == list(range(6))
