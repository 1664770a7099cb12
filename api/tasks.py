"""The serving layer behind every domain's routes: submit, read, cancel, stream."""

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import redis.asyncio
from celery import Celery

from api import webhooks
from api.files import InputStore, UrlSigner
from api.keys import KeyStore, Principal, key_record
from api.usage import quota_error
from core import catalogue, workflows
from core.blobs import BlobStore
from core.errors import BacklogFullError, ConflictError, InvalidRequestError, PermissionDeniedError, UnavailableError, UnknownTaskError
from core.heartbeat import STALE_AFTER_S, WorkerBeat, queue_workers_key, worker_key
from core.queue import task_message
from core.records import BLOB_EXPIRY_KEY, AsyncTaskStore, StoredTask, events_channel, history_key, history_score, new_task_id
from core.redis_client import UNAVAILABLE_ERRORS
from core.schemas import (
    Domain,
    ModelInfo,
    Preview,
    Priority,
    Progress,
    Queue,
    TaskCreated,
    TaskOutput,
    TaskPage,
    TaskRecord,
    TaskRequest,
    TaskStatus,
    Timings,
)
from core.settings import Settings

EVENTS_POLL_S = 15
# The longest `Prefer: wait=N` a submit honours: beyond it, poll or stream.
MAX_WAIT_S = 60
REPLICAS_WAIT_MS = 1500


@dataclass
class WorkersSeen:
    """What the live workers can run, as this api process last read them: a submit's availability
    check reads them from Redis at most once a second (they beat every HEARTBEAT_S), not once per
    request, and the sets are made once per read, not per submit."""

    ttl_s: float = 1.0
    at: float = float("-inf")
    models: frozenset[str] = frozenset()  # the models some live worker can run
    queues: frozenset[str] = frozenset()  # the queues some live worker consumes

    async def refresh(self, client: redis.asyncio.Redis) -> "WorkersSeen":
        if time.monotonic() - self.at > self.ttl_s:
            workers = (await live_workers(client)).values()
            self.models = frozenset(model for worker in workers for model in worker.models)
            self.queues = frozenset(queue for worker in workers for queue in worker.queues)
            self.at = time.monotonic()
        return self


@dataclass
class Platform:
    """Long-lived clients of one api process, built in the app's lifespan."""

    settings: Settings
    redis: redis.asyncio.Redis
    tasks: AsyncTaskStore
    keys: KeyStore
    blobs: BlobStore
    inputs: InputStore
    signer: UrlSigner
    celery: Celery
    http: httpx.AsyncClient
    workers_seen: WorkersSeen = field(default_factory=WorkersSeen)


@dataclass(frozen=True)
class Prepared:
    """A request checked as a worker will run it, its inputs stored."""

    entry: catalogue.ModelEntry
    params: dict[str, Any]
    notes: list[str]
    refs: list[str]


async def prepare(platform: Platform, domain: Domain, body: TaskRequest) -> Prepared:
    """Validate, then store the inputs: every check that needs no input runs before any input is
    fetched or stored; the size rules that need the input's size run after, on the sizes read
    while storing."""
    entry, route_notes = catalogue.resolve(domain, body)
    await check_available(platform, entry)
    params, notes = catalogue.normalize(entry, body)
    if entry.engine == "comfyui":
        # The worker's own check, run here so a bad graph is a 422 and never queued (reads a template file).
        await asyncio.to_thread(workflows.prepare, params, platform.settings.resolved_comfy_workflows_dir, platform.settings.comfy_allowed_nodes)
    inputs = await platform.inputs.resolve(params)
    if "image" in inputs.sizes:
        notes += catalogue.fit_to_input(entry, body, params, inputs.sizes["image"])
    return Prepared(entry, params, route_notes + notes, list(inputs.refs))


