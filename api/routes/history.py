"""GET /api/tasks: the calling key's tasks across domains, newest first, paged by cursor."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api import tasks
from api.deps import BaseUrl, CurrentKey, PlatformDep
from api.errors import ERROR_RESPONSES
from core.schemas import Domain, TaskPage, TaskStatus

router = APIRouter(prefix="/tasks", tags=["tasks"], responses=ERROR_RESPONSES)

# The filters as types, so the MCP tool list_tasks takes them with the same limits.
ModelFilter = Annotated[str | None, Query(max_length=200, description="A catalogue name, e.g. tiny-sd.")]
Since = Annotated[datetime | None, Query(description="Only tasks created at or after this time (ISO 8601).")]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=40, description="`next_cursor` of the previous page.")]
BatchFilter = Annotated[str | None, Query(max_length=64, description="Only the tasks of this batch.")]


@router.get(
    "",
    operation_id="list_tasks",
    summary="List your tasks",
    description="Newest first, as GET on each returns them; filters combine. Records (and so their entries here) expire "
    "DDIFFUSION_RESULT_TTL after they end.",
)
async def list_tasks(
    platform: PlatformDep,
    key: CurrentKey,
    base_url: BaseUrl,
    domain: Domain | None = None,
    status: TaskStatus | None = None,
    model: ModelFilter = None,
    since: Since = None,
    limit: Limit = 20,
    cursor: Cursor = None,
    batch: BatchFilter = None,
    key_id: Annotated[str | None, Query(max_length=64, description="Admin key only: another key's tasks (its id).")] = None,
) -> TaskPage:
    return await tasks.history(
        platform, key, base_url, domain=domain, model=model, status=status, since=since, cursor=cursor, limit=limit, key_id=key_id, batch=batch
    )
