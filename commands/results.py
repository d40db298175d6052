"""The commands on a results file (`plot`, `encounters`, `merge`) and on the built-in scenarios
(`scenario export`)."""

from __future__ import annotations

import json

import click

from ..engine.errors import InputError, counted
from ..engine.files.h5io import atomic_write_text, check_output_path
from ..engine.files.scenario_export import export_builtin
from ..engine.plots import not_drawn, plot_all
from ..engine.results import merge_files, read_results
from ..engine.results import windows as enc
from .common import FLOAT, INT, num


@click.command()
@click.argument("results_file", metavar="RESULTS.h5")
@click.option("-o", "--output", default=None, metavar="DIR", help="Folder (default: <RESULTS>_plots beside it).")
@click.option("--format", "fmt", type=click.Choice(["png", "pdf", "svg"]), default="png", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace figures that exist in DIR.")
def plot(results_file, output, fmt, overwrite) -> None:
    """Draw the figures of a results file and print their paths (and, on stderr, those that do
    not apply to it, with why)."""
    for path in plot_all(results_file, output, fmt, overwrite=overwrite):
        click.echo(str(path))
    for name, why in not_drawn(results_file):
        click.echo(f"note: {name} not drawn: {why}", err=True)


@click.command()
@click.argument("results_file", metavar="RESULTS.h5")
@click.option("--target", default=None, metavar="NAME", help="Only this target (default: every target).")
@click.option("--top", type=INT, default=None, metavar="N",
              help="The N largest encounters [default: 10 printed; with --csv: all of them].")
@click.option("--csv", "csv_path", default=None, metavar="PATH",
              help="Write the encounters (with --windows: the windows) as CSV instead of a table.")
@click.option("--overwrite", is_flag=True, help="Replace the --csv file if it exists.")
@click.option("--windows", is_flag=True,
              help="The risk windows: the fewest windows of --width-s that carry --share of the mean "
                   "expected collisions in the first --within-h hours.")
@click.option("--share", type=FLOAT, default=0.9, show_default=True, metavar="S",
              help="Share of the mean expected collisions the windows carry, in (0, 1].")
@click.option("--width-s", type=FLOAT, default=120.0, show_default=True, metavar="W",
              help="Width of each window, seconds.")
@click.option("--within-h", type=FLOAT, default=24.0, show_default=True, metavar="H",
              help="The period: the first H hours after the analysis start.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def encounters(results_file, target, top, csv_path, overwrite, windows, share, width_s, within_h,
               as_json) -> None:
    """The largest encounters of a results file (passages of fragments through a target's kernel
    sphere, with their time of closest approach, miss distance and share of the expected
    collisions), and with --windows the risk windows: when a target is exposed."""
    enc.check_options(top=top, share=share, width_s=width_s, within_h=within_h)
    if csv_path is not None:
        check_output_path(csv_path, overwrite=overwrite, what="a CSV file")
    res = read_results(results_file)
    table = res.encounters
    if table is None:
        raise InputError(enc.no_table_message(results_file, res.attrs))
    names = res.target_names.tolist()
    ks = range(len(names)) if target is None else [enc.target_index(names, target, results_file)]
    R = res.n_realizations_held
    show_encounters = not windows or top is not None
    schedules = [enc.risk_windows(res, k, share=share, width_s=width_s, within_h=within_h)
                 for k in ks] if windows else []

    if csv_path is not None:
        text, n_rows = enc.encounters_csv(res, ks, top, schedules)
        atomic_write_text(csv_path, text, overwrite=overwrite, what="a CSV file")
        if not as_json:
            click.echo(f"wrote {csv_path}: {n_rows:,} {'windows' if windows else 'encounters'}")
            return

    report = enc.encounters_summary(res, str(results_file), ks, schedules=schedules,
                                    shown=(10 if top is None else top) if show_encounters else None)
    if as_json:
        if csv_path is not None:
            report["csv"] = str(csv_path)
        click.echo(json.dumps(report))
        return
    lines = []
    for name, entry in report["targets"].items():
        n = entry["n_encounters"]
        if show_encounters:
            rows = entry["encounters"]
            lines.append(f"{name}: {counted(n, 'encounter')} in {counted(R, 'realization')} (mean expected collisions {entry['mean_expected_collisions']:.3g})"
                         + (f"; the {len(rows):,} largest:" if rows else ""))
            if rows:
                lines.append(f"  {'realization':>11}  {'fragment':>8}  {'closest approach (UTC)':<24}  "
                             f"{'t [h]':>7}  {'miss [km]':>9}  {'speed [km/s]':>12}  {'exp. collisions':>15}  "
                             f"{'Lc [m]':>7}")
                for r in rows:
                    lines.append(f"  {r['realization']:>11}  {r['fragment']:>8}  {r['tca_utc']:<24}  "
                                 f"{r['tca_s'] / 3600:>7.3f}  {r['miss_km']:>9.3f}  {r['speed_km_s']:>12.3f}  "
                                 f"{r['expected_collisions']:>15.3e}  {r['lc_m']:>7.3f}")
        if windows:
            w = entry["windows"]
            count = len(w["windows"])
            period_h = (w["period_s"][1] - w["period_s"][0]) / 3600.0
            period = (f"the first {num(within_h)} h" if period_h >= within_h - 1e-9
                      else f"the whole {num(round(period_h, 6))} h of the file's window")
            lines.append(f"{name}: {counted(count, 'window')} of {num(width_s)} s "
                         f"carr{'ies' if count == 1 else 'y'} {100 * w['share']:.1f} % of the mean expected collisions of "
                         f"{period} ({w['covered']:.3g} of {w['total']:.3g}; goal "
                         f"{100 * share:g} %, {counted(R, 'realization')}){':' if count else ''}")
            if count:
                lines.append(f"  {'start (UTC)':<24}  {'end (UTC)':<24}  {'t [h]':>7}  {'share':>7}  "
                             f"{'realizations':>12}")
                for win in w["windows"]:
                    lines.append(f"  {win['start_utc']:<24}  {win['end_utc']:<24}  {win['start_s'] / 3600:>7.3f}  "
                                 f"{100 * win['share']:>6.2f}%  {win['realizations']:>12}")
    click.echo("\n".join(lines))


@click.group("scenario")
def scenario_group() -> None:
    """Built-in scenarios."""


@scenario_group.command("export")
@click.argument("name", metavar="NAME")
@click.argument("folder", metavar="DIR")
@click.option("--overwrite", is_flag=True, help="Replace files that exist in DIR.")
def scenario_export(name, folder, overwrite) -> None:
    """Write built-in scenario NAME into DIR as NAME.toml, with the element-set files it names,
    ready to edit and run (fragrisk run DIR/NAME.toml)."""
    paths = export_builtin(name, folder, overwrite=overwrite)
    click.echo(f"wrote {paths[0]} and {len(paths) - 1} element-set file{'' if len(paths) == 2 else 's'} "
               f"beside it: {', '.join(p.name for p in paths[1:])}")


@click.command()
@click.argument("shards", nargs=-1, required=True, metavar="SHARD.h5...")
@click.option("-o", "--output", required=True, metavar="PATH", help="Merged results file.")
@click.option("--overwrite", is_flag=True, help="Replace PATH if it exists.")
def merge(shards, output, overwrite) -> None:
    """Merge the shard files of one run (fragrisk run --shard K/N) into one results file."""
    path = merge_files(list(shards), output, overwrite=overwrite)
    click.echo(f"wrote {path} from {len(shards)} shard{'' if len(shards) == 1 else 's'}")
