"""GPU batch sizes from the free device (and host) memory, and what happens when a batch does not
fit after all: the out-of-memory errors to catch, the cache to free, the note and the one-line
error (a batch is halved down to one realization)."""

from __future__ import annotations

import math

from ..errors import DeviceMemoryError, one_line
from ..scenario import objects_per_realization
from .setup import Setup

# --- batch sizes: from the device's free memory ----------------------------------------------------

#: Bytes of host memory per sampled fragment while its batch is prepared: the breakup sample,
#: states, elements, status and the element fit's temporaries (about 60 float64 columns), then
#: the kept ones' SGP4 table.
HOST_BYTES_PER_FRAGMENT = 60 * 8 + 34 * 8
#: Share of the free device (and host) memory a GPU batch is sized to: CuPy's pool rounds
#: allocations up and keeps freed blocks, the prefetched batch's host arrays overlap the running
#: one's, and the rest of the machine needs room.  (What a command may plan on before it starts
#: is engine.backend.COMMAND_MEMORY_SHARE: a budget for refusing runs, not a batch's size.)
GPU_BATCH_MEMORY_SHARE = 0.5
#: Most realizations in one GPU batch: beyond a few hundred thousand objects the GPU is full and
#: larger batches only delay the first checkpoint.
MAX_GPU_BATCH = 512


def device_bytes_per_object(n_targets: int, chunk_bins: int) -> int:
    """Device memory of one propagated object in a GPU batch's time chunk (chunk_rates): its rate
    row (n_targets x chunk_bins float64), sigma/V and total per target; its SGP4 table column
    (34 float64), offset, reach, thread order and decay sample, and the gather of its index."""
    return n_targets * (8 * chunk_bins + 2 * 8) + 34 * 8 + 5 * 8


def batch_size_for_memory(free_device_bytes: float, fragments_per_realization: float, n_targets: int,
                          chunk_bins: int, *, free_host_bytes: float | None = None,
                          max_batch: int = MAX_GPU_BATCH) -> int:
    """Realizations per GPU batch that fit in GPU_BATCH_MEMORY_SHARE of the free device (and host)
    memory.

    Per realization the device holds device_bytes_per_object for each of its objects (one time
    chunk's bins, whatever the window's length); the host holds HOST_BYTES_PER_FRAGMENT per
    fragment for the batch being estimated and the one prepared meanwhile (two). At least 1
    (out-of-memory halving and its one-line error are the safety net), at most max_batch.
    """
    per_object = device_bytes_per_object(n_targets, chunk_bins)
    device = GPU_BATCH_MEMORY_SHARE * free_device_bytes / max(per_object * fragments_per_realization, 1.0)
    fit = device
    if free_host_bytes is not None:
        host = GPU_BATCH_MEMORY_SHARE * free_host_bytes / max(2.0 * HOST_BYTES_PER_FRAGMENT * fragments_per_realization, 1.0)
        fit = min(fit, host)
    return int(max(1, min(max_batch, math.floor(fit))))


def default_batch_size(setup: Setup, n_realizations: int) -> int:
    """Realizations per batch: on the GPU sized from its free memory (batch_size_for_memory), on
    the CPU one (each worker process holds one realization's arrays; progress after each)."""
    if setup.device != "gpu":
        return 1
    import cupy

    free = cupy.cuda.Device().mem_info[0] + cupy.get_default_memory_pool().free_bytes()  # CuPy's cache is free too
    size = batch_size_for_memory(free, objects_per_realization(setup.scenario), len(setup.targets.names),
                                 setup.window.max_chunk_bins(), free_host_bytes=available_host_bytes())
    return int(min(n_realizations, size)) if n_realizations > 0 else size


def available_host_bytes() -> float | None:
    """Memory the host can still give (Linux: MemAvailable), None where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    return None


# --- device memory: a batch that does not fit is run again in halves -----------------------------

def out_of_memory_errors(device: str) -> tuple:
    """Exception types meaning "this batch does not fit in device memory" (none on the CPU)."""
    if device != "gpu":
        return ()
    import cupy

    return (cupy.cuda.memory.OutOfMemoryError,)


def free_device_memory(device: str) -> None:
    """Return CuPy's cached blocks to the device before a smaller batch tries again."""
    if device == "gpu":
        import cupy

        cupy.get_default_memory_pool().free_all_blocks()
        cupy.get_default_pinned_memory_pool().free_all_blocks()


def shrink_note(old: int, new: int) -> str:
    return f"GPU out of memory with batches of {old} realizations: ran batches of {new} or fewer"


def out_of_memory_error(setup: Setup, chunk, exc) -> DeviceMemoryError:
    """The one-line error when a single realization does not fit in device memory."""
    detail = one_line(exc)
    return DeviceMemoryError(f"GPU out of memory with a single realization (realization {int(chunk[0])}, "
                             f"{len(setup.targets.names)} targets x {setup.window.n_bins} time bins): {detail}; "
                             f"use fewer time bins or targets, a larger lc_min_m, or --device cpu")
