"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class FragriskError(Exception):
    """A user-facing error: its message is one line naming the file, the field and the value."""


class InputError(FragriskError):
    """Bad input: a file, a field or a value that fragrisk cannot accept."""
