"""The host stage run ahead of the estimator (`HostStage`): inline, on a host thread, or split
over the worker processes of an executor (engine.run.pool) and merged."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .batches import HostBatch, merge_host_batches, prepare_batch
from .setup import Setup


class HostStage:
    """Runs prepare_batch ahead of the estimator: `submit(realizations)` starts the host stage of
    a batch and returns a handle whose `result()` is its HostBatch.

    threads=False: at once, in the caller's thread (no overlap). threads=True: on one host thread,
    so batch n+1 is sampled, fitted and tabled while batch n is estimated. pool: a
    concurrent.futures executor of processes whose workers hold the Setup (engine.run.pool),
    with prepare_in_worker the function its workers run on a piece (the executor hands it over,
    so the driver never imports its executors): each batch is split into one piece per worker
    and the pieces merged, on the host thread.
    The HostBatch is the same whichever way (tests check)."""

    def __init__(self, setup: Setup, threads: bool = True, pool=None, workers: int = 1, prepare_in_worker=None):
        if pool is not None and prepare_in_worker is None:
            raise TypeError("HostStage: a pool needs the function its workers run (prepare_in_worker)")
        self.setup, self.pool, self.workers = setup, pool, max(1, int(workers))
        self.prepare_in_worker = prepare_in_worker
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fragrisk-host") \
            if (threads or pool is not None) else None

    def _prepare(self, realizations) -> HostBatch:
        if self.pool is None:
            return prepare_batch(self.setup, realizations)
        pieces = [p for p in np.array_split(realizations, min(self.workers, realizations.size)) if p.size]
        futures = [self.pool.submit(self.prepare_in_worker, p) for p in pieces]
        return merge_host_batches([f.result() for f in futures])

    def submit(self, realizations):
        if self.thread is None:
            return _Done(prepare_batch(self.setup, realizations))
        return self.thread.submit(self._prepare, realizations)

    def close(self) -> None:
        if self.thread is not None:
            self.thread.shutdown(wait=True, cancel_futures=True)


class _Done:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value

    def cancel(self):
        return False
