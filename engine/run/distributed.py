"""Batches of a run on a Dask cluster: `fragrisk run --workers N` or `--scheduler ADDRESS`.

`DaskExecutor.run` has montecarlo.run's signature and returns the same RunOutput: the Setup
(targets already propagated) is sent to every worker once, each batch of realizations is one
task (batches.run_batch), and finished batches come back in completion order (on_batch
writes the checkpoint). A realization depends only on (seed, index), so the results file is
the same as a single-process run's whatever the workers, batch sizes or completion order.

Clusters:
- `--scheduler tcp://HOST:8786`: an existing cluster (`dask scheduler` + `dask worker`).
  Every worker needs the same fragrisk (and on GPUs CuPy) installed; this is checked.
- `--workers N`, CPU: a LocalCluster of N worker processes with one thread each.
- `--workers N`, GPU: one worker process per GPU, at most N: dask_cuda.LocalCUDACluster
  where dask-cuda is installed, else a LocalCluster whose worker i sees only GPU i
  (CUDA_VISIBLE_DEVICES).

Dask is imported only here and only when asked for; without it --workers/--scheduler are a
one-line error. A worker process that dies mid-batch has its batch rerun by Dask elsewhere (and
the Setup sent again if no live worker holds it: scattered data is not recomputed); a batch
that runs out of GPU memory is split in two and both halves resubmitted. Local clusters start
their workers with SIGINT ignored, so Ctrl-C reaches fragrisk alone (exit 130, checkpoint kept);
SIGTERM (a batch scheduler ending the job) is deferred the same way and ends the run with
engine.errors.Terminated (exit 143, checkpoint kept).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
import time
from concurrent.futures import CancelledError

from ... import engine
from ..errors import InputError, Terminated, one_line
from . import montecarlo
from .batches import run_batch
from .setup import Setup
from .signals import sigint_handled_by, sigint_ignored, signal_handled_by
from .sizing import default_batch_size, free_device_memory, out_of_memory_error, out_of_memory_errors, shrink_note

NEEDS_DASK = "--workers/--scheduler need dask: pip install 'fragrisk[dask]'"

#: Seconds to wait for a scheduler to answer and for its first worker to join.
CONNECT_TIMEOUT_S = 30
WORKERS_TIMEOUT_S = 120
#: Times the Setup is sent again after every worker holding it died.
MAX_SETUP_RESENDS = 3
#: Local worker processes per core at most (--workers): more only thrash the machine.
MAX_WORKERS_PER_CORE = 4
#: What a local cluster's scheduler and workers log on stderr: nothing short of critical. Every
#: failure that matters reaches fragrisk through the futures (a batch's exception, a worker
#: that died) and is said in one line; what the processes would log besides is the noise of a
#: cancelled run (Ctrl-C, SIGTERM): warnings of lost batches, and a worker's heartbeat to a
#: scheduler that just stopped, logged as an error with its traceback.
LOCAL_LOG_LEVEL = logging.CRITICAL


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise InputError(NEEDS_DASK) from None
    return distributed


def _fragrisk_version() -> str:
    """Run on each worker of an existing cluster: the fragrisk it imports."""
    return engine.__version__


def _visible_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None and env.strip():
        return [g.strip() for g in env.split(",") if g.strip()]
    import cupy

    return [str(i) for i in range(cupy.cuda.runtime.getDeviceCount())]


class DaskExecutor:
    """Runs batches on a Dask cluster: one it connects to (scheduler) or one it starts (workers).

    The cluster is started or connected on the first `run` (so bad arguments fail fast);
    `close()` shuts down what this executor started.
    """

    def __init__(self, scheduler: str | None = None, workers: int | None = None, device: str = "cpu"):
        if scheduler is not None and workers is not None:
            raise InputError("--scheduler and --workers: give one (an existing cluster, or N local workers)")
        if scheduler is None and workers is None:
            raise InputError("DaskExecutor: give a scheduler address or a number of workers")
        if workers is not None and workers < 1:
            raise InputError(f"--workers: must be >= 1, got {workers}")
        cores = os.cpu_count() or 1
        if workers is not None and workers > MAX_WORKERS_PER_CORE * cores:
            raise InputError(f"--workers: {workers:,} local worker processes on a machine with "
                             f"{cores} core(s); at most {MAX_WORKERS_PER_CORE * cores} (use "
                             f"--scheduler for a cluster of machines)")
        if scheduler is not None and not str(scheduler).strip():
            raise InputError("--scheduler: an empty address; expected e.g. tcp://HOST:8786")
        if device not in ("cpu", "gpu"):
            raise InputError(f"DaskExecutor: device must be 'cpu' or 'gpu', got {device!r}")
        _import_distributed()
        self.scheduler = scheduler
        self.workers = workers
        self.device = device
        self.client = None
        self.cluster = None
        self.notes: list[str] = []
        #: Processes running batches at once, for engine.run.limits' time estimate (None: unknown).
        self.parallel_hint = workers if scheduler is None else None

    # --- the cluster ---------------------------------------------------------------------------

    def _start(self):
        if self.client is not None:
            return self.client
        distributed = _import_distributed()
        if self.scheduler is not None:
            try:
                self.client = distributed.Client(self.scheduler, timeout=CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError, ValueError) as exc:
                raise InputError(f"--scheduler {self.scheduler}: cannot connect ({one_line(exc)})") from None
            self._wait_for_workers(1)
            self._check_workers()
        else:
            # Worker processes inherit an ignored SIGINT and keep it: Ctrl-C in a terminal reaches
            # the whole process group, and only this process should act on it (cancel, shut the
            # cluster down, keep the checkpoint) rather than every worker dying with a traceback.
            # The same for SIGTERM, which a batch scheduler sends to every process of the job
            # (the nannies stop their workers through a queue, then SIGKILL: never SIGTERM).
            with sigint_ignored(), signal_handled_by(signal.SIGTERM, signal.SIG_IGN):
                self.cluster = self._local_cluster(distributed)
                self.client = distributed.Client(self.cluster)
                self._wait_for_workers(len(self.cluster.worker_spec))
        return self.client

    def _local_cluster(self, distributed):
        n = int(self.workers)
        if self.device != "gpu":
            return distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=LOCAL_LOG_LEVEL)
        gpus = _visible_gpus()
        if n > len(gpus):
            self.notes.append(f"--workers {n}: {len(gpus)} GPU(s) visible, so {len(gpus)} worker(s), one per GPU")
        gpus = gpus[:n]
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError:
            return local_cluster_with_env(distributed, [{"CUDA_VISIBLE_DEVICES": g} for g in gpus])
        return LocalCUDACluster(n_workers=len(gpus), threads_per_worker=1, CUDA_VISIBLE_DEVICES=",".join(gpus),
                                dashboard_address=None, silence_logs=LOCAL_LOG_LEVEL)

    def _wait_for_workers(self, n: int) -> None:
        try:
            self.client.wait_for_workers(n, timeout=WORKERS_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            where = f"scheduler {self.scheduler}" if self.scheduler else "the local cluster"
            raise InputError(f"{where}: fewer than {n} worker(s) after {WORKERS_TIMEOUT_S} s "
                             f"({one_line(exc)})") from None

    def _check_workers(self) -> None:
        """Every worker of an existing cluster imports this fragrisk version."""
        try:
            found = self.client.run(_fragrisk_version)
        except Exception as exc:  # a worker without fragrisk cannot even unpickle the function
            raise InputError(f"--scheduler {self.scheduler}: workers cannot run fragrisk "
                             f"({one_line(exc)}); install fragrisk {engine.__version__} on every worker") from None
        bad = {w: v for w, v in found.items() if v != engine.__version__}
        if bad:
            w, v = next(iter(bad.items()))
            raise InputError(f"--scheduler {self.scheduler}: worker {w} has fragrisk {v}, this is "
                             f"{engine.__version__}; install the same version on every worker")

    def n_threads(self) -> int:
        """Batches the cluster runs at once (worker threads)."""
        client = self._start()
        try:
            info = client.scheduler_info(n_workers=-1)  # newer Dask lists only 5 workers by default
        except TypeError:
            info = client.scheduler_info()
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))

    def close(self) -> None:
        """Disconnect, and shut down the local cluster if this executor started one."""
        client, cluster = self.client, self.cluster
        self.client = self.cluster = None
        # A local cluster first: its scheduler still has this client to report to while its
        # workers stop (with the client gone first, it logs its reports' failures with
        # tracebacks after an interrupted run). What a local cluster says while it shuts down
        # (tasks and data lost with its workers) is no news to the user: kept quiet.
        quiet = _distributed_logs_quiet() if cluster is not None else contextlib.nullcontext()
        with quiet:
            for thing in (cluster, client):
                if thing is not None:
                    try:
                        thing.close()
                    except Exception:  # noqa: BLE001 - closing what may already be gone
                        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- the run -------------------------------------------------------------------------------

    def batch_size(self, setup: Setup, n_realizations: int) -> int:
        """Default realizations per batch: on the GPU sizing.default_batch_size (device memory),
        but no more than an even share per worker; on the CPU about four batches per worker
        thread."""
        threads = self.n_threads()
        share = max(1, math.ceil(n_realizations / threads))
        if self.device == "gpu":
            return max(1, min(default_batch_size(setup, n_realizations), share))
        return max(1, math.ceil(n_realizations / (4 * threads)))

    def run(self, setup: Setup, realizations, *, batch_size: int | None = None, on_batch=None,
            batches=None) -> montecarlo.RunOutput:
        """montecarlo.run on the cluster: the same RunOutput (batches in completion order).

        Ctrl-C raises KeyboardInterrupt, and SIGTERM engine.errors.Terminated, between batches
        (see `_sigint_deferred`), after the queued and running batches are cancelled."""
        with _sigint_deferred() as interrupted:
            return self._run(setup, realizations, batch_size, on_batch, batches, interrupted)

    def _run(self, setup, realizations, batch_size, on_batch, batches, interrupted) -> montecarlo.RunOutput:
        distributed = _import_distributed()
        realizations, results, n_done, todo = montecarlo.still_to_do(realizations, batches)
        start = time.perf_counter()
        if todo.size == 0:
            return montecarlo.RunOutput(results, time.perf_counter() - start, list(self.notes))
        client = self._start()
        size = batch_size or self.batch_size(setup, todo.size)
        too_big = out_of_memory_errors(setup.device)
        first_size, smallest = size, size
        shared = [client.scatter(setup, broadcast=True, hash=False)]  # [the Setup on the workers]
        resent = 0
        live = {}  # future key -> (future, its realizations, the Setup future it uses)

        def submit(chunk):
            fut = client.submit(run_batch, shared[0], chunk, pure=False)
            live[fut.key] = (fut, chunk, shared[0])
            return fut

        pending = distributed.as_completed([submit(todo[lo:lo + size]) for lo in range(0, todo.size, size)])
        try:
            for fut in _completed(pending, interrupted):
                _, chunk, used = live.pop(fut.key)
                try:
                    b = _result(fut, interrupted)
                except too_big as exc:  # split in two, free the workers' cached blocks, resubmit
                    if chunk.size == 1:
                        raise out_of_memory_error(setup, chunk, exc) from None
                    client.run(free_device_memory, setup.device)
                    half = chunk.size // 2
                    smallest = min(smallest, half)
                    pending.update([submit(chunk[:half]), submit(chunk[half:])])
                    continue
                except CancelledError:
                    # Every worker holding the Setup died (scattered data is not recomputed): send
                    # it again, once per loss, and resubmit the batches that needed it.
                    if used is shared[0]:
                        if resent == MAX_SETUP_RESENDS:
                            raise InputError(f"worker processes died {resent + 1} times, losing the run's "
                                             f"set-up (out of host memory?); check the workers' logs, try a "
                                             f"smaller --batch-size, and continue with --resume") from None
                        resent += 1
                        used.release()
                        shared[0] = client.scatter(setup, broadcast=True, hash=False)
                    pending.add(submit(chunk))
                    continue
                except distributed.KilledWorker:  # Dask already retried it on other workers
                    raise InputError(f"realizations {int(chunk[0])}..{int(chunk[-1])}: the batch ended the "
                                     f"worker process running it, several times (out of host memory?); "
                                     f"try a smaller --batch-size, or continue with --resume") from None
                finally:
                    fut.release()
                results.append(b)
                n_done += b.realization.size
                if on_batch is not None:
                    on_batch(b, n_done, realizations.size)
        except BaseException:  # an error or Ctrl-C: drop the batches still queued or running
            if live:
                client.cancel([f for f, _, _ in live.values()], force=True)
            raise
        finally:
            shared[0].release()
        notes = list(self.notes)
        if smallest < first_size:
            notes.append(shrink_note(first_size, smallest))
        return montecarlo.RunOutput(results, time.perf_counter() - start, notes)


#: Seconds between looks at Ctrl-C while waiting for batches.
POLL_S = 0.1


def _completed(pending, interrupted: threading.Event):
    """The futures of distributed.as_completed `pending` as they finish, raising
    KeyboardInterrupt (Terminated after SIGTERM) here, outside any call into distributed, once
    `interrupted` is set."""
    while not pending.is_empty():
        if interrupted.is_set():
            raise _interrupt(interrupted)
        if pending.has_ready():
            yield next(pending)
        else:
            time.sleep(POLL_S)


def _interrupt(interrupted: threading.Event) -> KeyboardInterrupt:
    """The exception that ends a run after the signal that set `interrupted`."""
    return Terminated() if getattr(interrupted, "signum", None) == signal.SIGTERM else KeyboardInterrupt()


def _result(fut, interrupted: threading.Event):
    """fut.result(); where the batch failed after a signal (a batch scheduler's SIGTERM reaches
    local workers too, and may end them first), the signal's exception instead of the batch's."""
    try:
        return fut.result()
    except Exception:
        if interrupted.is_set():
            raise _interrupt(interrupted) from None
        raise


@contextlib.contextmanager
def _sigint_deferred():
    """Yields an Event that the first Ctrl-C (SIGINT) or SIGTERM sets instead of raising
    KeyboardInterrupt (or Terminated); a second one raises at once. The Event's `signum` says
    which signal set it. Main thread only (elsewhere the Event is never set).

    Why: a KeyboardInterrupt raised inside one of distributed's blocking calls (Future.result,
    scatter, ...) can land before distributed's sync() has its future, and its cancel callback
    then fails with a NameError that tornado logs with a traceback (distributed 2026.8). Raised
    by `_completed` instead, between calls, it ends the run cleanly.
    """
    interrupted = threading.Event()
    interrupted.signum = None

    def on_signal(signum, frame):
        if interrupted.is_set():
            raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        interrupted.signum = signum
        interrupted.set()

    with sigint_handled_by(on_signal), signal_handled_by(signal.SIGTERM, on_signal):
        yield interrupted


@contextlib.contextmanager
def _distributed_logs_quiet():
    """Nothing of distributed's loggers in this process inside the block (their level restored
    after it)."""
    logger = logging.getLogger("distributed")
    previous = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(previous)


def local_cluster_with_env(distributed, envs: list[dict]):
    """A LocalCluster of len(envs) one-thread worker processes, worker i with environment envs[i]
    (e.g. CUDA_VISIBLE_DEVICES, so each sees one GPU as device 0)."""
    cluster = distributed.LocalCluster(n_workers=0, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=LOCAL_LOG_LEVEL)
    template = cluster.new_spec
    for i, env in enumerate(envs):
        options = dict(template["options"], env={**template["options"].get("env", {}), **env})
        cluster.worker_spec[f"worker-{i}"] = {"cls": template["cls"], "options": options}
    cluster.scale(len(envs))
    return cluster
