"""`fragrisk pc`: the probability of collision of the conjunctions of CDM files."""

from __future__ import annotations

import json

import click

from ..engine.backend import resolve_device
from ..engine.errors import InputError
from ..engine.files.h5io import atomic_write_text, check_output_path
from .common import FLOAT, INT, device_option, echo_warnings

try:  # SciPy >= 1.15 (an optional dependency: the conjunction extra) runs the methods
    from ..engine.conjunction import assess as pcs
    from ..engine.conjunction.cdm import read_cdm
    from ..kernels import pc_mc_gpu  # imports CuPy only when it launches
except ImportError as _exc:
    pcs = read_cdm = pc_mc_gpu = None
    _MISSING = f"fragrisk pc needs SciPy >= 1.15 ({_exc}): pip install 'fragrisk[conjunction]'"


@click.command()
@click.argument("cdm_files", nargs=-1, required=True, metavar="FILE.cdm...")
@click.option("--method", type=click.Choice(["2d", "3d", "mc", "all"]), default="all",
              show_default=True, help="Foster's 2D Pc, Hall's 3D Nc, the two-body Monte Carlo, or all.")
@click.option("--trials", type=INT, default=100_000, show_default=True, metavar="N",
              help="Monte Carlo trials (at most; see --rel-halfwidth).")
@click.option("--rel-halfwidth", type=FLOAT, default=None, metavar="F",
              help="Stop the Monte Carlo once the 95 % interval's half-width is within F of its Pc.")
@click.option("--seed", type=INT, default=0, show_default=True,
              help="Monte Carlo seed (same seed, same trials on CPU and GPU).")
@click.option("--hbr-m", type=FLOAT, default=None, metavar="R",
              help="Combined hard-body radius [m] (default: the CDM's COMMENT HBR).")
@device_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, an object per CDM.")
@click.option("--csv", "csv_path", default=None, metavar="PATH", help="Write one CSV row per CDM.")
@click.option("--overwrite", is_flag=True, help="Replace the --csv file if it exists.")
def pc(cdm_files, method, trials, rel_halfwidth, seed, hbr_m, device, as_json, csv_path, overwrite) -> None:
    """Probability of collision of each conjunction of CCSDS CDM files (KVN or XML): Foster's 2D
    Pc (with and without the move to the exact TCA), Hall's 3D Nc and a two-body Monte Carlo with
    its 95 % Clopper-Pearson interval."""
    if pcs is None:
        raise InputError(_MISSING)
    if trials < 1:
        raise InputError(f"--trials: must be >= 1, got {trials}")
    if rel_halfwidth is not None and not (0 < rel_halfwidth < 1):
        raise InputError(f"--rel-halfwidth: {rel_halfwidth!r} is not a fraction in (0, 1)")
    if not 0 <= seed < 2 ** 64:
        raise InputError(f"--seed: {seed} is not in [0, 2^64)")
    if csv_path is not None:
        check_output_path(csv_path, overwrite=overwrite, what="a CSV file")
    methods = pcs.METHODS if method == "all" else (method,)
    count_hits = None
    if "mc" in methods and resolve_device(device) == "gpu":
        count_hits = pc_mc_gpu.count_hits
    cdms = [read_cdm(f) for f in cdm_files]  # every file read (and checked) before any work
    results = [pcs.assess(c, methods, hbr_m=hbr_m, trials=trials, seed=seed,
                          rel_halfwidth=rel_halfwidth, count_hits=count_hits) for c in cdms]
    if csv_path is not None:
        atomic_write_text(csv_path, pcs.csv_text(results), overwrite=overwrite, what="a CSV file")
    if as_json:
        click.echo(json.dumps(results))
        return
    for r in results:
        echo_warnings(f"{r['cdm']}: {w}" for w in r["warnings"])
        click.echo("\n".join(pcs.summary_lines(r)))
    if csv_path is not None:
        click.echo(f"wrote {csv_path}: {len(results):,} conjunctions")
