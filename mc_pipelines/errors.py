"""The one base of every error an operator can fix: its message says what to do."""


class FixableError(Exception):
    """Refused input or state an operator can fix; the message names the fix. Nothing was written.

    The CLI prints it as one `error:` line and exits with code 2."""


class OperationError(FixableError):
    """An operator action was refused; the message says what to fix. Nothing was written."""


class NotFoundError(OperationError, LookupError):
    """The thing named (a segment, a contact, a campaign, a request…) does not exist in the org.
    The control API answers 404."""


class ConflictError(OperationError):
    """The action clashes with the current state (e.g. a tag another segment manages). The
    control API answers 409."""
