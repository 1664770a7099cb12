"""Webhook deliveries, from the api's background loop (never from a GPU worker, so a slow
receiver holds nothing but this loop's time).

A task's transitions queue deliveries in Redis (the zset dd:webhooks, inside the same Lua steps
that change the status); any api replica claims due ones, POSTs the record as GET returns it,
signed per Standard Webhooks with its key's secret, and retries with exponential backoff for
DDIFFUSION_WEBHOOK_RETRY_S. Each attempt's outcome is kept on the record (`webhooks`)."""

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime
from typing import Any

import structlog
from standardwebhooks import Webhook

from api import batches
from api.tasks import Platform, render
from api.webhooks import host_allowed, secret_key
from core.records import batch_key, task_key
from core.redis_client import UNAVAILABLE_ERRORS

log = structlog.get_logger("webhooks")

DELIVERIES_KEY = "dd:webhooks"
POLL_S = 0.5
CLAIM_S = 60  # a claimed delivery whose api died is tried again after this
BATCH_SIZE = 20
MAX_BACKOFF_S = 300

# Claim due deliveries: their score moves past the claim time, so other replicas skip them and a
# replica that dies while delivering leaves them to be tried again.
CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, item in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[1] + ARGV[2], item) end
return due
"""

# Keep an attempt's outcome on the record (or batch) it was about, while it exists.
NOTE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local log = cjson.decode(redis.call('HGET', KEYS[1], 'webhooks') or '{}')
log[ARGV[1]] = cjson.decode(ARGV[2])
redis.call('HSET', KEYS[1], 'webhooks', cjson.encode(log))
return 1
"""


async def deliver_forever(platform: Platform, stop: asyncio.Event) -> None:
    claim = platform.redis.register_script(CLAIM)
    note = platform.redis.register_script(NOTE)
    while not stop.is_set():
        try:
            due = await claim([DELIVERIES_KEY], [time.time(), CLAIM_S, BATCH_SIZE])
            await asyncio.gather(*(attempt(platform, note, item) for item in due))
        except UNAVAILABLE_ERRORS:
            pass
        except Exception:
            log.exception("webhook pass failed; retrying later")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), POLL_S)


async def attempt(platform: Platform, note: Any, item: str) -> None:
    delivery = json.loads(item)
    subject = await payload(platform, delivery)
    if subject is None:  # the record expired meanwhile, or the key lost its secret or host
        await platform.redis.zrem(DELIVERIES_KEY, item)
        return
    record_key, key_id, spec, body = subject
    secret = await platform.redis.get(secret_key(key_id))
    if secret is None or not host_allowed(platform, spec["url"]):
        await platform.redis.zrem(DELIVERIES_KEY, item)
        await note([record_key], [delivery["id"], json.dumps({"event": delivery["event"], "attempts": delivery["attempts"], "gave_up": True})])
        return
    now = datetime.now(UTC)
    headers = {
        "webhook-id": delivery["id"],
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(delivery["id"], now, body),
        # The body is the record as it is now (a retried `running` may already show `succeeded`):
        # the event it announces is said here.
        "webhook-event": delivery["event"],
        "content-type": "application/json",
        "user-agent": "deferred-diffusion-webhooks",
    }
    attempts = delivery["attempts"] + 1
    status_code: int | None = None
    try:
        # No redirects: the allowed host is where it goes, nowhere a receiver points to.
        answer = await platform.http.post(spec["url"], content=body, headers=headers, timeout=platform.settings.webhook_timeout_s, follow_redirects=False)
        status_code = answer.status_code
    except Exception as exc:  # noqa: BLE001 - any failure to reach the receiver is retried
        log.info("webhook not delivered", delivery=delivery["id"], error=type(exc).__name__)
    outcome: dict[str, Any] = {"event": delivery["event"], "status_code": status_code, "attempts": attempts}
    if status_code is not None and 200 <= status_code < 300:
        outcome["delivered_at"] = now.isoformat()
        await platform.redis.zrem(DELIVERIES_KEY, item)
    elif time.time() - delivery["first"] >= platform.settings.webhook_retry_s:
        outcome["gave_up"] = True
        await platform.redis.zrem(DELIVERIES_KEY, item)
        log.warning("webhook given up", delivery=delivery["id"], attempts=attempts, status_code=status_code)
    else:
        retry = json.dumps(delivery | {"attempts": attempts})
        async with platform.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(DELIVERIES_KEY, item)
            pipe.zadd(DELIVERIES_KEY, {retry: time.time() + min(MAX_BACKOFF_S, 2 ** (attempts - 1))})
            await pipe.execute()
    await note([record_key], [delivery["id"], json.dumps(outcome)])


async def payload(platform: Platform, delivery: dict[str, Any]) -> tuple[str, str, dict[str, Any], str] | None:
    """Where the outcome is noted, the key, the webhook and the body: the record as GET returns it."""
    base = platform.settings.public_url or f"http://127.0.0.1:{platform.settings.port}/"
    if "batch" in delivery:
        fields, found = await platform.tasks.batch(delivery["batch"])
        if not fields or not fields.get("webhook"):
            return None
        body = batches.render(platform, fields, found, base).model_dump_json()
        return batch_key(delivery["batch"]), fields["key_id"], json.loads(fields["webhook"]), body
    task = await platform.tasks.get(delivery["task"])
    if task is None or task.webhook is None:
        return None
    return task_key(task.id), task.key_id, task.webhook, render(platform, task, base).model_dump_json()

