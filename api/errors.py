"""The one place that maps errors to HTTP: every error is `{error: {code, message, details}}`."""

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from core.errors import BacklogFullError, PlatformError, UnavailableError
from core.redis_client import UNAVAILABLE_ERRORS
from core.schemas import ErrorResponse

log = structlog.get_logger("api")

# A failover or restart takes seconds; a client that waits this long and retries usually gets through.
UNAVAILABLE_RETRY_AFTER_S = 1

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
    }.items()
}


def error_response(status: int, code: str, message: str, details: object = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorResponse(error={"code": code, "message": message, "details": details})
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


async def platform_error(request: Request, exc: PlatformError) -> JSONResponse:
    retry_after_s = exc.retry_after_s if isinstance(exc, BacklogFullError) else UNAVAILABLE_RETRY_AFTER_S if isinstance(exc, UnavailableError) else None
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s else None
    return error_response(exc.status_code, exc.code, exc.message, exc.details, headers)


async def redis_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """Redis down, or switching primaries: a pause the caller can wait out, not an internal error."""
    log.warning("redis unavailable", path=request.url.path, error=repr(exc))
    message = "Redis is not answering (a restart or failover may be under way). Retry shortly; a submit retried with the same Idempotency-Key is made at most once."
    return await platform_error(request, UnavailableError(message, code="redis_unavailable"))


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    details = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type", "")}
        for error in exc.errors()
    ]
    where = "; ".join(f"{'.'.join(str(part) for part in d['loc'])}: {d['msg']}" for d in details[:5])
    return error_response(422, "validation_error", f"Invalid request: {where}", details)


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated", 403: "forbidden"}
    return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail), headers=exc.headers)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", path=request.url.path)
    return error_response(500, "internal_error", "Internal error; it has been logged.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(PlatformError, platform_error)
    for error in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error, redis_unavailable)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
