"""A run's batches on local worker processes: `fragrisk run --jobs N` (default: every core).

`ProcessPool.run` has montecarlo.run's signature and returns the same RunOutput, like
engine.run.distributed.DaskExecutor, without Dask: N worker processes of this machine
(concurrent.futures; see _context for how they start), each given the run's Setup once when it
starts. CPU backend: one task per batch (batches.run_batch), batches coming back in
completion order (on_batch writes the checkpoint). GPU backend: the workers do the host stage
of each batch (host_stage.HostStage) while this process runs the kernels. A realization depends
only on (seed, index) and montecarlo.to_results sorts the batches, so the results file is the
same, bit for bit, as a single-process run's.

Ctrl-C and SIGTERM: the workers start with both ignored (a terminal sends Ctrl-C to the whole
process group, a batch scheduler SIGTERM to every process of the job), so only this process acts
on them: it stops the workers (SIGKILL), running batches included, and raises
KeyboardInterrupt (engine.errors.Terminated); the checkpoint keeps the finished batches. A worker that dies (the kernel's
out-of-memory killer, say) ends the run with a one-line InputError; --resume continues it. The
workers end with this process, however it ends.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..errors import InputError
from . import montecarlo
from .batches import BatchResult, HostBatch, prepare_batch, run_batch
from .host_stage import HostStage
from .setup import Setup
from .signals import sigint_ignored, signal_handled_by
from .sizing import default_batch_size

#: Batches queued per worker beyond the one it runs: enough that no worker waits for the next
#: batch, few enough that Ctrl-C has little to cancel and memory stays bounded.
QUEUED_PER_WORKER = 1
#: Seconds between looks at finished batches (Ctrl-C is handled at once regardless).
POLL_S = 0.2

#: The Setup of the run this worker process serves: set once by _init_worker when the process
#: starts, so each batch's task carries only its realization indices (a year-long window's
#: target track is megabytes). Only ever set inside worker processes.
_worker_setup = None


def _init_worker(setup) -> None:
    global _worker_setup
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _worker_setup = setup
    # A worker holds both ends of its task queue, so it would wait forever for a parent that was
    # killed (SIGKILL, the out-of-memory killer): it watches the parent and ends with it.
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True,
                         name="fragrisk-parent-watch").start()


def _exit_with(sentinel) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _run_batch(realizations) -> BatchResult:
    return run_batch(_worker_setup, realizations)


def prepare_in_worker(realizations) -> HostBatch:
    """The host stage of a GPU batch's piece, in a worker (host_stage.HostStage)."""
    return prepare_batch(_worker_setup, realizations)


