"""Task records in Redis: the one source of truth clients read.

Layout (every client-triggered lookup is O(1) or O(log n)):
  dd:task:{id}          hash   the record's fields
  dd:task:{id}:logs     list   last N log lines (RPUSH + LTRIM, O(1) per line)
  dd:task:{id}:text     string the text generated so far while running (APPEND, O(1) per token)
  dd:queue:{queue}      zset   queued task ids by submit sequence → position is ZRANK
  dd:active             set    unfinished task ids (global backlog)
  dd:active:{key_id}    set    unfinished task ids of one API key (per-key backlog)
  dd:idem:{key_id}:{k}  string "{body_sha256}:{task_id}" for Idempotency-Key
  dd:events:{id}        pubsub a ping on every change; subscribers re-read the record
  dd:stats:*            hashes counters for /metrics

State changes are Lua scripts, so admission and every transition are atomic. The scripts and
the (de)serialisation live here once; `AsyncTaskStore` (api) and `TaskStore` (workers) are thin.
"""

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
import redis.asyncio

from core.schemas import Domain, ErrorInfo, Queue, TaskStatus

SEQ_KEY = "dd:seq"
ACTIVE_KEY = "dd:active"
STATS_STATUS_KEY = "dd:stats:status"
STATS_RUN_SUM_KEY = "dd:stats:run_s_sum"
STATS_RUN_COUNT_KEY = "dd:stats:run_count"
BLOB_EXPIRY_KEY = "dd:blobs:expiry"


def task_key(task_id: str) -> str:
    return f"dd:task:{task_id}"


def logs_key(task_id: str) -> str:
    return f"dd:task:{task_id}:logs"


def text_key(task_id: str) -> str:
    return f"dd:task:{task_id}:text"


def events_channel(task_id: str) -> str:
    return f"dd:events:{task_id}"


def queue_key(queue: str) -> str:
    return f"dd:queue:{queue}"


def active_key(key_id: str) -> str:
    return f"dd:active:{key_id}"


def idempotency_key(key_id: str, key: str) -> str:
    return f"dd:idem:{key_id}:{key}"


def new_task_id() -> str:
    return uuid.uuid4().hex


SUBMIT = """
-- KEYS: task, queue, active, active of key, idempotency, seq, broker list
-- ARGV: id, fields json, per-key limit, total limit, ttl, body hash ('' = no idempotency key), message
if ARGV[6] ~= '' then
  local existing = redis.call('GET', KEYS[5])
  if existing then
    local sep = string.find(existing, ':', 1, true)
    local id = string.sub(existing, sep + 1)
    if string.sub(existing, 1, sep - 1) == ARGV[6] then return {'existing', id} end
    return {'conflict', id}
  end
end
local mine = redis.call('SCARD', KEYS[4])
if mine >= tonumber(ARGV[3]) then return {'backlog_key', tostring(mine)} end
local total = redis.call('SCARD', KEYS[3])
if total >= tonumber(ARGV[4]) then return {'backlog_total', tostring(total)} end
local seq = redis.call('INCR', KEYS[6])
local flat = {'seq', tostring(seq)}
for k, v in pairs(cjson.decode(ARGV[2])) do
  flat[#flat + 1] = k
  flat[#flat + 1] = v
end
redis.call('HSET', KEYS[1], unpack(flat))
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
if ARGV[6] ~= '' then redis.call('SET', KEYS[5], ARGV[6] .. ':' .. ARGV[1], 'EX', ARGV[5]) end
redis.call('LPUSH', KEYS[7], ARGV[7])
return {'created', ARGV[1], tostring(redis.call('ZRANK', KEYS[2], ARGV[1]))}
"""

START = """
-- KEYS: task, queue, channel, partial text ; ARGV: id, now
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing', '0'} end
if status ~= 'queued' and status ~= 'running' then return {status, '0'} end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[2])
redis.call('HDEL', KEYS[1], 'preview', 'eta_s')
redis.call('DEL', KEYS[4])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('PUBLISH', KEYS[3], 'running')
return {'running', tostring(attempts)}
"""

# Shared by FINISH and CANCEL: end the task, free its backlog slots, count it, let it expire.
# KEYS: task, queue, active, active of key, logs, channel, stats status, run sum, run count, partial text
# ARGV: id, status, now, outputs json, error json, ttl, model
_END = """
local function finish(status)
  local started = redis.call('HGET', KEYS[1], 'started_at')
  redis.call('HSET', KEYS[1], 'status', status, 'finished_at', ARGV[3], 'outputs', ARGV[4], 'error', ARGV[5])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('SREM', KEYS[3], ARGV[1])
  redis.call('SREM', KEYS[4], ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[6])
  redis.call('EXPIRE', KEYS[5], ARGV[6])
  redis.call('DEL', KEYS[10])
  redis.call('HINCRBY', KEYS[7], status, 1)
  if status == 'succeeded' and started then
    redis.call('HINCRBYFLOAT', KEYS[8], ARGV[7], tonumber(ARGV[3]) - tonumber(started))
    redis.call('HINCRBY', KEYS[9], ARGV[7], 1)
  end
  redis.call('PUBLISH', KEYS[6], status)
end
local current = redis.call('HGET', KEYS[1], 'status')
"""

