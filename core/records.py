"""Task records in Redis: the one source of truth clients read.

Layout (every client-triggered lookup is O(1) or O(log n)):
  dd:task:{id}          hash   the record's fields
  dd:task:{id}:logs     list   last N log lines (RPUSH + LTRIM, O(1) per line)
  dd:task:{id}:text     string the text generated so far while running (APPEND, O(1) per token)
  dd:queue:{lane}       zset   queued task ids of a lane (a queue, or a model's queue gpu.{model} of
                               core.affinity) in the order they will start: score = priority band × 2^48
                               + fair-share turn → position is ZRANK; a worker runs the first
  dd:turns:{queue}:{band} hash fair share within a priority: `_now` the turn of the last task started,
                               and per key the next turn it may take (so keys take turns)
  dd:active             set    unfinished task ids (global backlog)
  dd:active:{key_id}    set    unfinished task ids of one API key (per-key backlog)
  dd:idem:{key_id}:{k}  string "{body_sha256}:{task_id}" for Idempotency-Key
  dd:leases             zset   running task ids by lease deadline (unix s): the reaper's index
  dd:running:{queue}    set    running task ids of one queue (queued + running = what autoscalers see)
  dd:batch:{id}         hash   a batch: key, domain, created_at, count; dd:batch:{id}:tasks its task ids in order
  dd:events:batch:{id}  pubsub a ping whenever one of its tasks changes status
  dd:usage:{key}:{day}  hash   one key's use on one UTC day: status:*, model:*, gpu_s, provider_calls, units:*,
                               output_bytes (written as each task ends); dd:usage:keys:{day} the keys of a day
  dd:webhooks           zset   webhook deliveries due (member: JSON of the delivery, score: when to try next)
  dd:whsec:{key}        string the key's webhook signing secret (whsec_…), which the admin sets
  dd:quota:{key}        string the key's daily GPU-seconds quota, where the admin set one
  dd:hist:{key_id}[…]   zsets  one key's tasks, newest last, for GET /api/tasks: all, by domain, by model, by
                               status and by domain or model and status (history_key); score = created
                               ms × 1000 + seq % 1000, so unique and a cursor; kept by every transition
  dd:drain:{worker}     string when a worker that is shutting down hands its running task back
  dd:events:{id}        pubsub a ping on every change; subscribers re-read the record
  dd:stats:*            hashes counters for /metrics

Ordering is start-time fair queueing: a new task takes the turn max(now, its key's next), so a
key with 200 tasks queued has turns now … now+199 and another key's new task takes `now`, ahead
of all but what has started. Broker messages are turns to run (core.queue): the worker that pops
one starts the first task of that lane, whichever task the message was made for, so a queued
task can move ahead of older ones, and its position is always where it stands now.

State changes are Lua scripts, so admission and every transition are atomic. The history indexes
are named inside the scripts from the record's key, domain and model: fine on one Redis or a
Sentinel group, which is what the platform runs on (not Redis Cluster). The scripts and
the (de)serialisation live here once; `AsyncTaskStore` (api) and `TaskStore` (workers) are thin.

A running task holds a lease (a token in its record, a deadline in dd:leases) that its worker
renews; only the lease holder may write to the record, and the reaper requeues a task whose
lease expired. A record gets its expiry when the task ends, never before.
"""

import json
import os
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
import redis.asyncio
import structlog

from core.queue import broker_list, model_queue
from core.redis_client import UNAVAILABLE_ERRORS
from core.schemas import Domain, ErrorInfo, Priority, Queue, TaskStatus

SEQ_KEY = "dd:seq"
ACTIVE_KEY = "dd:active"
STATS_STATUS_KEY = "dd:stats:status"
STATS_RUN_SUM_KEY = "dd:stats:run_s_sum"
STATS_RUN_COUNT_KEY = "dd:stats:run_count"
BLOB_EXPIRY_KEY = "dd:blobs:expiry"
LEASES_KEY = "dd:leases"
# A provisional expiry for inputs stored before admission: a refused submit leaves none for good.
PROVISIONAL_BLOB_S = 3600

log = structlog.get_logger("records")


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


def turns_key(queue: str, band: int) -> str:
    return f"dd:turns:{queue}:{band}"


def running_key(queue: str) -> str:
    return f"dd:running:{queue}"


def batch_key(batch_id: str) -> str:
    return f"dd:batch:{batch_id}"


def batch_tasks_key(batch_id: str) -> str:
    return f"dd:batch:{batch_id}:tasks"


def batch_channel(batch_id: str) -> str:
    return f"dd:events:batch:{batch_id}"


def history_key(key_id: str, *, domain: str = "", model: str = "", status: str = "") -> str:
    """The one index that answers a history filter: a model implies its domain, so at most one
    of the two is part of the name, then the status."""
    name = f"dd:hist:{key_id}"
    if model:
        name += f":m:{model}"
    elif domain:
        name += f":d:{domain}"
    return f"{name}:s:{status}" if status else name


def history_score(created_at: float) -> int:
    """The score a task created at this time has in the history (the seq part added in SUBMIT)."""
    return int(created_at * 1000) * 1000


def active_key(key_id: str) -> str:
    return f"dd:active:{key_id}"


def idempotency_key(key_id: str, key: str) -> str:
    return f"dd:idem:{key_id}:{key}"


def drain_key(worker_hostname: str) -> str:
    """Set while a worker shuts down: the time after which its running task is handed back."""
    return f"dd:drain:{worker_hostname}"


def new_task_id() -> str:
    return secrets.token_hex(16)


