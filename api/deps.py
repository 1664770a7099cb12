"""Dependencies as Annotated aliases, so handlers read like prose."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.keys import Principal
from api.tasks import Platform
from core.errors import AuthenticationError, PermissionDeniedError

# X-API-Key is declared first, so Swagger UI's Authorize dialog shows it first: fill in that one.
_api_key_header = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    auto_error=False,
    description="Fill in this one. Your key, `dd_<id>_<secret>`: an admin creates it with POST /api/admin/keys. The admin key "
    "itself is printed by `make run` and kept in `data/admin_key` (or set by DDIFFUSION_ADMIN_KEY); it works here too.",
)
_bearer = HTTPBearer(
    scheme_name="BearerKey",
    auto_error=False,
    description="The same key as `Authorization: Bearer <key>`, for tools that only send bearer tokens; leave empty when X-API-Key is set.",
)


def platform_of(request: Request) -> Platform:
    return request.app.state.platform


# Dependencies are async even where they need not be: FastAPI runs a plain `def` in its thread
# pool, a thread hop per request.
async def get_platform(request: Request) -> Platform:
    return platform_of(request)


PlatformDep = Annotated[Platform, Depends(get_platform)]


async def current_principal(
    request: Request,
    api_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    return await check_key(request, api_key, bearer)


async def submit_principal(request: Request) -> Principal:
    """current_principal for the submit routes, the hot path: the same two security schemes read
    the headers, called here rather than solved by FastAPI as two more dependencies on every
    request, and declared in the route's OpenAPI as KEY_SECURITY."""
    return await check_key(request, await _api_key_header(request), await _bearer(request))


async def check_key(request: Request, api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> Principal:
    presented = api_key or (bearer.credentials if bearer else None)
    if not presented:
        raise AuthenticationError("Missing API key: send it as `X-API-Key: <key>` or `Authorization: Bearer <key>`.")
    # The platform read here, not through PlatformDep: each dependency FastAPI solves costs every request.
    principal = await platform_of(request).keys.authenticate(presented[:512])
    if principal is None:
        raise AuthenticationError("Unknown or revoked API key.")
    return principal


async def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise PermissionDeniedError("This route needs the admin key.")
    return principal


CurrentKey = Annotated[Principal, Depends(current_principal)]
SubmitKey = Annotated[Principal, Depends(submit_principal)]
KEY_SECURITY = [{_api_key_header.scheme_name: []}, {_bearer.scheme_name: []}]
AdminKey = Annotated[Principal, Depends(admin_principal)]


async def base_url(request: Request) -> str:
    return str(request.base_url)


BaseUrl = Annotated[str, Depends(base_url)]
