"""The reaper: requeues a running task whose worker stopped renewing its lease (killed, cut off,
its machine gone), or fails it `worker_lost` after DDIFFUSION_MAX_ATTEMPTS; and returns the
tasks waiting on a model's queue (core.affinity) to the shared queue once no live worker holds
that model (its holder was killed: nobody released the claim).

Every api process runs one; the Lua step re-checks the lease and removes it, so each expired
lease is reaped once whichever process sees it first.
"""

import asyncio
import contextlib
import time

import redis.asyncio
import structlog

from api.tasks import Platform
from core.affinity import AFFINITY_KEY, RELEASE, release_args, release_keys
from core.queue import task_message
from core.records import LEASES_KEY
from core.redis_client import UNAVAILABLE_ERRORS

log = structlog.get_logger("api")


async def reap_expired(platform: Platform) -> list[tuple[str, str]]:
    """One pass over the expired leases; returns (task id, outcome) of those acted on."""
    acted = []
    for task_id in await platform.tasks.expired_leases():
        task = await platform.tasks.get(task_id)
        if task is None:
            await platform.redis.zrem(LEASES_KEY, task_id)
            continue
        message = task_message(platform.celery, task.domain, task.queue, task.id, task.priority)
        outcome, worker = await platform.tasks.reap(task, message, platform.settings.max_attempts)
        if outcome == "returned":
            log.warning("a worker took the task and was lost before starting it; it is back in its place", task_id=task_id)
            acted.append((task_id, outcome))
        elif outcome in ("requeued", "failed", "cancelled"):
            log.warning("worker lost; task " + outcome, task_id=task_id, worker=worker, attempts=task.attempts)
            acted.append((task_id, outcome))
    return acted


async def rescue_model_queues(client: redis.asyncio.Redis) -> int:
    """Drop lapsed claims; a model left without holders gives its waiting tasks back. Returns how
    many tasks went back to the shared queue."""
    release = client.register_script(RELEASE)
    moved = 0
    for model in await client.smembers(AFFINITY_KEY):
        count = int(await release(release_keys(model), release_args(model, "")))  # '': no holder of its own
        if count:
            log.warning("no worker holds the model any more; its waiting tasks went back to the shared queue", model=model, tasks=count)
        moved += count
    return moved


async def reap_forever(platform: Platform, stop: asyncio.Event) -> None:
    """Reaps every third of a lease until `stop` is set.

    After a Redis restart or failover every lease may have lapsed while its worker could not
    renew it, so nothing is reaped until Redis has answered for a whole lease: by then every
    live worker has renewed, and an expired lease means a lost worker."""
    lease_s = platform.settings.task_lease_s
    healthy_since: float | None = None
    while not stop.is_set():
        try:
            uptime_s = int((await platform.redis.info("server"))["uptime_in_seconds"])
            healthy_since = healthy_since or time.monotonic()
            if min(uptime_s, time.monotonic() - healthy_since) >= lease_s:
                await reap_expired(platform)
                await rescue_model_queues(platform.redis)
        except UNAVAILABLE_ERRORS:
            healthy_since = None
        except Exception:
            log.exception("reaper pass failed; retrying later")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), lease_s / 3)
