from fastapi import APIRouter, Response

from api.deps import AdminKey, PlatformDep
from api.errors import ERROR_RESPONSES
from core.errors import NotFoundError
from core.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyInfo

router = APIRouter(prefix="/admin", tags=["admin"], responses=ERROR_RESPONSES)


@router.post("/keys", status_code=201, operation_id="create_key", summary="Create an API key")
async def create_key(body: ApiKeyCreate, platform: PlatformDep, admin: AdminKey) -> ApiKeyCreated:
    """The key is in this response only; the server keeps a salted hash."""
    return await platform.keys.create(body.name)


@router.get("/keys", operation_id="list_keys", summary="List API keys")
async def list_keys(platform: PlatformDep, admin: AdminKey) -> list[ApiKeyInfo]:
    return await platform.keys.list()


@router.delete("/keys/{key_id}", status_code=204, operation_id="revoke_key", summary="Revoke an API key")
async def revoke_key(key_id: str, platform: PlatformDep, admin: AdminKey) -> Response:
    if not await platform.keys.revoke(key_id):
        raise NotFoundError(f"No API key {key_id!r}.")
    return Response(status_code=204)
