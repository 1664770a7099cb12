"""Batches: many tasks of one domain, checked one by one and admitted all together (or none),
then read, streamed and cancelled as one."""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api import tasks, webhooks
from api.keys import Principal, key_record
from api.tasks import Platform
from api.usage import quota_error
from core.errors import BacklogFullError, InvalidRequestError, NotFoundError, PlatformError
from core.queue import task_message
from core.records import NewTask, StoredTask, batch_channel, new_task_id
from core.redis_client import UNAVAILABLE_ERRORS
from core.schemas import REQUEST_TYPES, BatchCreated, BatchRecord, BatchRequest, BatchTask, TaskStatus

# A stream re-reads the batch at least this often, so running tasks' progress moves too.
PROGRESS_EVERY_S = 2.0


async def submit(platform: Platform, body: BatchRequest, principal: Principal) -> BatchCreated:
    """Expand, check every task as a single submit would (the first problem is the 422, naming
    the task), then admit them all in one atomic step against both backlogs."""
    settings = platform.settings
    request_type = REQUEST_TYPES[body.domain]
    webhook = await webhooks.check(platform, body.webhook, principal, for_batch=True)
    batch_id = new_task_id()
    ready: list[NewTask] = []
    for index, (fields, label) in enumerate(body.expand(settings.batch_max_tasks)):
        where = f"task {index}" + (f" ({label})" if label is not None else "")
        try:
            request = request_type.model_validate(fields)
        except ValidationError as exc:
            raise RequestValidationError([error | {"loc": ("body", "tasks", index, *error["loc"])} for error in exc.errors()]) from None
        try:
            prepared = await tasks.prepare(platform, body.domain, request)
        except InvalidRequestError as exc:
            raise type(exc)(f"{where}: {exc.message}", details=exc.details, code=exc.code) from None
        task_id = new_task_id()
        message = task_message(platform.celery, body.domain, prepared.entry.queue, task_id, request.priority)
        ready.append(
            NewTask(task_id, prepared.entry.name, prepared.entry.queue, prepared.params, prepared.notes, message, prepared.refs, label, request.priority)
        )
    admission = await platform.tasks.admit_batch(
        batch_id=batch_id, domain=body.domain, key_id=principal.id, tasks=ready,
        per_key_limit=settings.backlog_per_key, total_limit=settings.backlog_total, key_record=key_record(principal.id), webhook=webhook,
    )  # fmt: skip
    if admission.outcome == "quota":
        raise quota_error(admission.quota_s or 0)
    if admission.outcome == "priority":
        asked = min((task.priority for task in ready), key=lambda priority: priority.band)
        raise tasks.priority_error(asked, admission.cap)
    if admission.outcome == "backlog_key":
        raise BacklogFullError(
            f"This key has {admission.count} unfinished tasks; {len(ready)} more would pass its limit of {settings.backlog_per_key}. "
            "Wait for some to finish, or split the batch.",
            retry_after_s=10,
        )
    if admission.outcome == "backlog_total":
        raise BacklogFullError(
            f"The platform has {admission.count} unfinished tasks; {len(ready)} more would pass its limit of {settings.backlog_total}.",
            retry_after_s=10,
        )
    positions = admission.positions or [None] * len(ready)
    return BatchCreated(id=batch_id, tasks=[BatchTask(id=t.task_id, label=t.label, position=p) for t, p in zip(ready, positions, strict=True)])


async def read(platform: Platform, batch_id: str, principal: Principal) -> tuple[dict[str, str], list[StoredTask]]:
    fields, found = await platform.tasks.batch(batch_id) if len(batch_id) <= 64 else ({}, [])
    if not fields or fields.get("key_id") != principal.id:
        raise NotFoundError(f"No batch {batch_id!r} for this key.", code="unknown_batch")
    return fields, found


def render(platform: Platform, fields: dict[str, str], found: list[StoredTask], base_url: str) -> BatchRecord:
    records = [tasks.render(platform, task, base_url) for task in found]
    counts = dict.fromkeys(TaskStatus, 0)
    for record in records:
        counts[record.status] += 1
    total = int(fields["count"])
    fraction = sum(1.0 if r.status.is_terminal() else r.progress.fraction for r in records) / total if total else 1.0
    return BatchRecord(
        id=fields["id"],
        domain=fields["domain"],
        created_at=datetime.fromtimestamp(float(fields["created_at"]), UTC),
        done=all(record.status.is_terminal() for record in records),
        counts=counts,
        fraction=round(fraction, 4),
        tasks=records,
        webhooks=list(json.loads(fields.get("webhooks") or "{}").values()),
    )


async def cancel(platform: Platform, batch_id: str, principal: Principal, base_url: str) -> BatchRecord:
    """Cancel every unfinished task: queued ones never run, running ones stop at their next step."""
    _, found = await read(platform, batch_id, principal)
    await asyncio.gather(*(platform.tasks.cancel(task) for task in found if not task.status.is_terminal()))
    fields, found = await read(platform, batch_id, principal)
    return render(platform, fields, found, base_url)


async def events(platform: Platform, batch_id: str, principal: Principal, base_url: str) -> AsyncIterator[dict[str, str]]:
    """The batch record on every change (a task starting or ending, and its progress at least
    every PROGRESS_EVERY_S), closed once every task has ended."""
    try:
        async with platform.redis.pubsub() as pubsub:
            await pubsub.subscribe(batch_channel(batch_id))
            last = ""
            while True:
                try:
                    fields, found = await read(platform, batch_id, principal)
                except PlatformError:
                    return  # expired meanwhile
                record = render(platform, fields, found, base_url)
                data = record.model_dump_json()
                if data != last:
                    yield {"event": "batch", "data": data}
                    last = data
                if record.done:
                    return
                await pubsub.get_message(ignore_subscribe_messages=True, timeout=PROGRESS_EVERY_S)
                while await pubsub.get_message(ignore_subscribe_messages=True, timeout=0):
                    pass
    except UNAVAILABLE_ERRORS:
        return
