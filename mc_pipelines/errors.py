"""The one base of every error an operator can fix: its message says what to do."""


class FixableError(Exception):
    """Refused input or state an operator can fix; the message names the fix. Nothing was written.

    The CLI prints it as one `error:` line and exits with code 2."""


class OperationError(FixableError):
    """An operator action was refused; the message says what to fix. Nothing was written."""
