"""Which array backend runs the work: "cpu" (NumPy) or "gpu" (CuPy on a CUDA device).

CuPy is imported inside the functions only, so that importing fragrisk never needs CUDA and a
machine without a GPU pays nothing.  Nothing is cached: every call looks again (cheap next to a
run, and no global state).
"""

from __future__ import annotations

import os
import platform

import numpy

from .errors import InputError, one_line

DEVICE_CHOICES = ("auto", "cpu", "gpu")


def gpu_unusable_reason() -> str | None:
    """Why the GPU backend cannot run here, in one line; None when it can.

    Usable means: ``import cupy`` works and ``cupy.is_available()`` is true (a CUDA device and a
    driver that CuPy's CUDA runtime accepts).
    """
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA install failing at import
        if isinstance(exc, ModuleNotFoundError) and exc.name == "cupy":
            return "CuPy is not installed (pip install 'fragrisk[gpu]')"
        return one_line(f"CuPy does not import: {type(exc).__name__}: {exc}")
    try:
        if cupy.is_available():
            return None
    except Exception as exc:
        return one_line(f"no usable CUDA device: {type(exc).__name__}: {exc}")
    # is_available() swallows the reason; ask the runtime again to get CUDA's own words.
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return one_line(f"no usable CUDA device or driver: {exc}")
    return f"no usable CUDA device (CUDA reports {count} device(s))"


def resolve_device(requested: str) -> str:
    """Map ``--device auto|cpu|gpu`` to "cpu" or "gpu".

    auto -> "gpu" when CuPy imports and ``cupy.is_available()``, else "cpu".
    "gpu" where none is usable raises ``InputError`` with the reason; there is no silent fallback.
    """
    if requested not in DEVICE_CHOICES:
        raise InputError(f"--device {requested!r}: expected one of {', '.join(DEVICE_CHOICES)}")
    if requested == "cpu":
        return "cpu"
    reason = gpu_unusable_reason()
    if requested == "gpu":
        if reason is not None:
            raise InputError(f"--device gpu: no usable GPU: {reason}")
        return "gpu"
    return "cpu" if reason is not None else "gpu"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the host's count): --jobs' default."""
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use, not the host's
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _cuda_version(v: int) -> str:
    # CUDA encodes versions as 1000*major + 10*minor (12040 -> "12.4").
    return f"{v // 1000}.{(v % 1000) // 10}"


def describe_device(device: str) -> dict:
    """Facts about the device that runs the work, for ``fragrisk info`` and results files.

    cpu: {"device", "name" (CPU model from /proc/cpuinfo), "cores", "numpy_version"}.
    gpu: {"device", "name", "memory_gib" (total), "compute_capability" ("9.0"), "cupy_version",
    "cuda_runtime_version", "cuda_driver_version", "device_id"}.
    """
    if device == "cpu":
        return {"device": "cpu", "name": _cpu_model(), "cores": usable_cores(),
                "numpy_version": numpy.__version__}
    if device != "gpu":
        raise InputError(f"device {device!r}: expected cpu or gpu")
    reason = gpu_unusable_reason()
    if reason is not None:
        raise InputError(f"--device gpu: no usable GPU: {reason}")
    import cupy

    dev = cupy.cuda.Device()
    props = cupy.cuda.runtime.getDeviceProperties(dev.id)
    name = props["name"]
    if isinstance(name, bytes):
        name = name.decode("utf-8", errors="replace")
    return {
        "device": "gpu",
        "device_id": int(dev.id),
        "name": str(name),
        "memory_gib": props["totalGlobalMem"] / 2**30,
        "compute_capability": f"{props['major']}.{props['minor']}",
        "cupy_version": cupy.__version__,
        "cuda_runtime_version": _cuda_version(cupy.cuda.runtime.runtimeGetVersion()),
        "cuda_driver_version": _cuda_version(cupy.cuda.runtime.driverGetVersion()),
    }


# --- memory: what this process may plan to use ----------------------------------------------------

#: Share of the memory available now that a command may plan to use (the rest: the interpreter,
#: libraries, the operating system's file cache, other programs): the budget of the limits that
#: refuse a run before it starts (engine.run.limits) and of the results readers.  Not the share
#: a GPU batch is sized to (engine.run.sizing.GPU_BATCH_MEMORY_SHARE), which leaves room
#: for CuPy's memory pool and the batch prepared meanwhile.
COMMAND_MEMORY_SHARE = 0.8

def available_memory_bytes() -> int:
    """Memory this process can take now, bytes: MemAvailable of /proc/meminfo, capped by a
    cgroup (container) limit where one is set; else the physical memory."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, AttributeError):
            avail = 8 * 2**30  # a guess where the system says nothing
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        with open("/sys/fs/cgroup/memory.current") as fh:
            used = int(fh.read().strip())
        if limit != "max":
            avail = min(avail, max(int(limit) - used, 0))
    except (OSError, ValueError):
        pass
    return int(avail)
