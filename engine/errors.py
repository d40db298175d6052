"""The exception types the CLI turns into a one-line message and a non-zero exit, the one that
stands for SIGTERM, and the one helper that makes any text (or exception) fit on one line."""


class FragriskError(Exception):
    """A user-facing error: its message is one line naming the file, the field and the value."""


class InputError(FragriskError):
    """Bad input: a file, a field or a value that fragrisk cannot accept."""


class DeviceMemoryError(FragriskError):
    """The GPU has too little free memory even for a batch of one realization: a limit of the
    machine (or of other processes on it), not a mistake in the input. The CLI exits with its own
    code (cli.EXIT_DEVICE_MEMORY)."""


def one_line(text: object) -> str:
    """``text`` (or an exception's message) with every run of whitespace, newlines included,
    made one space; an exception without a message gives its type's name."""
    line = " ".join(str(text).split())
    if not line and isinstance(text, BaseException):
        return type(text).__name__
    return line


class Terminated(KeyboardInterrupt):
    """SIGTERM (what a batch scheduler sends before it kills a job), raised where Ctrl-C's
    KeyboardInterrupt would be: every interrupt path (finished batches kept in the checkpoint,
    temporary files removed) handles both; the CLI exits 143 (128 + SIGTERM) instead of 130."""


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """'1 realization', '30 realizations', '1,641 fragments': a count and its noun, for messages."""
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"
