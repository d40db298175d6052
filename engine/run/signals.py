"""Signal handling shared by the executors (engine.run.pool, engine.run.distributed): SIGINT or
SIGTERM ignored or redirected inside a block, restored after it. Main thread only: elsewhere
Python cannot set handlers, and nothing changes."""

from __future__ import annotations

import contextlib
import signal
import threading


def sigint_ignored():
    """SIGINT ignored in this process (and so in processes started meanwhile); main thread only."""
    return sigint_handled_by(signal.SIG_IGN)


def sigint_handled_by(handler):
    """SIGINT goes to `handler` (a function or signal.SIG_IGN) inside the block, and back to the
    previous handler after it. Main thread only: elsewhere Python cannot set handlers, and
    nothing changes."""
    return signal_handled_by(signal.SIGINT, handler)


@contextlib.contextmanager
def signal_handled_by(signum, handler):
    """Signal `signum` goes to `handler` inside the block (see sigint_handled_by)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, previous)
