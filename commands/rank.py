"""`fragrisk rank`: the most threatened targets of a results file and the squall calendar
(engine.results.rank; figures by engine.plots_rank)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..engine import plots_rank
from ..engine.errors import InputError
from ..engine.files.h5io import atomic_write_text, check_output_path
from ..engine.plots.figures import DPI
from ..engine.results import rank as ranking
from ..engine.results import read_results
from .common import INT


@click.command()
@click.argument("results_file", metavar="RESULTS.h5")
@click.option("--top", type=INT, default=20, show_default=True, metavar="N", help="The N most threatened.")
@click.option("--by", "by", type=click.Choice(["expected", "conjunctions"]), default="expected",
              show_default=True, help="Rank by mean expected collisions, or by conjunctions below the "
                                      "largest threshold.")
@click.option("--group", "by_group", is_flag=True, help="Rank the groups (name families) instead of targets.")
@click.option("--csv", "csv_path", default=None, metavar="PATH", help="Write the whole ranking as CSV.")
@click.option("--overwrite", is_flag=True, help="Replace the --csv file or figures if they exist.")
@click.option("--plots", "plots_dir", default=None, metavar="DIR",
              help="Also draw top_targets.png and squall_calendar.png into DIR.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def rank(results_file, top, by, by_group, csv_path, overwrite, plots_dir, as_json) -> None:
    """The most threatened targets of a results file (expected collisions with 5-95 % bands,
    conjunctions below each threshold) and the squall calendar: conjunctions per day per group."""

    if top < 1:
        raise InputError(f"--top: must be >= 1, got {top}")
    if csv_path is not None:
        check_output_path(csv_path, overwrite=overwrite, what="a CSV file")
    res = read_results(results_file)
    rows = ranking.target_table(res, by=by, group=by_group)
    thresholds = [] if res.conjunctions is None else list(res.conjunction_thresholds_km)
    if csv_path is not None:
        atomic_write_text(csv_path, ranking.csv_text(rows, thresholds), overwrite=overwrite, what="a CSV file")
    figures = []
    if plots_dir is not None:
        folder = Path(plots_dir)
        folder.mkdir(parents=True, exist_ok=True)
        made = [("top_targets.png", lambda: plots_rank.top_targets_figure(res, top, by=by))]
        if res.conjunctions is not None:
            made.append(("squall_calendar.png", lambda: plots_rank.squall_calendar_figure(res)))
        for name, make in made:
            out = folder / name
            if out.exists() and not overwrite:
                raise InputError(f"{out}: exists; use --overwrite to replace it")
            make().savefig(out, dpi=DPI)
            figures.append(str(out))
    calendar = None
    if res.conjunctions is not None:
        days, groups, counts = ranking.squall_calendar(res)
        calendar = {"threshold_km": ranking.threshold_text(thresholds[-1]), "days": days.tolist(),
                    "groups": {g: counts[i].tolist() for i, g in enumerate(groups)}}
    report = {"results": str(results_file), "realizations": res.n_realizations_held,
              "n_targets": res.n_targets, "by": by, "conjunctions": ranking.conjunction_totals(res),
              "targets" if not by_group else "groups": rows[:top], "squall_calendar": calendar}
    if by_group:
        report["targets"] = ranking.target_table(res, by=by)[:top]
    if csv_path is not None:
        report["csv"] = str(csv_path)
    if figures:
        report["figures"] = figures
    if as_json:
        click.echo(json.dumps(report))
        return
    lines = []
    if report["conjunctions"]:
        lines.append("conjunctions over the window, all targets (mean per realization): "
                     + ", ".join(f"{v:,.4g} below {k} km" for k, v in report["conjunctions"].items()))
    what = "groups" if by_group else "targets"
    lines.append(f"the {min(top, len(rows))} most threatened of {len(rows):,} {what} "
                 f"({res.n_realizations_held:,} realizations), by {by}:")
    header = f"  {'rank':>4}  {'name':<28}  {'NORAD':>7}  {'group':<12}  {'exp. collisions':>15}  {'p05':>9}  {'p95':>9}"
    header += "".join(f"  {'<' + ranking.threshold_text(t) + ' km':>8}" for t in thresholds)
    lines.append(header)
    for i, row in enumerate(rows[:top], start=1):
        norad = "" if row["norad"] is None else str(row["norad"])
        line = (f"  {i:>4}  {row['name'][:28]:<28}  {norad:>7}  {row['group'][:12]:<12}  "
                f"{row['expected_collisions']:>15.3e}  {row['expected_collisions_p05']:>9.2e}  "
                f"{row['expected_collisions_p95']:>9.2e}")
        line += "".join(f"  {row['conjunctions'][ranking.threshold_text(t)]:>8.4g}" for t in thresholds)
        lines.append(line)
    if calendar is not None:
        totals = sorted(calendar["groups"].items(), key=lambda kv: -sum(kv[1]))[:6]
        lines.append(f"squall calendar: conjunctions below {calendar['threshold_km']} km per day, by group:")
        lines.append(f"  {'day':>4}" + "".join(f"  {g[:10]:>10}" for g, _ in totals))
        for d, day in enumerate(calendar["days"]):
            lines.append(f"  {day:>4g}" + "".join(f"  {v[d]:>10.4g}" for _, v in totals))
    if csv_path is not None:
        lines.append(f"wrote {csv_path}: {len(rows):,} {what}")
    lines.extend(f"wrote {f}" for f in figures)
    click.echo("\n".join(lines))
