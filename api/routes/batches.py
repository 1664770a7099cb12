"""Batches and wedges: POST a base request with `vary` (or a list), then follow them as one."""

from typing import Annotated

from fastapi import APIRouter, Body, Response
from sse_starlette import EventSourceResponse

from api import batches
from api.deps import BaseUrl, CurrentKey, PlatformDep
from api.errors import ERROR_RESPONSES
from core.schemas import BatchCreated, BatchRecord, BatchRequest

router = APIRouter(prefix="/batches", tags=["batches"], responses=ERROR_RESPONSES)

EXAMPLES = {
    "wedge": {
        "summary": "A wedge: seeds × guidance (8 tasks)",
        "value": {
            "domain": "images",
            "base": {"model": "tiny-sd", "prompt": "a red teapot", "width": 64, "height": 64, "steps": 4},
            "vary": {"seed": {"from": 1, "to": 4}, "guidance": [5, 7.5]},
        },
    },
    "frames": {
        "summary": "A frame range, labelled by frame",
        "value": {
            "domain": "images",
            "base": {"model": "tiny-sd", "prompt": "a red teapot", "width": 64, "height": 64, "steps": 4},
            "requests": [{"seed": 1001}, {"seed": 1002}, {"seed": 1003}],
            "labels": ["1001", "1002", "1003"],
        },
    },
}


@router.post(
    "",
    status_code=202,
    operation_id="create_batch",
    summary="Submit a batch",
    description="Every task is checked as a single submit would be (a 422 names the first one that is not right), then all are "
    "admitted at once against the backlogs, or none.",
)
async def create(
    body: Annotated[BatchRequest, Body(openapi_examples=EXAMPLES)], response: Response, platform: PlatformDep, key: CurrentKey
) -> BatchCreated:
    created = await batches.submit(platform, body, key)
    response.headers["Location"] = f"/api/batches/{created.id}"
    return created


@router.get("/{batch_id}", operation_id="get_batch", summary="Get a batch")
async def get(batch_id: str, platform: PlatformDep, key: CurrentKey, base_url: BaseUrl) -> BatchRecord:
    """Counts by status, overall progress, and every task with its label, as GET on each returns it."""
    fields, found = await batches.read(platform, batch_id, key)
    return batches.render(platform, fields, found, base_url)


@router.delete("/{batch_id}", operation_id="cancel_batch", summary="Cancel a batch")
async def cancel(batch_id: str, platform: PlatformDep, key: CurrentKey, base_url: BaseUrl) -> BatchRecord:
    """Every unfinished task: a queued one never runs, a running one stops at its next step."""
    return await batches.cancel(platform, batch_id, key, base_url)


@router.get(
    "/{batch_id}/events",
    operation_id="stream_batch_events",
    summary="Stream a batch's changes",
    description="Server-Sent Events: the batch record whenever a task starts or ends (and its progress every 2 s), closed when all have ended.",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events; each `data` is the batch record."}},
)
async def events(batch_id: str, platform: PlatformDep, key: CurrentKey, base_url: BaseUrl) -> EventSourceResponse:
    await batches.read(platform, batch_id, key)
    return EventSourceResponse(batches.events(platform, batch_id, key, base_url), ping=10)
