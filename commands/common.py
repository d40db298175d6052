"""What every command shares: exit codes, the one-line errors, the shared options and
number types, and the formatting of numbers and durations."""

from __future__ import annotations

import re

import click

from ..engine.errors import DeviceMemoryError, FragriskError, one_line

DEFAULT_SCENARIO = "cosmos1408"
EXIT_ABORTED = 1
EXIT_USER_ERROR = 2
EXIT_DEVICE_MEMORY = 3
EXIT_INTERRUPTED = 130   # 128 + SIGINT
EXIT_TERMINATED = 143    # 128 + SIGTERM

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 aborted; 2 bad input or options (one line on stderr names the file, "
    "field and value); 3 GPU out of memory even with a single realization (fewer time bins or "
    "targets, a larger lc_min_m, or --device cpu); 130 interrupted (run: finished batches are "
    "kept for --resume); 143 terminated by SIGTERM (as 130)."
)


def exit_code_of(exc: FragriskError) -> int:
    """The exit code of an error raised by the engine (see EXIT_CODES_HELP)."""
    return EXIT_DEVICE_MEMORY if isinstance(exc, DeviceMemoryError) else EXIT_USER_ERROR


class UserError(click.ClickException):
    """A FragriskError on its way out: ``error: <message>`` on stderr, its exit code."""

    def __init__(self, exc: FragriskError) -> None:
        super().__init__(str(exc))
        self.exit_code = exit_code_of(exc)

    def show(self, file=None) -> None:
        # The engine's messages are one line by contract; keep them so even if one slips.
        click.echo(f"error: {one_line(self.format_message())}", err=True)


class OneLineUsageError(click.ClickException):
    """A click usage error (a bad option value, a missing argument, an unknown command) as one
    line ``error: <message> (see 'fragrisk CMD --help')``, exit code 2."""

    def __init__(self, exc: click.UsageError):
        super().__init__(" ".join(exc.format_message().split()).rstrip("."))
        self.exit_code = exc.exit_code
        self.where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}{self.where}", err=True)


# --- shared options ------------------------------------------------------------------------------
def scenario_argument(f):
    return click.argument("scenario", required=False, default=DEFAULT_SCENARIO,
                          metavar="[SCENARIO]")(f)


def device_option(f):
    return click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto",
                        show_default=True, help="Array backend: NumPy (cpu) or CuPy (gpu).")(f)


class _AsciiNumber(click.ParamType):
    """An integer or a float written in ASCII digits: click's INT and FLOAT call int() and
    float(), which also read full-width and other Unicode digits and "1_000".  "nan" and "inf"
    pass as floats, for the command to refuse with its own message (the field and its range)."""

    _INT = re.compile(r"[+-]?\d+", re.ASCII)
    _FLOAT = re.compile(r"[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|nan|inf|infinity)",
                        re.ASCII | re.IGNORECASE)

    def __init__(self, kind: type):
        self.kind = kind
        self.name = "integer" if kind is int else "number"

    def convert(self, value, param, ctx):
        if isinstance(value, self.kind) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        pattern = self._INT if self.kind is int else self._FLOAT
        if not pattern.fullmatch(text):
            what = "an integer" if self.kind is int else "a number"
            self.fail(f"{value!r} is not {what} (ASCII digits)", param, ctx)
        return self.kind(text)


INT = _AsciiNumber(int)
FLOAT = _AsciiNumber(float)


def set_option(f):
    return click.option("--set", "overrides", multiple=True, metavar="SECTION.FIELD=VALUE",
                        help="Override a scenario field, e.g. event.lc_min_m=0.01 (VALUE as in TOML; "
                             "repeatable; validated like the file).")(f)


def epoch_gap_option(f):
    return click.option("--max-epoch-gap-days", type=FLOAT, default=None, metavar="DAYS",
                        help="Accept element sets up to DAYS from the epoch they are used at "
                             "(default: the scenario's [analysis] max_epoch_gap_days, 30).")(f)


def echo_warnings(warnings) -> None:
    for w in warnings:
        click.echo(f"warning: {w}", err=True)


# --- formatting ----------------------------------------------------------------------------------
def num(x: float) -> str:
    """2220.0 -> '2,220'; 7.5 -> '7.5'; 0.1 -> '0.1'."""
    return f"{x:,.6g}" if abs(x) < 1e15 else f"{x:.6g}"




def duration_text(seconds: float) -> str:
    """30 -> '30 s', 600 -> '10 min', 9000 -> '2.5 h'."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
