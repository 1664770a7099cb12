"""The one place that maps errors to HTTP: every error is `{error: {code, message, details}}`."""

from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from core.errors import BacklogFullError, PlatformError, UnavailableError
from core.redis_client import UNAVAILABLE_ERRORS
from core.schemas import ErrorBody, ErrorResponse

log = structlog.get_logger("api")
REDIS_UNAVAILABLE = (
    "Redis, where the platform keeps its tasks, is not answering; retry in a few seconds "
    "(a submit retried with the same Idempotency-Key never runs twice)."
)

# Declared on every route, so the OpenAPI shows the envelope.
ERROR_RESPONSES: dict[int | str, dict] = {
    code: {"model": ErrorResponse, "description": description}
    for code, description in {
        401: "Missing, unknown or revoked API key",
        403: "The key may not use this route",
        404: "Unknown id",
        409: "Conflict",
        413: "Too large",
        422: "Invalid request: the message says what to change",
        429: "Backlog full; retry after `Retry-After` seconds",
        503: "Redis (the task store) is not answering; retry after `Retry-After` seconds",
    }.items()
}


def error_response(status: int, code: str, message: str, details: object = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorResponse(error={"code": code, "message": message, "details": details})
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


async def platform_error(request: Request, exc: PlatformError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, BacklogFullError | UnavailableError) else None
    return error_response(exc.status_code, exc.code, exc.message, exc.details, headers)


async def redis_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A Redis outage (or a failover in progress) pauses the platform: 503, never a 500 or a hang."""
    log.warning("redis unavailable", path=request.url.path, error=type(exc).__name__)
    return error_response(503, "redis_unavailable", REDIS_UNAVAILABLE, headers={"Retry-After": str(UnavailableError.retry_after_s)})


def validation_body(errors: Sequence[Mapping[str, Any]]) -> ErrorBody:
    """pydantic's errors as the envelope says them: where, what, without the rejected input."""
    details = [{"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type", "")} for error in errors]
    where = "; ".join(f"{'.'.join(str(part) for part in d['loc'])}: {d['msg']}" for d in details[:5])
    return ErrorBody(code="validation_error", message=f"Invalid request: {where}", details=details)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    body = validation_body(exc.errors())
    return error_response(422, body.code, body.message, body.details)


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated", 403: "forbidden"}
    return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail), headers=exc.headers)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", path=request.url.path)
    return error_response(500, "internal_error", "Internal error; it has been logged.")


def error_body(exc: BaseException) -> ErrorBody | None:
    """The envelope's body for an error the handlers above answer with a 4xx or a 503, for
    transports other than HTTP (the MCP tools); None for anything else, an internal error."""
    if isinstance(exc, PlatformError):
        return ErrorBody(code=exc.code, message=exc.message, details=exc.details)
    if isinstance(exc, RequestValidationError):
        return validation_body(exc.errors())
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return ErrorBody(code="redis_unavailable", message=REDIS_UNAVAILABLE)
    return None


def install(app: FastAPI) -> None:
    app.add_exception_handler(PlatformError, platform_error)
    for error in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error, redis_unavailable)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
