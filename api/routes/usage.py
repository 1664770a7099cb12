"""GET /api/usage: the calling key's use per day."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from api import usage
from api.deps import CurrentKey, PlatformDep
from api.errors import ERROR_RESPONSES
from core.schemas import Quota, UsageReport

router = APIRouter(tags=["usage"], responses=ERROR_RESPONSES)

Since = Annotated[date | None, Query(description="First UTC day (default: 6 days before `until`).")]
Until = Annotated[date | None, Query(description="Last UTC day, included (default: today).")]


@router.get("/usage", operation_id="get_usage", summary="Your usage per day")
async def own_usage(platform: PlatformDep, key: CurrentKey, since: Since = None, until: Until = None) -> UsageReport:
    """Tasks by status and model, GPU seconds, provider calls and billed units, output bytes: counted as tasks end."""
    return await usage.report(platform, key.id, since, until)


@router.get("/usage/quota", operation_id="get_quota", summary="Your GPU quota")
async def own_quota(platform: PlatformDep, key: CurrentKey) -> Quota:
    return await usage.quota(platform, key.id)
