"""fragrisk: collision risk of fragmentation debris clouds.

The installed package: ``fragrisk.engine`` (numerics and files), ``fragrisk.kernels`` (CUDA
sources and their CuPy wrappers) and ``fragrisk.cli`` (the ``fragrisk`` command). For a notebook,
the handful of entry points below are importable from here; each is loaded on first use, so
``import fragrisk`` stays cheap (no NumPy, no CuPy, no h5py until they are needed)::

    import fragrisk
    scenario = fragrisk.load_scenario("cosmos1408")
    job = fragrisk.run_job(scenario, fragrisk.resolve_device("cpu"), "run.h5", realizations=4)
    results = fragrisk.read_results("run.h5")
    shelter = fragrisk.risk_windows(results, "ISS", share=0.9, width_s=120, within_h=24)
    fragrisk.plot_all("run.h5")

See docs/ in the repository for the file formats, the scenario fields and the estimator.
"""

# Absolute imports here (not relative as inside engine/ and kernels/): pytest imports this file
# on its own as the package of the checkout's folder, whose name need not be an identifier
# (e.g. a worktree "wt-1"); an absolute import works then too.
from fragrisk.engine import __version__

#: name -> (module under fragrisk.engine, attribute): the notebook entry points.
_EXPORTS = {
    "load_scenario": ("scenario", "load_scenario"),
    "resolve_device": ("backend", "resolve_device"),
    "run_job": ("run.jobs", "run_job"),
    "sample_cloud": ("cloud", "sample_cloud"),
    "read_results": ("results", "read_results"),
    "merge_files": ("results", "merge_files"),
    "summary": ("results", "summary"),
    "risk_windows": ("results.windows", "risk_windows"),
    "plot_all": ("plots", "plot_all"),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    try:
        module_name, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'fragrisk' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(f"fragrisk.engine.{module_name}"), attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