# Moves a task between the status indexes of its key's history (history_key, spelled in Lua).
# An index lives as long as the records it lists: the end of a task trims what is older and renews
# the expiry of its indexes (queued and running ones empty themselves, and an empty key is gone).
_HISTORY = """
local function webhook_due(delivery)
  local now = redis.call('TIME')
  delivery.id = 'dd-' .. redis.call('INCR', 'dd:webhooks:seq')
  delivery.attempts = 0
  delivery.first = tonumber(now[1])
  redis.call('ZADD', 'dd:webhooks', now[1], cjson.encode(delivery))
end
local function history_names(task, status)
  local key_id, domain, model = unpack(redis.call('HMGET', task, 'key_id', 'domain', 'model'))
  local base = 'dd:hist:' .. key_id
  local names = {base, base .. ':d:' .. domain, base .. ':m:' .. model}
  if status then
    names = {base .. ':s:' .. status, base .. ':d:' .. domain .. ':s:' .. status, base .. ':m:' .. model .. ':s:' .. status}
  end
  return names
end
local function history_keep(task, names, trim)
  local ttl = tonumber(redis.call('HGET', task, 'ttl_s') or '0')
  local oldest = (tonumber(redis.call('TIME')[1]) - ttl - 86400) * 1000000
  for _, name in ipairs(names) do
    if trim then redis.call('ZREMRANGEBYSCORE', name, '-inf', '(' .. oldest) end
    redis.call('EXPIRE', name, ttl + 86400)
  end
end
local function history_move(task, id, from, to)
  local score = redis.call('HGET', task, 'hist')
  if not score then return end  -- a record from before the history
  if from then
    for _, name in ipairs(history_names(task, from)) do redis.call('ZREM', name, id) end
  end
  for _, name in ipairs(history_names(task, to)) do redis.call('ZADD', name, score, id) end
  local batch, hook = unpack(redis.call('HMGET', task, 'batch', 'webhook'))
  if batch then redis.call('PUBLISH', 'dd:events:batch:' .. batch, to) end
  if hook then
    for _, event in ipairs(cjson.decode(hook).events) do
      if event == to then webhook_due({task = id, event = to}) end
    end
  end
end
"""

# A queue's order: each priority band spans this many turns (2^48: never reached, and band × it +
# turn stays an exact integer in a double).
ORDER_BAND = 2**48
BANDS = """
local BAND_OF = {interactive = 0, normal = 1, batch = 2}
"""

# A key over its daily GPU-seconds quota (where it has one) submits no more gpu work today.
_QUOTA = """
local function over_quota(quota_key, usage_key)
  local quota = redis.call('GET', quota_key)
  return quota and tonumber(redis.call('HGET', usage_key, 'gpu_s') or '0') >= tonumber(quota)
end
"""

# One queued task: its record, backlog entries, queue position, notes, inputs' expiry, history and
# broker message (SUBMIT makes one, BATCH many). Returns its position in the queue.
_CREATE = _HISTORY + _QUOTA + f"local ORDER_BAND = {ORDER_BAND}\n" + """
-- Its key's fair turn in its queue and priority (start-time fair queueing; see the module's doc). A key
-- is never further ahead than it has tasks unfinished: turns its cancelled tasks held are given up.
local function take_turn(turns, key_id, mine)
  local now = tonumber(redis.call('HGET', turns, '_now') or '0')
  local next = tonumber(redis.call('HGET', turns, key_id) or '0')
  local turn = math.max(now, math.min(next, now + redis.call('SCARD', mine)))
  redis.call('HSET', turns, key_id, turn + 1)
  return turn
end
local function create_task(names, id, fields, ttl, message, notes, refs, expiry, hist_base)
  local seq = redis.call('INCR', names.seq)
  local hist = tonumber(hist_base) + seq % 1000
  local order = tonumber(fields.band) * ORDER_BAND + take_turn(names.turns, fields.key_id, names.mine)
  local order_s = string.format('%d', order)
  local flat = {'seq', tostring(seq), 'hist', string.format('%d', hist), 'ttl_s', ttl, 'order', order_s}
  for k, v in pairs(fields) do
    flat[#flat + 1] = k
    flat[#flat + 1] = v
  end
  redis.call('HSET', names.task, unpack(flat))
  redis.call('SADD', names.active, id)
  redis.call('SADD', names.mine, id)
  redis.call('ZADD', names.queue, order_s, id)
  for _, note in ipairs(notes) do redis.call('RPUSH', names.logs, note) end
  for _, ref in ipairs(refs) do redis.call('ZADD', names.blobs, 'GT', expiry, ref) end
  for _, name in ipairs(history_names(names.task)) do redis.call('ZADD', name, hist, id) end
  history_move(names.task, id, nil, 'queued')
  history_keep(names.task, history_names(names.task), false)
  redis.call('LPUSH', names.broker, message)
  return redis.call('ZRANK', names.queue, id)
end
"""

# A key's cap on priority: its record's `max_priority` (none for the admin, who has no record).
_CAP = BANDS + """
local function over_cap(key_record, priority)
  local cap = redis.call('HGET', key_record, 'max_priority')
  if cap and BAND_OF[priority] < BAND_OF[cap] then return cap end
  return nil
end
"""

