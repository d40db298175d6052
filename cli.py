"""fragrisk's command line: parses, calls engine/, prints.  No numerics here.

Every command is a click command in commands/ (one module per family), put on the group below.  An ``engine.errors.FragriskError``
raised anywhere in a command becomes one line ``error: <message>`` on stderr and its exit code
(`exit_code_of`: 2 for bad input, 3 for GPU memory), without a traceback (the group does it, so
new commands get it for free); so do click's usage errors (a bad option value, a missing
argument), which name the option and point to --help (exit 2). SIGTERM is handled like Ctrl-C
(``engine.errors.Terminated``, a KeyboardInterrupt): `run` keeps its finished batches and says
so, every command removes its temporary files, and the exit code is 143 (130 for Ctrl-C).
"""

from __future__ import annotations

import contextlib
import errno
import signal
import sys
import threading

import click

from . import engine
from .commands.calibrate import calibrate
from .commands.conjunction import pc
from .commands.common import EXIT_ABORTED, EXIT_CODES_HELP, EXIT_TERMINATED, OneLineUsageError, UserError
from .commands.files import propagate, sample
from .commands.info import info
from .commands.rank import rank
from .commands.results import encounters, merge, plot, scenario_group
from .commands.run import run
from .engine.errors import FragriskError, Terminated


class FragriskGroup(click.Group):
    """A click group that turns FragriskError from any subcommand into a UserError, click's usage
    errors into one line, and SIGTERM (Terminated) in a command that does not handle it into one
    line and exit code 143."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            raise OneLineUsageError(exc) from None
        except FragriskError as exc:
            raise UserError(exc) from None
        except Terminated:
            click.echo("terminated (SIGTERM): nothing was written", err=True)
            raise click.exceptions.Exit(EXIT_TERMINATED) from None


@click.group(cls=FragriskGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=EXIT_CODES_HELP)
@click.version_option(engine.__version__, "--version", prog_name="fragrisk",
                      message="%(prog)s %(version)s")
def cli() -> None:
    """fragrisk: collision risk of a fragmentation debris cloud (NASA SBM + SGP4)."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``fragrisk = "fragrisk.cli:main"``)."""
    try:
        with _sigterm_raises():
            rv = cli.main(args=argv, prog_name="fragrisk", standalone_mode=False)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, Terminated):  # SIGTERM before a command ran
            click.echo("terminated (SIGTERM)", err=True)
            sys.exit(EXIT_TERMINATED)
        click.echo("Aborted!", err=True)
        sys.exit(EXIT_ABORTED)
    except click.exceptions.NoArgsIsHelpError as exc:  # `fragrisk` alone: the help text
        exc.show()
        sys.exit(exc.exit_code)
    except click.UsageError as exc:  # the group's own options (`fragrisk --bogus`)
        OneLineUsageError(exc).show()
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except FragriskError as exc:  # raised outside a subcommand, e.g. in a parameter callback
        error = UserError(exc)
        error.show()
        sys.exit(error.exit_code)
    except Terminated:
        click.echo("terminated (SIGTERM)", err=True)
        sys.exit(EXIT_TERMINATED)
    except MemoryError:  # what the up-front size checks did not foresee: still one line
        click.echo("error: out of memory; try a smaller problem (fewer realizations, a larger "
                   "step or lc_min_m)", err=True)
        sys.exit(EXIT_ABORTED)
    except OSError as exc:
        if exc.errno == errno.EPIPE:  # `fragrisk info | head`: the reader went away
            sys.exit(EXIT_ABORTED)
        raise
    sys.exit(rv if isinstance(rv, int) else 0)


@contextlib.contextmanager
def _sigterm_raises():
    """Inside the block SIGTERM raises Terminated (a KeyboardInterrupt) in the main thread, as
    Ctrl-C raises KeyboardInterrupt; the previous handler is back after it.  Elsewhere than the
    main thread (e.g. a test runner's worker) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigterm(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# Every command on the group (`fragrisk --help` lists them alphabetically).
for command in (info, propagate, sample, calibrate, run, plot, encounters, rank, scenario_group, merge, pc):
    cli.add_command(command)


if __name__ == "__main__":
    main()