async def submit(platform: Platform, domain: Domain, body: TaskRequest, principal: Principal, idempotency_key: str | None) -> TaskCreated:
    """Prepare, then admit: one atomic step checks the backlogs and writes the record."""
    webhook = await webhooks.check(platform, body.webhook, principal, for_batch=False)
    prepared = await prepare(platform, domain, body)
    entry, params, notes, refs = prepared.entry, prepared.params, prepared.notes, prepared.refs
    settings = platform.settings
    task_id = new_task_id()
    admission = await platform.tasks.admit(
        task_id=task_id,
        domain=domain,
        model=entry.name,
        queue=entry.queue,
        key_id=principal.id,
        request=params,
        notes=notes,
        message=task_message(platform.celery, domain, entry.queue, task_id, body.priority),
        per_key_limit=settings.backlog_per_key,
        total_limit=settings.backlog_total,
        idempotency=(idempotency_key, hashlib.sha256(body.model_dump_json().encode()).hexdigest()) if idempotency_key else None,
        key_record=key_record(principal.id),
        priority=body.priority,
        input_refs=refs,
        webhook=webhook,
    )
    if settings.redis_min_replicas and admission.outcome in ("created", "existing"):
        await wait_for_replicas(platform.redis, settings.redis_min_replicas)
    if admission.outcome == "existing":
        task = await get_owned(platform, domain, admission.task_id or "", principal)
        return TaskCreated(id=task.id, status=task.status, position=task.position)
    if admission.outcome == "conflict":
        raise ConflictError("This Idempotency-Key was used with a different request body; use a new key.", details={"task_id": admission.task_id})
    if admission.outcome == "quota":
        raise quota_error(admission.quota_s or 0)
    if admission.outcome == "priority":
        raise priority_error(body.priority, admission.cap)
    if admission.outcome == "backlog_key":
        raise BacklogFullError(f"This key has {admission.count} unfinished tasks (limit {settings.backlog_per_key}); wait for some to finish.", retry_after_s=10)
    if admission.outcome == "backlog_total":
        raise BacklogFullError(f"The platform has {admission.count} unfinished tasks (limit {settings.backlog_total}); try again later.", retry_after_s=10)
    return TaskCreated(id=task_id, position=admission.position)


def priority_error(asked: Priority, cap: Priority | None) -> PermissionDeniedError:
    allowed = [priority.value for priority in Priority if cap is None or priority.band >= cap.band]
    return PermissionDeniedError(
        f"This key may submit at most `{cap}` priority, not `{asked}`: ask for one of {', '.join(allowed)}, "
        "or ask the admin to raise the key's cap.",
        code="priority_not_allowed",
    )


async def check_available(platform: Platform, entry: catalogue.ModelEntry) -> None:
    """Refuse a model no live worker can run, so that accepted means it runs.

    A hosted model needs a worker with its provider configured; a workflow, a comfy worker that
    reaches ComfyUI (a live comfy worker that does not is refused). A local model is refused only
    when some worker of its queue is live and none of them has its weights (or may download
    them): with no live worker on the queue at all the platform may be starting, and a worker
    that comes up with the weights will run it, so the task is accepted and waits."""
    seen = await platform.workers_seen.refresh(platform.redis)
    if entry.name in seen.models:
        return
    if entry.hosted:
        raise InvalidRequestError(
            f"{entry.name} is not configured here: no {entry.queue.value} worker has its provider key. "
            "Pick another model, or ask the admin to configure the provider.",
            code="model_not_configured",
        )
    queue_live = entry.queue.value in seen.queues
    if entry.engine == "comfyui" and queue_live:
        raise InvalidRequestError(
            f"ComfyUI is not answering at the {entry.queue.value} workers ({platform.settings.comfy_url}): start the sidecar "
            "(`docker compose --profile comfy up -d`, or a ComfyUI of your own) and point DDIFFUSION_COMFY_URL at it.",
            code="comfy_unavailable",
        )
    if entry.weights and queue_live:
        raise InvalidRequestError(
            f"{entry.name} is not available here: no live {entry.queue.value} worker has its weights ({entry.weights}). "
            f"Put them in the workers' models dir (DDIFFUSION_MODELS_DIR; on this machine "
            f"{platform.settings.resolved_models_dir / entry.weights}) with `ddiffusion models pull {entry.name}` on the "
            "worker machine, or let the workers download them (DDIFFUSION_ALLOW_DOWNLOADS=true); or pick a model whose "
            "`available` is true in the domain's /models listing.",
            code="model_unavailable",
            details={"model": entry.name, "weights": entry.weights},
        )


