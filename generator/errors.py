"""Errors the CLI turns into one line and an exit status, never a traceback."""


class FateBuilderError(Exception):
    """A failure the user can act on; the message is the whole explanation."""

    exit_code = 1


class ConfigError(FateBuilderError):
    """A setting has a value that is not allowed (exit status 2, like a usage error)."""

    exit_code = 2
