"""One rooted error hierarchy. The api maps these to HTTP in exactly one module; workers
write `code` and `message` into the failed task record."""

from typing import Any


class PlatformError(Exception):
    """An error whose message is safe to show to the caller."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code


class InvalidRequestError(PlatformError):
    status_code = 422
    code = "invalid_request"


class UnknownModelError(InvalidRequestError):
    code = "unknown_model"


class InvalidInputError(InvalidRequestError):
    code = "invalid_input"


class AuthenticationError(PlatformError):
    status_code = 401
    code = "unauthenticated"


class PermissionDeniedError(PlatformError):
    status_code = 403
    code = "forbidden"


class NotFoundError(PlatformError):
    status_code = 404
    code = "not_found"


class UnknownTaskError(NotFoundError):
    code = "unknown_task"


class ConflictError(PlatformError):
    status_code = 409
    code = "conflict"


class PayloadTooLargeError(PlatformError):
    status_code = 413
    code = "payload_too_large"


class BacklogFullError(PlatformError):
    status_code = 429
    code = "backlog_full"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, details={"retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s


class QuotaExceededError(BacklogFullError):
    """The key has used its daily GPU seconds; it may submit gpu work again after the reset."""

    code = "quota_exceeded"

    def __init__(self, message: str, *, retry_after_s: int, resets_at: str) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.details = {"retry_after_s": retry_after_s, "resets_at": resets_at}


class UnavailableError(PlatformError):
    """Something the platform stands on is not answering; the client may retry after a moment."""

    status_code = 503
    code = "unavailable"
    # A restart or failover takes seconds; a client that waits this long usually gets through.
    retry_after_s = 2


class ModelUnavailableError(PlatformError):
    """Raised in workers when weights are missing; fails the task, never reaches HTTP."""

    status_code = 503
    code = "model_unavailable"


class TaskCancelled(Exception):
    """Raised inside a running task when its record asks for cancellation."""