FINISH = _END + """
if current ~= 'queued' and current ~= 'running' then return current or 'missing' end
finish(ARGV[2])
return ARGV[2]
"""

CANCEL = _END + """
if current == 'queued' then
  finish('cancelled')
  return 'cancelled'
end
if current == 'running' then
  redis.call('HSET', KEYS[1], 'cancel', '1')
  redis.call('PUBLISH', KEYS[6], 'cancelling')
  return 'cancelling'
end
return current or 'missing'
"""


@dataclass(frozen=True)
class StoredTask:
    """A record as stored, before the api signs its file URLs."""

    id: str
    domain: Domain
    model: str
    queue: Queue
    key_id: str
    status: TaskStatus
    request: dict[str, Any]
    created_at: float
    started_at: float | None
    finished_at: float | None
    step: int
    total: int
    eta_s: float | None
    preview: dict[str, Any] | None
    partial_text: str | None
    outputs: list[dict[str, Any]]
    error: ErrorInfo | None
    attempts: int
    cancel_requested: bool
    logs: list[str]
    position: int | None

    @staticmethod
    def parse(fields: dict[str, str], logs: list[str], position: int | None, partial_text: str | None = None) -> "StoredTask":
        def number(name: str) -> float | None:
            return float(fields[name]) if fields.get(name) else None

        error = json.loads(fields.get("error") or "null")
        return StoredTask(
            id=fields["id"],
            domain=Domain(fields["domain"]),
            model=fields["model"],
            queue=Queue(fields["queue"]),
            key_id=fields["key_id"],
            status=TaskStatus(fields["status"]),
            request=json.loads(fields["request"]),
            created_at=float(fields["created_at"]),
            started_at=number("started_at"),
            finished_at=number("finished_at"),
            step=int(fields.get("step") or 0),
            total=int(fields.get("total") or 0),
            eta_s=number("eta_s"),
            preview=json.loads(fields.get("preview") or "null"),
            partial_text=partial_text,
            outputs=json.loads(fields.get("outputs") or "[]"),
            error=ErrorInfo(**error) if error else None,
            attempts=int(fields.get("attempts") or 0),
            cancel_requested=fields.get("cancel") == "1",
            logs=logs,
            position=position if fields["status"] == TaskStatus.queued else None,
        )

    def timestamp(self, name: str) -> datetime | None:
        value = getattr(self, name)
        return datetime.fromtimestamp(value, UTC) if value is not None else None


def end_keys(task_id: str, queue: str, key_id: str) -> list[str]:
    return [
        task_key(task_id),
        queue_key(queue),
        ACTIVE_KEY,
        active_key(key_id),
        logs_key(task_id),
        events_channel(task_id),
        STATS_STATUS_KEY,
        STATS_RUN_SUM_KEY,
        STATS_RUN_COUNT_KEY,
        text_key(task_id),
    ]


def end_args(task: StoredTask, status: TaskStatus, outputs: list[dict[str, Any]], error: ErrorInfo | None, ttl_s: int) -> list[Any]:
    error_json = error.model_dump_json() if error else ""
    return [task.id, status.value, time.time(), json.dumps(outputs), error_json, ttl_s, task.model]


def read_pipeline(pipe: Any, task_id: str) -> None:
    """Queue the reads of one record: its hash, its logs and its rank in every queue."""
    pipe.hgetall(task_key(task_id))
    pipe.lrange(logs_key(task_id), 0, -1)
    pipe.get(text_key(task_id))
    for queue in Queue:
        pipe.zrank(queue_key(queue), task_id)


def parse_read(results: list[Any]) -> StoredTask | None:
    fields, logs, partial_text, *ranks = results
    if not fields:
        return None
    position = next((rank for rank in ranks if rank is not None), None)
    return StoredTask.parse(fields, logs, position, partial_text)


@dataclass(frozen=True)
class Admission:
    outcome: str  # created | existing | conflict | backlog_key | backlog_total
    task_id: str | None = None
    position: int | None = None
    count: int | None = None


