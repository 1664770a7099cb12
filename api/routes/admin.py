from typing import Annotated

from fastapi import APIRouter, Query, Response

from api import usage, webhooks
from api.deps import AdminKey, PlatformDep
from api.errors import ERROR_RESPONSES
from api.routes.usage import Since, Until
from core.errors import NotFoundError
from core.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyInfo, PriorityCap, Quota, QuotaSet, UsageReport, WebhookSecret

router = APIRouter(prefix="/admin", tags=["admin"], responses=ERROR_RESPONSES)


@router.post("/keys", status_code=201, operation_id="create_key", summary="Create an API key")
async def create_key(body: ApiKeyCreate, platform: PlatformDep, admin: AdminKey) -> ApiKeyCreated:
    """The key is in this response only; the server keeps a salted hash."""
    return await platform.keys.create(body.name, body.max_priority)


@router.get("/keys", operation_id="list_keys", summary="List API keys")
async def list_keys(platform: PlatformDep, admin: AdminKey) -> list[ApiKeyInfo]:
    return await platform.keys.list()


@router.delete("/keys/{key_id}", status_code=204, operation_id="revoke_key", summary="Revoke an API key")
async def revoke_key(key_id: str, platform: PlatformDep, admin: AdminKey) -> Response:
    if not await platform.keys.revoke(key_id):
        raise NotFoundError(f"No API key {key_id!r}.")
    return Response(status_code=204)


@router.post("/keys/{key_id}/webhook-secret", status_code=201, operation_id="create_webhook_secret", summary="Create a key's webhook secret")
async def create_webhook_secret(key_id: str, platform: PlatformDep, admin: AdminKey) -> WebhookSecret:
    """Webhooks of this key's tasks are signed with it (Standard Webhooks); shown this once. A new one replaces the old at once."""
    if not await platform.keys.exists(key_id):
        raise NotFoundError(f"No API key {key_id!r}.")
    secret = webhooks.new_secret()
    await platform.redis.set(webhooks.secret_key(key_id), secret)
    return WebhookSecret(key_id=key_id, secret=secret)


@router.put("/keys/{key_id}/priority", operation_id="set_max_priority", summary="Cap a key's priority")
async def set_max_priority(key_id: str, body: PriorityCap, platform: PlatformDep, admin: AdminKey) -> PriorityCap:
    """Its submits above the cap are refused with 403 `priority_not_allowed` from now on; tasks already queued keep theirs."""
    if not await platform.keys.exists(key_id):
        raise NotFoundError(f"No API key {key_id!r}.")
    await platform.keys.set_max_priority(key_id, body.max_priority)
    return body


@router.get("/usage", operation_id="get_all_usage", summary="Usage of every key per day")
async def all_usage(
    platform: PlatformDep,
    admin: AdminKey,
    since: Since = None,
    until: Until = None,
    key_id: Annotated[str | None, Query(max_length=64, description="One key's only.")] = None,
) -> UsageReport:
    return await usage.report(platform, key_id, since, until)


@router.put("/keys/{key_id}/quota", operation_id="set_quota", summary="Set a key's daily GPU quota")
async def set_quota(key_id: str, body: QuotaSet, platform: PlatformDep, admin: AdminKey) -> Quota:
    """Over it, the key's gpu submits are refused with 429 `quota_exceeded` until midnight UTC (a task already running finishes)."""
    if not await platform.keys.exists(key_id):
        raise NotFoundError(f"No API key {key_id!r}.")
    return await usage.set_quota(platform, key_id, body.gpu_seconds_per_day)