class ProcessPool:
    """Runs a run's batches on `jobs` local worker processes (started by each `run`, stopped
    when it ends). CPU backend: whole batches in the workers. GPU backend: the host stage of each
    batch (sampling, fit, table, prefilter) split across the workers while this process runs the
    kernels (host_stage.HostStage). With one job, or one batch on the CPU, all in this process."""

    def __init__(self, jobs: int, device: str = "cpu"):
        if jobs < 1:
            raise InputError(f"--jobs: must be >= 1, got {jobs}")
        self.jobs = int(jobs)
        #: Processes estimating batches at once, for engine.run.limits' checks: the workers on the
        #: CPU; on the GPU the one device.
        self.parallel_hint = self.jobs if device != "gpu" else 1

    def close(self) -> None:
        """Nothing outlives `run`; here for the executor interface (engine.run.jobs.run_job)."""

    def run(self, setup: Setup, realizations, *, batch_size: int | None = None, on_batch=None,
            batches=None) -> montecarlo.RunOutput:
        """montecarlo.run with the worker processes: the same RunOutput (on the CPU, batches in
        completion order)."""
        if setup.device == "gpu":
            return self._run_gpu(setup, realizations, batch_size, on_batch, batches)
        realizations, results, n_done, todo = montecarlo.still_to_do(realizations, batches)
        size = batch_size or default_batch_size(setup, todo.size)
        chunks = [todo[lo:lo + size] for lo in range(0, todo.size, size)]
        workers = min(self.jobs, len(chunks))
        if workers <= 1:
            return montecarlo.run(setup, realizations, batch_size=size, on_batch=on_batch, batches=batches)
        start = time.perf_counter()
        pending = iter(chunks)
        live = {}  # future -> its realizations

        def submit(pool, limit):
            while len(live) < limit:
                chunk = next(pending, None)
                if chunk is None:
                    return
                live[pool.submit(_run_batch, chunk)] = chunk

        pool = _start(workers, setup)
        try:
            submit(pool, workers * (1 + QUEUED_PER_WORKER))
            while live:
                finished, _ = wait(list(live), timeout=POLL_S, return_when=FIRST_COMPLETED)
                # In realization order within one wake-up: the checkpoint and progress callbacks
                # see the same sequence whatever the order of the futures in the set.
                for fut in sorted(finished, key=lambda f: int(live[f][0])):
                    chunk = live.pop(fut)
                    try:
                        b = fut.result()
                    except BrokenProcessPool:
                        raise _worker_died(chunk) from None
                    results.append(b)
                    n_done += b.realization.size
                    if on_batch is not None:
                        on_batch(b, n_done, realizations.size)
                submit(pool, workers * (1 + QUEUED_PER_WORKER))
        except BaseException:  # an error or Ctrl-C: stop every worker, running batches included
            _stop(pool)
            raise
        pool.shutdown(wait=True)
        return montecarlo.RunOutput(results, time.perf_counter() - start, [])

    def _run_gpu(self, setup, realizations, batch_size, on_batch, batches) -> montecarlo.RunOutput:
        if self.jobs <= 1:
            return montecarlo.run(setup, realizations, batch_size=batch_size, on_batch=on_batch, batches=batches)
        pool = _start(self.jobs, setup)
        stage = HostStage(setup, pool=pool, workers=self.jobs, prepare_in_worker=prepare_in_worker)
        try:
            output = montecarlo.run(setup, realizations, batch_size=batch_size, on_batch=on_batch,
                                    batches=batches, host_stage=stage)
        except BrokenProcessPool:
            _stop(pool)
            stage.close()
            raise _worker_died(None) from None
        except BaseException:
            _stop(pool)  # first: the host thread may be waiting on the workers
            stage.close()
            raise
        stage.close()
        pool.shutdown(wait=True)
        return output


def _start(workers: int, setup) -> ProcessPoolExecutor:
    """A pool of `workers` processes holding `setup`, all started now with SIGINT and SIGTERM
    ignored.

    The executor starts a process per submission while none is idle, so `workers` no-op tasks
    submitted at once start them all here, where the new processes inherit the ignored signals
    from their first instruction (before _init_worker could set them)."""
    with sigint_ignored(), signal_handled_by(signal.SIGTERM, signal.SIG_IGN):
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_init_worker,
                                   initargs=(setup,))
        try:
            for _ in range(workers):
                pool.submit(int)
        except BaseException:
            _stop(pool)
            raise
    return pool


def _context():
    """How worker processes start: "fork" on Linux when this process runs no other Python thread
    (milliseconds, and the Setup is inherited, not pickled: a GPU run's host stage cannot afford
    a second of interpreter starts), else "spawn" (a fresh interpreter each: safe with threads,
    and the only choice on macOS and Windows). Forked workers run NumPy only, never CUDA."""
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _worker_died(chunk) -> InputError:
    where = f"realizations {int(chunk[0])}..{int(chunk[-1])}: " if chunk is not None else ""
    return InputError(f"{where}a worker process died (out of host memory?); try fewer --jobs, and continue "
                      f"with --resume")


def _stop(pool: ProcessPoolExecutor) -> None:
    """End the worker processes now, busy or not (SIGKILL: they ignore SIGTERM), cancel the
    queued batches, and return only when the executor's manager thread has ended too.

    The order matters before Python 3.14. `shutdown(wait=False)` leaves the manager thread
    tearing the pool down while this process goes on. That thread closes its wake-up pipe, and
    the interpreter's exit hook for executors writes to the same pipe without a lock, so an
    exit soon after Ctrl-C could end in "OSError: Bad file descriptor". It can also try to
    replace the killed workers (CPython gh-132969). Killed workers make the manager thread see a
    broken pool and clean up on its own, and `shutdown(wait=True)` then waits for it. Python
    3.14's `kill_workers` does the killing itself, and there the pipe has a lock of its own."""
    kill = getattr(pool, "kill_workers", None)  # Python 3.14+
    if kill is not None:
        kill()
        return
    # Before 3.14 the executor has no public way to stop a busy worker: end its processes.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for p in processes:
        if p.is_alive():
            p.kill()
    for p in processes:
        p.join(timeout=10)
    pool.shutdown(wait=True, cancel_futures=True)