SUBMIT = _CREATE + _CAP + """
-- KEYS: task, queue, active, active of key, idempotency, seq, broker list, logs, blob expiry, quota, usage today,
--       turns, key record
-- ARGV: id, fields json, per-key limit, total limit, ttl, body hash ('' = no idempotency key), message,
--       notes json, input refs json, inputs' expiry, history score (created ms × 1000), '1' when gpu work
-- Nothing is written unless the task is created; the record expires only once it has ended.
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
local fields = cjson.decode(ARGV[2])
local cap = over_cap(KEYS[13], fields.priority)
if cap then return {'priority', cap} end
if ARGV[12] == '1' and over_quota(KEYS[10], KEYS[11]) then return {'quota', tostring(redis.call('GET', KEYS[10]))} end
local names = {task = KEYS[1], queue = KEYS[2], active = KEYS[3], mine = KEYS[4], seq = KEYS[6], broker = KEYS[7], logs = KEYS[8], blobs = KEYS[9],
               turns = KEYS[12]}
local rank = create_task(names, ARGV[1], fields, ARGV[5], ARGV[7], cjson.decode(ARGV[8]), cjson.decode(ARGV[9]), ARGV[10], ARGV[11])
if ARGV[6] ~= '' then redis.call('SET', KEYS[5], ARGV[6] .. ':' .. ARGV[1], 'EX', ARGV[5]) end
return {'created', ARGV[1], tostring(rank)}
"""

BATCH = _CREATE + _CAP + """
-- KEYS: active, active of key, seq, blob expiry, batch, batch tasks, quota, usage today, key record,
--       then per task: task, queue, logs, broker list, turns
-- ARGV: per-key limit, total limit, ttl, inputs' expiry, history score, batch fields json,
--       tasks json [{id, fields, message, notes, refs}], '1' when gpu work
-- All or nothing: the whole batch fits both backlogs, or nothing is written.
local tasks = cjson.decode(ARGV[7])
local mine = redis.call('SCARD', KEYS[2])
if mine + #tasks > tonumber(ARGV[1]) then return {'backlog_key', tostring(mine)} end
local total = redis.call('SCARD', KEYS[1])
if total + #tasks > tonumber(ARGV[2]) then return {'backlog_total', tostring(total)} end
for _, t in ipairs(tasks) do
  local cap = over_cap(KEYS[9], t.fields.priority)
  if cap then return {'priority', cap} end
end
if ARGV[8] == '1' and over_quota(KEYS[7], KEYS[8]) then return {'quota', tostring(redis.call('GET', KEYS[7]))} end
local flat = {}
for k, v in pairs(cjson.decode(ARGV[6])) do
  flat[#flat + 1] = k
  flat[#flat + 1] = v
end
redis.call('HSET', KEYS[5], unpack(flat))
local ranks = {}
for i, t in ipairs(tasks) do
  local at = 9 + (i - 1) * 5
  local names = {task = KEYS[at + 1], queue = KEYS[at + 2], logs = KEYS[at + 3], broker = KEYS[at + 4], turns = KEYS[at + 5],
                 active = KEYS[1], mine = KEYS[2], seq = KEYS[3], blobs = KEYS[4]}
  ranks[i] = create_task(names, t.id, t.fields, ARGV[3], t.message, t.notes, t.refs, ARGV[4], ARGV[5])
  redis.call('RPUSH', KEYS[6], t.id)
end
return {'created', cjson.encode(ranks)}
"""

TAKE = """
-- KEYS: lane, leases ; ARGV: token, deadline
-- Reserve the lane's first task for one worker, with a lease as if it had started, so that the reaper
-- returns it to its place should the worker die before starting it. Its id, or false when none waits.
while true do
  local first = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if not first then return false end
  redis.call('ZREM', KEYS[1], first)
  if redis.call('HGET', 'dd:task:' .. first, 'status') == 'queued' then
    redis.call('HSET', 'dd:task:' .. first, 'taken_by', ARGV[1])
    redis.call('ZADD', KEYS[2], ARGV[2], first)
    return first
  end
end
"""

START = _HISTORY + f"local ORDER_BAND = {ORDER_BAND}\n" + """
-- KEYS: task, channel, partial text, leases, running, turns ; ARGV: id, now, lease token, lease deadline, worker
-- Only the task this worker took (TAKE) starts, and only while still queued ('taken': it was cancelled,
-- or returned by the reaper meanwhile).
local status, taken_by = unpack(redis.call('HMGET', KEYS[1], 'status', 'taken_by'))
if status ~= 'queued' or taken_by ~= ARGV[3] then return {'taken', '0'} end
redis.call('HDEL', KEYS[1], 'taken_by')
local turn = tonumber(redis.call('HGET', KEYS[1], 'order') or '0') % ORDER_BAND
if turn > tonumber(redis.call('HGET', KEYS[6], '_now') or '0') then redis.call('HSET', KEYS[6], '_now', string.format('%d', turn)) end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[2], 'lease', ARGV[3], 'worker', ARGV[5])
redis.call('HDEL', KEYS[1], 'preview', 'eta_s')
redis.call('DEL', KEYS[3])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[1])
history_move(KEYS[1], ARGV[1], 'queued', 'running')
redis.call('PUBLISH', KEYS[2], 'running')
return {'running', tostring(attempts)}
"""

# Every write of a running task checks that the record still exists and that this worker holds
# its lease: a write can never recreate an expired record, nor a superseded worker touch it.
_HOLDS_LEASE = """
local status, lease, cancel = unpack(redis.call('HMGET', KEYS[1], 'status', 'lease', 'cancel'))
if status ~= 'running' or lease ~= ARGV[1] then return 'lost' end
"""

RENEW = _HOLDS_LEASE + """
-- KEYS: task, leases ; ARGV: token, id, deadline
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return 'ok'
"""

# After the lease check: the client's cancel, then the worker's drain deadline.
_CANCEL_OR_DRAIN = """
if cancel == '1' then return 'cancel' end
local drain_at = redis.call('GET', KEYS[2])
if drain_at and tonumber(ARGV[2]) >= tonumber(drain_at) then return 'drain' end
return 'ok'
"""

STATE = _HOLDS_LEASE + """
-- KEYS: task, drain ; ARGV: token, now
""" + _CANCEL_OR_DRAIN