async def wait_for_replicas(client: redis.asyncio.Redis, replicas: int) -> None:
    """A 202 means durable: at least `replicas` replicas hold the task before we answer.
    WAIT covers the writes its own connection has seen; the PING before it, on the same
    connection, makes that everything the primary holds now, whichever pooled connection
    wrote the task (and an existing task found on a new primary)."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.ping()
        pipe.wait(replicas, REPLICAS_WAIT_MS)
        _, acknowledged = await pipe.execute()
    if acknowledged < replicas:
        raise UnavailableError(
            f"Only {acknowledged} of {replicas} Redis replicas confirmed the task within {REPLICAS_WAIT_MS / 1000:g}s, so it might not "
            "survive a failover. Retry with the same Idempotency-Key: the task is made at most once.",
            code="redis_unavailable",
        )


async def keep_blobs(platform: Platform, refs: list[str]) -> None:
    """Keep these uploaded blobs for another result TTL from now (never shortening a later expiry)."""
    expires = time.time() + platform.settings.result_ttl_s
    await platform.redis.zadd(BLOB_EXPIRY_KEY, dict.fromkeys(refs, expires), gt=True)


async def get_owned(platform: Platform, domain: Domain, task_id: str, principal: Principal) -> StoredTask:
    """A task of this domain made by this key; anything else is indistinguishable from absent."""
    task = await platform.tasks.get(task_id) if len(task_id) <= 64 else None
    if task is None or task.domain != domain or task.key_id != principal.id:
        raise UnknownTaskError(f"No {domain.value} task {task_id!r} for this key.")
    return task


async def cancel(platform: Platform, domain: Domain, task_id: str, principal: Principal) -> StoredTask:
    task = await get_owned(platform, domain, task_id, principal)
    outcome = await platform.tasks.cancel(task)
    if outcome not in ("cancelled", "cancelling"):
        raise ConflictError(f"The task has already {outcome}; there is nothing to cancel.", details={"status": outcome})
    return await get_owned(platform, domain, task_id, principal)


def render(platform: Platform, task: StoredTask, base_url: str) -> TaskRecord:
    base = platform.settings.public_url or base_url
    outputs = [
        TaskOutput(**output, url=platform.signer.url(base, output["ref"], output.get("filename")) if output.get("ref") else None, label=task.label)
        for output in task.outputs
    ]
    end = task.finished_at
    return TaskRecord(
        id=task.id,
        domain=task.domain,
        model=task.model,
        status=task.status,
        position=task.position,
        progress=Progress(
            step=task.step, total=task.total, fraction=min(1.0, task.step / task.total) if task.total else 0.0,
            eta_s=task.eta_s if task.status == TaskStatus.running else None,
        ),  # fmt: skip
        partial_text=task.partial_text if task.status == TaskStatus.running else None,
        preview=Preview(url=platform.signer.url(base, task.preview["ref"]), step=task.preview["step"])
        if task.preview and task.status == TaskStatus.running
        else None,
        created_at=task.timestamp("created_at"),
        started_at=task.timestamp("started_at"),
        finished_at=task.timestamp("finished_at"),
        timings=Timings(
            queued_s=round(task.started_at - task.created_at, 4) if task.started_at else None,
            run_s=round(end - task.started_at, 4) if end and task.started_at else None,
        ),
        request=task.request,
        outputs=outputs,
        error=task.error,
        logs=task.logs,
        attempts=task.attempts,
        batch=task.batch,
        label=task.label,
        webhooks=task.webhooks,
        priority=task.priority,
    )


async def record_events(platform: Platform, task: StoredTask, base_url: str) -> AsyncIterator[dict[str, str]]:
    """The record as JSON on every change, ending after a terminal status.

    Subscribed before the first read, so no change between read and subscribe is lost; each
    wake-up re-reads the record, so bursts of pings coalesce into one event.
    """
    try:
        async with platform.redis.pubsub() as pubsub:
            await pubsub.subscribe(events_channel(task.id))
            last = ""
            while True:
                current = await platform.tasks.get(task.id)
                if current is None:
                    return
                data = render(platform, current, base_url).model_dump_json()
                if data != last:
                    yield {"event": "record", "data": data}
                    last = data
                if current.status.is_terminal():
                    return
                await pubsub.get_message(ignore_subscribe_messages=True, timeout=EVENTS_POLL_S)
                while await pubsub.get_message(ignore_subscribe_messages=True, timeout=0):
                    pass
    except UNAVAILABLE_ERRORS:
        # Mid-stream there is no status code left to send: end the stream; clients reconnect.
        return


async def history(
    platform: Platform,
    principal: Principal,
    base_url: str,
    *,
    domain: Domain | None,
    model: str | None,
    status: TaskStatus | None,
    since: datetime | None,
    cursor: str | None,
    limit: int,
    key_id: str | None,
    batch: str | None = None,
) -> TaskPage:
    """A page of one key's tasks, newest first, from the one history index that matches the
    filters: O(log n + limit) in Redis, whatever the key has made."""
    owner = principal.id
    if key_id is not None and key_id != principal.id:
        if not principal.is_admin:
            raise PermissionDeniedError("Only the admin key lists another key's tasks; leave out key_id for your own.")
        owner = key_id
    if cursor is not None and not cursor.isdigit():
        raise InvalidRequestError("cursor: not one this api handed out; take `next_cursor` from the previous page, or start without one.")
    if batch is not None:
        return await batch_history(platform, owner, base_url, batch, domain, model, status, since, cursor, limit)
    index = history_key(owner, domain=domain.value if domain else "", model=model or "", status=status.value if status else "")
    found, next_cursor = await platform.tasks.history(
        index,
        before=int(cursor) if cursor else None,
        oldest=history_score(since.timestamp()) if since else None,
        limit=limit,
    )
    records = [render(platform, task, base_url) for task in found if domain is None or task.domain == domain]
    return TaskPage(tasks=records, next_cursor=None if next_cursor is None else str(next_cursor))


async def batch_history(
    platform: Platform, owner: str, base_url: str, batch: str, domain: Domain | None, model: str | None,
    status: TaskStatus | None, since: datetime | None, cursor: str | None, limit: int,
) -> TaskPage:
    """A batch's tasks, newest first, filtered in memory: a batch holds at most
    DDIFFUSION_BATCH_MAX_TASKS, so this reads a bounded list; the cursor is a position in it."""
    fields, found = await platform.tasks.batch(batch) if len(batch) <= 64 else ({}, [])
    if fields.get("key_id") != owner:
        return TaskPage(tasks=[])
    matching = [
        task for task in reversed(found)
        if (domain is None or task.domain == domain) and (model is None or task.model == model)
        and (status is None or task.status == status) and (since is None or task.created_at >= since.timestamp())
    ]  # fmt: skip
    start = int(cursor) if cursor else 0
    page = matching[start : start + limit]
    more = start + limit < len(matching)
    return TaskPage(tasks=[render(platform, task, base_url) for task in page], next_cursor=str(start + limit) if more else None)


def preferred_wait(prefer: str | None) -> int | None:
    """The seconds of an RFC 7240 `Prefer: wait=N` (capped at MAX_WAIT_S), None without a valid one."""
    for preference in (prefer or "").split(","):
        name, _, value = preference.split(";")[0].strip().partition("=")
        if name.strip().lower() == "wait" and value.strip().isdigit():
            return min(int(value.strip()), MAX_WAIT_S)
    return None


async def wait_for_end(platform: Platform, task_id: str, timeout_s: float) -> StoredTask | None:
    """The record once the task has ended, or None when it has not within timeout_s (or Redis
    went away meanwhile: the task is accepted all the same, the caller answers 202)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        async with platform.redis.pubsub() as pubsub:
            await pubsub.subscribe(events_channel(task_id))  # before the read: no change is missed
            while True:
                current = await platform.tasks.get(task_id)
                if current is None or current.status.is_terminal():
                    return current
                left = deadline - loop.time()
                if left <= 0:
                    return None
                await pubsub.get_message(ignore_subscribe_messages=True, timeout=min(left, EVENTS_POLL_S))
    except UNAVAILABLE_ERRORS:
        return None


