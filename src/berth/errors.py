"""One error taxonomy for all of berth.

Each kind maps to an exit code here and, later, to HTTP statuses or gRPC codes
at the edges. Messages name the object and say what to do.
"""


class BerthError(Exception):
    """Base of every error berth reports to a user."""

    exit_code = 1


class NotFound(BerthError):
    pass


class AlreadyExists(BerthError):
    pass


class InvalidArgument(BerthError):
    pass


class FailedPrecondition(BerthError):
    pass


class Unsupported(BerthError):
    pass


class Unavailable(BerthError):
    pass


class PermissionDenied(BerthError):
    pass


class DeadlineExceeded(BerthError):
    """Something took longer than it is given (a CNI plugin, an exec with a timeout)."""