PROGRESS = _HOLDS_LEASE + """
-- KEYS: task, drain, channel ; ARGV: token, now, step, total, eta
redis.call('HSET', KEYS[1], 'step', ARGV[3], 'total', ARGV[4], 'eta_s', ARGV[5])
redis.call('PUBLISH', KEYS[3], 'progress')
""" + _CANCEL_OR_DRAIN

REQUEUE = _HISTORY + _HOLDS_LEASE + """
-- KEYS: task, queue, leases, logs, channel, broker list, running ; ARGV: token, id, message, line
-- A worker shutting down hands its task back: at its place in the queue's order (ahead of all that
-- came after it), the attempt not counted.
redis.call('HSET', KEYS[1], 'status', 'queued')
redis.call('HINCRBY', KEYS[1], 'attempts', -1)
redis.call('HDEL', KEYS[1], 'lease', 'worker', 'preview', 'eta_s')
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('SREM', KEYS[7], ARGV[2])
history_move(KEYS[1], ARGV[2], 'running', 'queued')
redis.call('ZADD', KEYS[2], redis.call('HGET', KEYS[1], 'order') or redis.call('HGET', KEYS[1], 'seq'), ARGV[2])
redis.call('RPUSH', KEYS[6], ARGV[3])
redis.call('RPUSH', KEYS[4], ARGV[4])
redis.call('PUBLISH', KEYS[5], 'queued')
return 'requeued'
"""

PREVIEW = _HOLDS_LEASE + """
-- KEYS: task, channel, blob expiry ; ARGV: token, preview json, ref, expires
redis.call('HSET', KEYS[1], 'preview', ARGV[2])
redis.call('ZADD', KEYS[3], 'GT', ARGV[4], ARGV[3])
redis.call('PUBLISH', KEYS[2], 'preview')
return 'ok'
"""

APPEND_TEXT = _HOLDS_LEASE + """
-- KEYS: task, channel, partial text ; ARGV: token, piece
redis.call('APPEND', KEYS[3], ARGV[2])
redis.call('PUBLISH', KEYS[2], 'text')
return 'ok'
"""

LOG = _HOLDS_LEASE + """
-- KEYS: task, channel, logs ; ARGV: token, line, max lines
redis.call('RPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[3]), -1)
redis.call('PUBLISH', KEYS[2], 'log')
return 'ok'
"""

# Shared by FINISH, CANCEL and REAP: end the task, free its backlog slots, count it, let it expire.
# KEYS: task, queue, active, active of key, logs, channel, stats status, run sum, run count, partial text,
#       leases, blob expiry, running, the model's queue (core.affinity: a queued task may wait there)
# ARGV: id, status, now, outputs json, error json, ttl, model, output refs json, outputs' expiry,
#       UTC day, usage json (what the worker counted: provider calls, billed units, output bytes)
# Usage is kept this long (a little over a year), whatever the result TTL.
USAGE_S = 400 * 86400

_END = _HISTORY + f"local USAGE_S = {USAGE_S}\n" + """
-- The key's usage of the day the task ended: its status and model, the GPU time it ran (whatever
-- the outcome: the GPU was held) and what the worker counted.
local function account(status, started)
  local key_id, queue = unpack(redis.call('HMGET', KEYS[1], 'key_id', 'queue'))
  local usage = 'dd:usage:' .. key_id .. ':' .. ARGV[10]
  redis.call('HINCRBY', usage, 'status:' .. status, 1)
  redis.call('HINCRBY', usage, 'model:' .. ARGV[7], 1)
  if queue == 'gpu' and started then
    redis.call('HINCRBYFLOAT', usage, 'gpu_s', tonumber(ARGV[3]) - tonumber(started))
  end
  for name, amount in pairs(cjson.decode(ARGV[11])) do redis.call('HINCRBYFLOAT', usage, name, amount) end
  redis.call('EXPIRE', usage, USAGE_S)
  redis.call('SADD', 'dd:usage:keys:' .. ARGV[10], key_id)
  redis.call('EXPIRE', 'dd:usage:keys:' .. ARGV[10], USAGE_S)
end
local function finish(status, error)
  local started, was = unpack(redis.call('HMGET', KEYS[1], 'started_at', 'status'))
  history_move(KEYS[1], ARGV[1], was, status)
  history_keep(KEYS[1], history_names(KEYS[1]), true)
  history_keep(KEYS[1], history_names(KEYS[1], status), true)
  local batch = redis.call('HGET', KEYS[1], 'batch')
  if batch then
    -- A batch lives as long as its last task's record.
    redis.call('EXPIRE', 'dd:batch:' .. batch, ARGV[6])
    redis.call('EXPIRE', 'dd:batch:' .. batch .. ':tasks', ARGV[6])
    if redis.call('HINCRBY', 'dd:batch:' .. batch, 'remaining', -1) == 0 and redis.call('HGET', 'dd:batch:' .. batch, 'webhook') then
      webhook_due({batch = batch, event = 'batch_completed'})
    end
  end
  account(status, started)
  redis.call('HSET', KEYS[1], 'status', status, 'finished_at', ARGV[3], 'outputs', ARGV[4], 'error', error)
  redis.call('HDEL', KEYS[1], 'lease')
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[14], ARGV[1])
  redis.call('SREM', KEYS[3], ARGV[1])
  redis.call('SREM', KEYS[4], ARGV[1])
  redis.call('ZREM', KEYS[11], ARGV[1])
  redis.call('SREM', KEYS[13], ARGV[1])
  for _, ref in ipairs(cjson.decode(ARGV[8])) do redis.call('ZADD', KEYS[12], 'GT', ARGV[9], ref) end
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
-- ARGV[12]: the finishing worker's lease token. A task requeued while its worker was cut off
-- (queued, nobody holds it) still takes that worker's result; one that another worker took over does not.
if current == 'running' and redis.call('HGET', KEYS[1], 'lease') ~= ARGV[12] then return 'superseded' end
if current ~= 'queued' and current ~= 'running' then return current or 'missing' end
finish(ARGV[2], ARGV[5])
return ARGV[2]
"""

