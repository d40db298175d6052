"""The exception type the CLI turns into a one-line message and a non-zero exit, and the one
that stands for SIGTERM."""


class FragriskError(Exception):
    """A user-facing error: its message is one line naming the file, the field and the value."""


class InputError(FragriskError):
    """Bad input: a file, a field or a value that fragrisk cannot accept."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (what a batch scheduler sends before it kills a job), raised where Ctrl-C's
    KeyboardInterrupt would be: every interrupt path (finished batches kept in the checkpoint,
    temporary files removed) handles both; the CLI exits 143 (128 + SIGTERM) instead of 130."""