async def list_models(platform: Platform, domain: Domain) -> list[ModelInfo]:
    """Catalogue entries of a domain, `available` where a live worker can run them and
    `weights_present` where one has their weights on disk."""
    workers = await live_workers(platform.redis)
    available = {model for worker in workers.values() for model in worker.models}
    present = {model for worker in workers.values() for model in worker.present}
    warm = {model for worker in workers.values() for model in worker.warm}
    entries = catalogue.models_for(domain)
    templates = None
    if any(entry.engine == "comfyui" for entry in entries):
        templates = await asyncio.to_thread(workflows.list_templates, platform.settings.resolved_comfy_workflows_dir)
    return [
        ModelInfo(
            name=entry.name,
            domain=entry.domain,
            queue=entry.queue,
            description=entry.description,
            capabilities=sorted(entry.capabilities),
            defaults=entry.defaults,
            limits=entry.limits.model_dump(),
            available=entry.name in available,
            weights_present=entry.name in present,
            schedulers=list(entry.schedulers),
            output_formats=list(entry.output_formats),
            warm=entry.name in warm,
            weights=entry.weights,
            templates=templates if entry.engine == "comfyui" else None,
        )
        for entry in entries
    ]


async def live_workers(client: redis.asyncio.Redis) -> dict[str, WorkerBeat]:
    """Workers that beat recently, by hostname, with their queues and models."""
    since = time.time() - STALE_AFTER_S
    names: set[str] = set()
    for queue in Queue:
        names.update(await client.zrangebyscore(queue_workers_key(queue), since, "+inf"))
    if not names:
        return {}
    values = await client.mget([worker_key(name) for name in sorted(names)])
    return {name: WorkerBeat.model_validate_json(value) for name, value in zip(sorted(names), values, strict=True) if value}
