"""`fragrisk run`: the Monte Carlo risk analysis of a scenario, with its progress line and summary."""

from __future__ import annotations

import contextlib
import json
import sys
import time

import click

from ..engine.backend import gpu_unusable_reason, resolve_device
from ..engine.errors import FragriskError, InputError, Terminated, counted
from ..engine.results.summarize import uncertainty_text
from ..engine.run import jobs
from ..engine.scenario import load_scenario
from .common import (
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    INT,
    duration_text,
    device_option,
    epoch_gap_option,
    scenario_argument,
    set_option,
)


# --- run, plot, merge -------------------------------------------------------------------------------
@click.command(epilog=EXIT_CODES_HELP)
@scenario_argument
@click.option("--realizations", type=INT, default=None, metavar="N",
              help="Realizations to run (default: the scenario's on the GPU; a smaller count on the CPU).")
@click.option("--seed", type=INT, default=None, metavar="S", help="Seed (default: the scenario's).")
@device_option
@click.option("-o", "--output", default=None, metavar="PATH",
              help="Results file (default: results/<scenario>.h5).")
@click.option("--overwrite", is_flag=True, help="Replace PATH if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object on stdout.")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="Run batches on this Dask scheduler.")
@click.option("--workers", type=INT, default=None, metavar="N",
              help="Start a local Dask cluster of N workers (one per GPU where there are GPUs).")
@click.option("--shard", default=None, metavar="K/N", help="Run only the K-th of N realization ranges.")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint a stopped run left beside PATH.")
@click.option("--fresh", is_flag=True,
              help="Discard the checkpoint a stopped run left beside PATH and start over.")
@click.option("--batch-size", type=INT, default=None, metavar="B",
              help="Realizations per batch (default: sized to the device).")
@click.option("--jobs", "n_jobs", type=INT, default=None, metavar="N",
              help="Worker processes on this machine (default: every core it may use): the CPU "
                   "backend's batches, the GPU backend's sampling and element fits.")
@epoch_gap_option
@set_option
def run(scenario, realizations, seed, device, output, overwrite, as_json, scheduler, workers, shard,
        resume, fresh, batch_size, n_jobs, max_epoch_gap_days, overrides) -> None:
    """Run the Monte Carlo risk analysis of SCENARIO (default: cosmos1408) and write its results."""
    resolved = resolve_device(device)
    s = load_scenario(scenario, overrides, max_epoch_gap_days=max_epoch_gap_days)
    shard_kn = jobs.parse_shard(shard)
    why_cpu = gpu_unusable_reason() if device == "auto" and resolved == "cpu" else None
    if batch_size is not None and batch_size < 1:
        raise InputError(f"--batch-size: must be >= 1, got {batch_size}")
    out = jobs.output_path(output, s.name, shard_kn)
    made_default = False
    if output is None and not out.parent.is_dir():
        # The default folder; a folder the user names must exist.
        try:
            out.parent.mkdir()
        except OSError as exc:
            raise InputError(f"{out.parent}: cannot create the default output folder "
                             f"({exc.strerror or exc}); give -o PATH") from None
        made_default = True
    executor = None
    bar = _RunProgress(enabled=sys.stderr.isatty() and not as_json)
    try:
        executor = jobs.make_executor(resolved, jobs=n_jobs, workers=workers, scheduler=scheduler)
        job = jobs.run_job(s, resolved, out, realizations=realizations, seed=seed, overwrite=overwrite,
                           shard=shard_kn, resume=resume, fresh=fresh, batch_size=batch_size, executor=executor,
                           on_progress=bar.update)
    except FragriskError:
        if made_default:  # refused: leave no trace of this run
            with contextlib.suppress(OSError):
                out.parent.rmdir()
        raise
    except KeyboardInterrupt as exc:
        bar.close()
        signal_name = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        click.echo(f"{signal_name}: finished batches are kept in {jobs.checkpoint_dir(out)}; continue "
                   f"with the same command and --resume", err=True)
        sys.exit(EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED)
    finally:
        bar.close()
        if executor is not None:
            executor.close()
    if why_cpu:
        job.notes.insert(0, f"ran on the CPU: the GPU is not usable ({why_cpu})")
    report = job.summary(s.name)
    per_target, st, table = report["targets"], job.stats, job.results.encounters
    if as_json:
        click.echo(json.dumps(report, default=float))
        return
    for note in job.notes:
        click.echo(f"note: {note}", err=True)
    lines = [f"wrote {job.path}: {counted(report['realizations'], 'realization')} of {s.name}, seed "
             f"{report['seed']}, device {job.device}, {st['elapsed_s']:.1f} s"]
    for name, t in per_target.items():
        peak = t.get("peak_rate_time_h")
        lines.append(f"  {name}: P mean {t['p_mean']:.3g}, median {t['p_median']:.3g}, "
                     f"p05 {t['p_p05']:.3g}, p95 {t['p_p95']:.3g}; mean expected collisions "
                     f"{uncertainty_text(t)}; highest rate "
                     + (f"at {t['peak_rate_utc']} (hour {peak:.1f})" if peak is not None else "n/a"))
    if table is not None:
        lines.append(f"  encounters: {counted(len(table), 'passage')} through the kernel spheres (fragrisk "
                     f"encounters {job.path} [--windows])")
    if st.get("resumed_realizations"):
        lines.append(f"  resumed: {counted(st['resumed_realizations'], 'realization')} from the checkpoint; "
                     f"the rates below count this session's batches only")
    lines.append(f"  throughput: {st['effective_rate']:.3g} fragment-steps/s effective "
                 f"({st['fragment_steps']:,} fragment-steps), {st['raw_rate']:.3g}/s in the estimator "
                 f"({st['propagated_fragment_steps']:,} propagated after the prefilter)")
    click.echo("\n".join(lines))


class _RunProgress:
    """A progress line on stderr: realizations done/total, fragment-steps per second (kept
    fragments x samples, this session's batches) and the time left, after each batch."""

    def __init__(self, enabled: bool, clock=None):
        self.enabled = enabled
        self.clock = clock or time.perf_counter
        self.start = self.clock()
        self.steps = 0
        self.first_done = None  # realizations done before this session's first batch (resumed)
        self.shown = False

    def update(self, done: int, total: int, batch) -> None:
        """engine.run.jobs.run_job's on_progress: batch None when the run starts, then each batch."""
        if batch is None:
            self.start, self.first_done = self.clock(), done
            text = f"{done:,}/{total:,} realizations, started"
        else:
            if self.first_done is None:
                self.first_done = done - batch.realization.size
            self.steps += batch.fragment_steps
            elapsed = self.clock() - self.start
            rate = self.steps / elapsed if elapsed > 0 else 0.0
            left = elapsed / max(done - self.first_done, 1) * (total - done)
            text = f"{done:,}/{total:,} realizations, {rate:.3g} fragment-steps/s, {duration_text(left)} left"
        if self.enabled:
            click.echo(f"\r{text}   ", nl=False, err=True)
            self.shown = True

    def close(self) -> None:
        if self.shown:
            click.echo("", err=True)
            self.shown = False