class AsyncTaskStore:
    """The api's side: admission, reads, cancellation."""

    def __init__(self, client: redis.asyncio.Redis, ttl_s: int) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self._submit = client.register_script(SUBMIT)
        self._cancel = client.register_script(CANCEL)

    async def admit(
        self,
        *,
        task_id: str,
        domain: Domain,
        model: str,
        queue: Queue,
        key_id: str,
        request: dict[str, Any],
        notes: list[str],
        message: str,
        per_key_limit: int,
        total_limit: int,
        idempotency: tuple[str, str] | None,
    ) -> Admission:
        """Check both backlogs, write the record and its queue position, and push the broker
        message: one atomic step, one round trip."""
        fields = {
            "id": task_id,
            "domain": domain.value,
            "model": model,
            "queue": queue.value,
            "key_id": key_id,
            "status": TaskStatus.queued.value,
            "request": json.dumps(request),
            "created_at": repr(time.time()),
        }
        idem_name, body_hash = idempotency or ("", "")
        keys = [
            task_key(task_id),
            queue_key(queue),
            ACTIVE_KEY,
            active_key(key_id),
            idempotency_key(key_id, idem_name) if idempotency else f"dd:idem:{key_id}:",
            SEQ_KEY,
            queue.value,
        ]
        async with self.client.pipeline(transaction=True) as pipe:
            await self._submit(keys, [task_id, json.dumps(fields), per_key_limit, total_limit, self.ttl_s, body_hash, message], client=pipe)
            for note in notes:
                pipe.rpush(logs_key(task_id), note)
            pipe.expire(logs_key(task_id), self.ttl_s)
            result, *_ = await pipe.execute()
        outcome, value, *rest = result
        if outcome == "created":
            return Admission(outcome, task_id=value, position=int(rest[0]))
        if outcome in ("existing", "conflict"):
            return Admission(outcome, task_id=value)
        return Admission(outcome, count=int(value))

    async def get(self, task_id: str) -> StoredTask | None:
        async with self.client.pipeline(transaction=False) as pipe:
            read_pipeline(pipe, task_id)
            return parse_read(await pipe.execute())

    async def cancel(self, task: StoredTask) -> str:
        keys = end_keys(task.id, task.queue, task.key_id)
        args = end_args(task, TaskStatus.cancelled, [], ErrorInfo(code="cancelled", message="Cancelled before it ran."), self.ttl_s)
        return await self._cancel(keys, args)


class TaskStore:
    """The workers' side: start, progress, logs, outputs, end. Synchronous, like Celery tasks."""

    def __init__(self, client: redis.Redis, ttl_s: int, log_lines: int) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.log_lines = log_lines
        self._start = client.register_script(START)
        self._finish = client.register_script(FINISH)

    def get(self, task_id: str) -> StoredTask | None:
        with self.client.pipeline(transaction=False) as pipe:
            read_pipeline(pipe, task_id)
            return parse_read(pipe.execute())

    def start(self, task: StoredTask) -> tuple[str, int]:
        """Mark running. Returns the status it had when not startable, and the attempt number."""
        status, attempts = self._start([task_key(task.id), queue_key(task.queue), events_channel(task.id), text_key(task.id)], [task.id, time.time()])
        return status, int(attempts)

    def progress(self, task_id: str, step: int, total: int, eta_s: float | None = None) -> bool:
        """Record a step; returns True when the client asked to cancel."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(task_key(task_id), mapping={"step": step, "total": total, "eta_s": "" if eta_s is None else round(eta_s, 2)})
            pipe.publish(events_channel(task_id), "progress")
            pipe.hget(task_key(task_id), "cancel")
            *_, cancel = pipe.execute()
        return cancel == "1"

    def preview(self, task_id: str, ref: str, step: int) -> None:
        """Announce the latest preview image (the previous one is replaced, not listed)."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(task_key(task_id), "preview", json.dumps({"ref": ref, "step": step}))
            pipe.publish(events_channel(task_id), "preview")
            pipe.execute()

    def append_text(self, task_id: str, piece: str) -> None:
        """Add generated text to the task's partial text and announce it."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.append(text_key(task_id), piece)
            pipe.expire(text_key(task_id), self.ttl_s)
            pipe.publish(events_channel(task_id), "text")
            pipe.execute()

    def clear_text(self, task_id: str) -> None:
        self.client.delete(text_key(task_id))

    def cancel_requested(self, task_id: str) -> bool:
        return self.client.hget(task_key(task_id), "cancel") == "1"

    def log(self, task_id: str, line: str) -> None:
        with self.client.pipeline(transaction=False) as pipe:
            pipe.rpush(logs_key(task_id), line)
            pipe.ltrim(logs_key(task_id), -self.log_lines, -1)
            pipe.publish(events_channel(task_id), "log")
            pipe.execute()

    def finish(self, task: StoredTask, status: TaskStatus, outputs: list[dict[str, Any]] | None = None, error: ErrorInfo | None = None) -> str:
        keys = end_keys(task.id, task.queue, task.key_id)
        return self._finish(keys, end_args(task, status, outputs or [], error, self.ttl_s))