CANCEL = _END + """
if current == 'queued' then
  finish('cancelled', ARGV[5])
  return 'cancelled'
end
if current == 'running' then
  redis.call('HSET', KEYS[1], 'cancel', '1')
  redis.call('PUBLISH', KEYS[6], 'cancelling')
  return 'cancelling'
end
return current or 'missing'
"""

REAP = _END + """
-- KEYS[15]: broker list ; ARGV[12]: Celery message, ARGV[13]: max attempts
-- Atomic, so several api processes can reap the same leases: only one sees it expired.
local deadline = redis.call('ZSCORE', KEYS[11], ARGV[1])
if not deadline or tonumber(deadline) > tonumber(ARGV[3]) then return {'alive', ''} end
redis.call('ZREM', KEYS[11], ARGV[1])
redis.call('SREM', KEYS[13], ARGV[1])
if current == 'queued' and redis.call('HGET', KEYS[1], 'taken_by') then
  -- Taken by a worker that was lost before it started it: back to its place, no attempt counted.
  redis.call('HDEL', KEYS[1], 'taken_by')
  redis.call('ZADD', KEYS[2], redis.call('HGET', KEYS[1], 'order'), ARGV[1])
  redis.call('RPUSH', KEYS[15], ARGV[12])
  return {'returned', ''}
end
if current ~= 'running' then return {current or 'missing', ''} end
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
local worker = redis.call('HGET', KEYS[1], 'worker') or 'unknown'
local lost = 'worker ' .. worker .. ' was lost (its lease expired) on attempt ' .. attempts
if redis.call('HGET', KEYS[1], 'cancel') == '1' then
  redis.call('RPUSH', KEYS[5], lost .. '; the client had asked to cancel it')
  finish('cancelled', cjson.encode({code = 'cancelled', message = 'Cancelled while running.'}))
  return {'cancelled', worker}
end
if attempts >= tonumber(ARGV[13]) then
  redis.call('RPUSH', KEYS[5], lost .. '; giving up')
  local message = 'The worker running this task was lost ' .. attempts .. ' times (last: ' .. worker .. '); giving up.'
  finish('failed', cjson.encode({code = 'worker_lost', message = message}))
  return {'failed', worker}
end
redis.call('HSET', KEYS[1], 'status', 'queued')
history_move(KEYS[1], ARGV[1], 'running', 'queued')
redis.call('HDEL', KEYS[1], 'lease', 'worker', 'preview', 'eta_s')
redis.call('ZADD', KEYS[2], redis.call('HGET', KEYS[1], 'order') or redis.call('HGET', KEYS[1], 'seq'), ARGV[1])
-- Its place in the order is kept; its message goes to the front (kombu pushes left, pops right).
redis.call('RPUSH', KEYS[15], ARGV[12])
redis.call('RPUSH', KEYS[5], lost .. '; requeued for attempt ' .. (attempts + 1) .. ' of ' .. ARGV[13])
redis.call('PUBLISH', KEYS[6], 'queued')
return {'requeued', worker}
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
    batch: str | None = None
    label: str | None = None
    webhook: dict[str, Any] | None = None
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    priority: Priority = Priority.normal

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
            batch=fields.get("batch"),
            label=fields.get("label"),
            webhook=json.loads(fields["webhook"]) if fields.get("webhook") else None,
            webhooks=list(json.loads(fields.get("webhooks") or "{}").values()),
            priority=Priority(fields.get("priority") or Priority.normal),
        )

    def timestamp(self, name: str) -> datetime | None:
        value = getattr(self, name)
        return datetime.fromtimestamp(value, UTC) if value is not None else None


def end_keys(task_id: str, queue: str, key_id: str, model: str) -> list[str]:
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
        LEASES_KEY,
        BLOB_EXPIRY_KEY,
        running_key(queue),
        queue_key(model_queue(model)),
    ]


def end_args(
    task: StoredTask, status: TaskStatus, outputs: list[dict[str, Any]], error: ErrorInfo | None, ttl_s: int, usage: dict[str, float] | None = None
) -> list[Any]:
    error_json = error.model_dump_json() if error else ""
    refs = [output["ref"] for output in outputs if output.get("ref")]
    now = time.time()
    day = usage_day(now)
    return [task.id, status.value, now, json.dumps(outputs), error_json, ttl_s, task.model, json.dumps(refs), now + ttl_s, day, json.dumps(usage or {})]


def usage_day(at: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(at))


def usage_key(key_id: str, day: str) -> str:
    return f"dd:usage:{key_id}:{day}"


def usage_keys_of(day: str) -> str:
    return f"dd:usage:keys:{day}"


def quota_key(key_id: str) -> str:
    return f"dd:quota:{key_id}"


# A queued task's position in whichever lane it waits in: its queue's, or its model's (core.affinity).
POSITION = """
-- KEYS: task ; ARGV: id
local queue, model, status = unpack(redis.call('HMGET', KEYS[1], 'queue', 'model', 'status'))
if status ~= 'queued' then return false end
if redis.call('HEXISTS', KEYS[1], 'taken_by') == 1 then return 0 end  -- a worker is starting it
return redis.call('ZRANK', 'dd:queue:' .. queue, ARGV[1]) or redis.call('ZRANK', 'dd:queue:' .. queue .. '.' .. model, ARGV[1])
"""
# The reads of one record, in one pipeline.
READS_PER_RECORD = 4


def read_pipeline(pipe: Any, task_id: str) -> None:
    """Queue the reads of one record: its hash, its logs, its partial text and its position
    (EVAL, not a registered script: a pipeline of those checks SCRIPT EXISTS on every run)."""
    pipe.hgetall(task_key(task_id))
    pipe.lrange(logs_key(task_id), 0, -1)
    pipe.get(text_key(task_id))
    pipe.eval(POSITION, 1, task_key(task_id), task_id)


def parse_read(results: list[Any]) -> StoredTask | None:
    fields, logs, partial_text, position = results
    if not fields.get("id"):
        return None
    return StoredTask.parse(fields, logs, position, partial_text)


@dataclass(frozen=True)
class NewTask:
    """One task of a batch, ready to admit (validated, inputs stored)."""

    task_id: str
    model: str
    queue: Queue
    request: dict[str, Any]
    notes: list[str]
    message: str
    input_refs: Sequence[str]
    label: str | None
    priority: Priority


@dataclass(frozen=True)
class Admission:
    outcome: str  # created | existing | conflict | backlog_key | backlog_total | quota | priority
    task_id: str | None = None
    position: int | None = None
    count: int | None = None
    positions: list[int] | None = None
    quota_s: float | None = None
    cap: Priority | None = None  # the key's highest priority, when the request asked for more


class AsyncTaskStore:
    """The api's side: admission, reads, cancellation, reaping of lost workers' tasks."""

    def __init__(self, client: redis.asyncio.Redis, ttl_s: int) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self._submit = client.register_script(SUBMIT)
        self._batch = client.register_script(BATCH)
        self._cancel = client.register_script(CANCEL)
        self._reap = client.register_script(REAP)

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
        key_record: str,
        priority: Priority = Priority.normal,
        input_refs: Sequence[str] = (),
        webhook: dict[str, Any] | None = None,
    ) -> Admission:
        """Check the key's priority cap (`key_record`: its hash, holding `max_priority`), both
        backlogs and its quota, write the record, its notes and its place in the queue's order,
        keep its inputs for the result TTL and push the broker message: one atomic step, one round trip."""
        fields = {
            "id": task_id,
            "domain": domain.value,
            "model": model,
            "queue": queue.value,
            "key_id": key_id,
            "status": TaskStatus.queued.value,
            "request": json.dumps(request),
            "created_at": repr(created_at := time.time()),
            "priority": priority.value,
            "band": str(priority.band),
        } | ({"webhook": json.dumps(webhook)} if webhook else {})
        idem_name, body_hash = idempotency or ("", "")
        keys = [
            task_key(task_id),
            queue_key(queue),
            ACTIVE_KEY,
            active_key(key_id),
            idempotency_key(key_id, idem_name) if idempotency else f"dd:idem:{key_id}:",
            SEQ_KEY,
            broker_list(queue, priority),
            logs_key(task_id),
            BLOB_EXPIRY_KEY,
            quota_key(key_id),
            usage_key(key_id, usage_day(created_at)),
            turns_key(queue, priority.band),
            key_record,
        ]
        args = [
            task_id, json.dumps(fields), per_key_limit, total_limit, self.ttl_s, body_hash, message,
            json.dumps(notes), json.dumps(list(input_refs)), time.time() + self.ttl_s, history_score(created_at),
            "1" if queue == Queue.gpu else "0",
        ]  # fmt: skip
        outcome, value, *rest = await self._submit(keys, args)
        if outcome == "created":
            return Admission(outcome, task_id=value, position=int(rest[0]))
        if outcome in ("existing", "conflict"):
            return Admission(outcome, task_id=value)
        if outcome == "quota":
            return Admission(outcome, quota_s=float(value))
        if outcome == "priority":
            return Admission(outcome, cap=Priority(value))
        return Admission(outcome, count=int(value))

    async def admit_batch(
        self,
        *,
        batch_id: str,
        domain: Domain,
        key_id: str,
        tasks: Sequence[NewTask],
        per_key_limit: int,
        total_limit: int,
        key_record: str,
        webhook: dict[str, Any] | None = None,
    ) -> Admission:
        """Every task of a batch or none: both backlogs checked for all of them, then each
        written as `admit` writes one, in one atomic step."""
        created_at = time.time()
        keys = [
            ACTIVE_KEY, active_key(key_id), SEQ_KEY, BLOB_EXPIRY_KEY, batch_key(batch_id), batch_tasks_key(batch_id),
            quota_key(key_id), usage_key(key_id, usage_day(created_at)), key_record,
        ]  # fmt: skip
        items = []
        # Every task reports its own events; the batch, once all have ended, `batch_completed`.
        task_events = [event for event in (webhook or {}).get("events", []) if event != "batch_completed"]
        task_hook = {"webhook": json.dumps(webhook | {"events": task_events})} if webhook and task_events else {}
        for task in tasks:
            keys += [
                task_key(task.task_id), queue_key(task.queue), logs_key(task.task_id), broker_list(task.queue, task.priority),
                turns_key(task.queue, task.priority.band),
            ]
            fields = {
                "id": task.task_id, "domain": domain.value, "model": task.model, "queue": task.queue.value, "key_id": key_id,
                "status": TaskStatus.queued.value, "request": json.dumps(task.request), "created_at": repr(created_at), "batch": batch_id,
                "priority": task.priority.value, "band": str(task.priority.band),
            } | ({"label": task.label} if task.label is not None else {}) | task_hook  # fmt: skip
            items.append({"id": task.task_id, "fields": fields, "message": task.message, "notes": task.notes, "refs": list(task.input_refs)})
        batch = {"id": batch_id, "key_id": key_id, "domain": domain.value, "created_at": repr(created_at), "count": str(len(tasks)), "remaining": str(len(tasks))}
        if webhook and "batch_completed" in webhook["events"]:
            batch["webhook"] = json.dumps(webhook)
        gpu = "1" if any(task.queue == Queue.gpu for task in tasks) else "0"
        args = [per_key_limit, total_limit, self.ttl_s, time.time() + self.ttl_s, history_score(created_at), json.dumps(batch), json.dumps(items), gpu]
        outcome, value = await self._batch(keys, args)
        if outcome == "created":
            return Admission(outcome, task_id=batch_id, positions=json.loads(value))
        if outcome == "quota":
            return Admission(outcome, quota_s=float(value))
        if outcome == "priority":
            return Admission(outcome, cap=Priority(value))
        return Admission(outcome, count=int(value))

    async def batch(self, batch_id: str) -> tuple[dict[str, str], list[StoredTask]]:
        """A batch's fields ({} when unknown) and its tasks in order (those whose record is gone left out)."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(batch_key(batch_id))
            pipe.lrange(batch_tasks_key(batch_id), 0, -1)
            fields, task_ids = await pipe.execute()
        if not fields:
            return {}, []
        return fields, [task for task in await self.get_many(task_ids) if task is not None]

    async def get(self, task_id: str) -> StoredTask | None:
        async with self.client.pipeline(transaction=False) as pipe:
            read_pipeline(pipe, task_id)
            return parse_read(await pipe.execute())

    async def get_many(self, task_ids: Sequence[str]) -> list[StoredTask | None]:
        """Many records in one round trip, in order (None where a record is gone)."""
        async with self.client.pipeline(transaction=False) as pipe:
            for task_id in task_ids:
                read_pipeline(pipe, task_id)
            results = await pipe.execute()
        return [parse_read(results[i * READS_PER_RECORD : (i + 1) * READS_PER_RECORD]) for i in range(len(task_ids))]

    async def history(self, index: str, *, before: int | None, oldest: int | None, limit: int) -> tuple[list[StoredTask], int | None]:
        """Up to `limit` tasks of one history index (history_key), newest first, scored below
        `before` (the cursor) and at or above `oldest`; and the next page's cursor, None once the
        index is exhausted. Entries whose record has expired are dropped on the way."""
        found: list[StoredTask] = []
        high = f"({before}" if before is not None else "+inf"
        low = oldest if oldest is not None else "-inf"
        while len(found) < limit:
            wanted = limit - len(found)
            entries = await self.client.zrevrangebyscore(index, high, low, start=0, num=wanted, withscores=True)
            gone = []
            for (task_id, _), task in zip(entries, await self.get_many([task_id for task_id, _ in entries]), strict=True):
                if task is None:
                    gone.append(task_id)
                else:
                    found.append(task)
            if gone:
                await self.client.zrem(index, *gone)
            if len(entries) < wanted:
                return found, None
            high = f"({int(entries[-1][1])}"
        return found, int(high[1:])

    async def cancel(self, task: StoredTask) -> str:
        keys = end_keys(task.id, task.queue, task.key_id, task.model)
        args = end_args(task, TaskStatus.cancelled, [], ErrorInfo(code="cancelled", message="Cancelled before it ran."), self.ttl_s)
        return await self._cancel(keys, args)

    async def expired_leases(self, limit: int = 100) -> list[str]:
        return await self.client.zrangebyscore(LEASES_KEY, "-inf", time.time(), start=0, num=limit)

    async def reap(self, task: StoredTask, message: str, max_attempts: int) -> tuple[str, str]:
        """Requeue a task whose lease expired (or fail it `worker_lost` after max_attempts), or
        return a task its worker took but never started. Returns (requeued | failed | cancelled |
        returned | alive | <status>, the lost worker)."""
        keys = [*end_keys(task.id, task.queue, task.key_id, task.model), broker_list(task.queue, task.priority)]
        args = [*end_args(task, TaskStatus.failed, [], None, self.ttl_s), message, max_attempts]
        outcome, worker = await self._reap(keys, args)
        return outcome, worker


@dataclass(frozen=True)
class Lease:
    """What a worker holds while it runs a task: the token that lets it write to the record."""

    task_id: str
    token: str
    hostname: str  # the Celery worker's, whose drain deadline the task obeys


class TaskStore:
    """The workers' side: start, progress, logs, outputs, end. Synchronous, like Celery tasks.

    Progress, previews, text and logs are best effort: while Redis is unreachable they are
    dropped (and not retried for a moment, so a run does not crawl). Start and end are durable:
    they retry with backoff until Redis answers, for up to `outage_s`.
    """

    QUIET_S = 2.0

    def __init__(self, client: redis.Redis, ttl_s: int, log_lines: int, lease_s: float = 15, outage_s: float = 300) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.log_lines = log_lines
        self.lease_s = lease_s
        self.outage_s = outage_s
        self._quiet_until = 0.0
        self._take = client.register_script(TAKE)
        self._start = client.register_script(START)
        self._finish = client.register_script(FINISH)
        self._renew = client.register_script(RENEW)
        self._state = client.register_script(STATE)
        self._progress = client.register_script(PROGRESS)
        self._requeue = client.register_script(REQUEUE)
        self._preview = client.register_script(PREVIEW)
        self._append_text = client.register_script(APPEND_TEXT)
        self._log = client.register_script(LOG)

    def get(self, task_id: str) -> StoredTask | None:
        def read() -> StoredTask | None:
            with self.client.pipeline(transaction=False) as pipe:
                read_pipeline(pipe, task_id)
                return parse_read(pipe.execute())

        return self.durable(read, "read the task")

    def get_to_run(self, task_id: str) -> StoredTask | None:
        """The record without its logs, partial text or queue position: what a worker needs to
        run it, in one command instead of a read of everything."""

        def read() -> StoredTask | None:
            fields = self.client.hgetall(task_key(task_id))
            return StoredTask.parse(fields, [], None) if fields.get("id") else None

        return self.durable(read, "read the task")

    def take(self, lane: str, hostname: str) -> Lease | None:
        """Take the first task of this lane (a queue, or a model's queue) for this worker: its
        lease, which `start` turns into the running task's; None when no task waits."""
        token = uuid.uuid4().hex
        keys = [queue_key(lane), LEASES_KEY]
        task_id = self.durable(lambda: self._take(keys, [token, time.time() + self.lease_s]), "take a task")
        return Lease(task_id, token, hostname) if task_id else None

    def start(self, task: StoredTask, lease: Lease) -> tuple[str, int]:
        """Mark the taken task running under its lease. Returns the status (running, or `taken`
        when it was cancelled or handed on meanwhile) and the attempt number."""
        worker = f"{lease.hostname} (pid {os.getpid()})"
        now = time.time()
        keys = [
            task_key(task.id), events_channel(task.id), text_key(task.id), LEASES_KEY, running_key(task.queue),
            turns_key(task.queue, task.priority.band),
        ]  # fmt: skip
        status, attempts = self.durable(lambda: self._start(keys, [task.id, now, lease.token, now + self.lease_s, worker]), "start the task")
        return status, int(attempts)

    def renew(self, lease: Lease) -> bool:
        """Extend the lease; False once another worker holds it or the task has ended."""
        keys = [task_key(lease.task_id), LEASES_KEY]
        return self._renew(keys, [lease.token, lease.task_id, time.time() + self.lease_s]) == "ok"

    def progress(self, lease: Lease, step: int, total: int, eta_s: float | None = None) -> str:
        """Record a step: `ok`, `cancel` (the client asked to cancel) or `lost` (the lease is gone)."""
        eta = "" if eta_s is None else round(eta_s, 2)
        keys = [task_key(lease.task_id), drain_key(lease.hostname), events_channel(lease.task_id)]
        return self._best_effort(lambda: self._progress(keys, [lease.token, time.time(), step, total, eta])) or "ok"

    def state(self, lease: Lease) -> str:
        """`ok`, `cancel` (the client asked to cancel), `drain` (the worker is shutting down and
        its drain time is over) or `lost` (the lease is gone)."""
        keys = [task_key(lease.task_id), drain_key(lease.hostname)]
        return self._best_effort(lambda: self._state(keys, [lease.token, time.time()])) or "ok"

    def requeue(self, task: StoredTask, lease: Lease, message: str, reason: str) -> str:
        """Hand a task back to the front of its queue (its attempt not counted): `requeued`, or
        `lost` when this worker no longer holds it."""
        keys = [
            task_key(task.id), queue_key(task.queue), LEASES_KEY, logs_key(task.id), events_channel(task.id),
            broker_list(task.queue, task.priority), running_key(task.queue),
        ]  # fmt: skip
        return self.durable(lambda: self._requeue(keys, [lease.token, task.id, message, f"requeued: {reason}"]), "requeue the task")

    def preview(self, lease: Lease, ref: str, step: int) -> None:
        """Announce the latest preview image (the previous one is replaced, not listed)."""
        keys = [task_key(lease.task_id), events_channel(lease.task_id), BLOB_EXPIRY_KEY]
        args = [lease.token, json.dumps({"ref": ref, "step": step}), ref, time.time() + self.ttl_s]
        self._best_effort(lambda: self._preview(keys, args))

    def append_text(self, lease: Lease, piece: str) -> None:
        """Add generated text to the task's partial text and announce it."""
        keys = [task_key(lease.task_id), events_channel(lease.task_id), text_key(lease.task_id)]
        self._best_effort(lambda: self._append_text(keys, [lease.token, piece]))

    def clear_text(self, lease: Lease) -> None:
        self._best_effort(lambda: self.client.delete(text_key(lease.task_id)))

    def log(self, lease: Lease, line: str) -> None:
        keys = [task_key(lease.task_id), events_channel(lease.task_id), logs_key(lease.task_id)]
        self._best_effort(lambda: self._log(keys, [lease.token, line, self.log_lines]))

    def finish(
        self,
        task: StoredTask,
        lease: Lease,
        status: TaskStatus,
        outputs: list[dict[str, Any]] | None = None,
        error: ErrorInfo | None = None,
        usage: dict[str, float] | None = None,
    ) -> str:
        """End the task with this result (and what it used, for the key's usage); returns the
        status it ended with (a task that had already ended, or that another worker now holds,
        keeps its own)."""
        keys = end_keys(task.id, task.queue, task.key_id, task.model)
        args = [*end_args(task, status, outputs or [], error, self.ttl_s, usage), lease.token]
        return self.durable(lambda: self._finish(keys, args), "write the result")

    def durable(self, write: Callable[[], Any], what: str) -> Any:
        """Run `write` until Redis answers, retrying with capped exponential backoff for up to
        `outage_s`; then the last error is raised."""
        deadline = time.monotonic() + self.outage_s
        delay = 0.1
        while True:
            try:
                return write()
            except UNAVAILABLE_ERRORS as exc:
                if time.monotonic() + delay > deadline:
                    log.error("Redis unreachable; giving up", action=what, after_s=self.outage_s, error=str(exc))
                    raise
                log.warning("Redis unreachable; retrying", action=what, retry_in_s=round(delay, 2), error=str(exc))
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _best_effort(self, write: Callable[[], Any]) -> Any:
        if time.monotonic() < self._quiet_until:
            return None
        try:
            return write()
        except UNAVAILABLE_ERRORS as exc:
            self._quiet_until = time.monotonic() + self.QUIET_S
            log.warning("Redis unreachable; progress not recorded", error=str(exc))
            return None
