"""Model affinity: a gpu task goes to a worker that holds its model warm, and to a cold one only
when no worker holds it, when the holders' backlog is long, or when the cold worker would
otherwise sit idle. Built on Celery's own routing: per-model queues (lanes, core.queue).

  gpu              the shared lane every gpu worker consumes: its order dd:queue:gpu and its
                   broker lists (one per priority), whose messages are turns to run its first task
  gpu.{model}      a model's lane (order dd:queue:gpu.{model} and lists), consumed only by the
                   workers that hold the model warm
  dd:holders:{m}   zset   workers holding model m (or loading it) → when the claim lapses (unix s)
  dd:affinity      set    models that have ever had a holder: what the api's rescue pass looks at

Every task is queued in `gpu`. A worker that took the first task of `gpu` (core.records TAKE) for a
model it does not hold either hands it on to `gpu.{model}` or claims the model and runs it (FORWARD, one atomic
step): it hands it on when another worker holds the model, fewer than `DDIFFUSION_AFFINITY_BACKLOG`
tasks per holder already wait there, and it would gain nothing by running it now: it has other
work (more tasks wait in `gpu` or in one of its own models' lanes), or the load would evict a model
it holds. So an idle worker with room takes the task rather than wait, and an idle worker without
room does not throw out its model to take another's. A handed-on task keeps its place in the
order (priority, then fair turn). A claim starts consumption of the model's lane (Celery's
add_consumer); it ends when the model leaves the worker's cache, when the worker shuts down, or
when its heartbeat stops refreshing it. When a model's last holder goes, its waiting tasks and
their messages move back to `gpu` in their order, so no task waits on a lane nobody reads.
"""

import time
from typing import Any

from core.heartbeat import STALE_AFTER_S
from core.queue import broker_lists, model_queue
from core.records import queue_key
from core.schemas import Queue

AFFINITY_KEY = "dd:affinity"
# A claim lapses as its worker's heartbeat does: after a few missed beats.
CLAIM_S = STALE_AFTER_S


def holders_key(model: str) -> str:
    return f"dd:holders:{model}"


FORWARD = """
-- KEYS: holders, model's order, affinity set, shared order, model's broker list (the task's priority),
--       task, leases, then the orders of the models this worker holds
-- ARGV: now, backlog per holder, me, message, claim until, model, '1' if loading it here would evict a warm model,
--       task id, the token this worker took it with (core.records TAKE)
-- A cold worker's choice for the task it took: hand it to the model's holders, or claim the model.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('HGET', KEYS[6], 'taken_by') ~= ARGV[9] then return 'taken' end
local others = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then others = others - 1 end
if others > 0 and redis.call('ZCARD', KEYS[2]) < tonumber(ARGV[2]) * others then
  local busy = ARGV[7] == '1' or redis.call('ZCARD', KEYS[4]) > 0
  for i = 8, #KEYS do busy = busy or redis.call('ZCARD', KEYS[i]) > 0 end
  if busy then
    redis.call('HDEL', KEYS[6], 'taken_by')
    redis.call('ZREM', KEYS[7], ARGV[8])
    redis.call('ZADD', KEYS[2], redis.call('HGET', KEYS[6], 'order'), ARGV[8])
    redis.call('LPUSH', KEYS[5], ARGV[4])
    return 'forwarded'
  end
end
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[6])
return 'claimed'
"""

CLAIM = """
-- KEYS: holders, affinity set ; ARGV: me, claim until, model
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
"""

RELEASE = """
-- KEYS: holders, model's order, shared order, the model's broker lists, the shared broker lists (as many)
-- ARGV: me ('' = only drop lapsed claims), now, the model's lane, the shared lane
-- With no holder left, the model's waiting tasks go back to the shared order with their places, and
-- their messages to the front of the shared lists of their priority (kombu pops on the right),
-- routed to the shared lane: a message's routing key is the lane whose first task it runs.
-- Returns how many tasks moved.
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[1], ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
local waiting = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = 1, #waiting, 2 do redis.call('ZADD', KEYS[3], waiting[i + 1], waiting[i]) end
redis.call('DEL', KEYS[2])
local routed_here = '"routing_key": "' .. ARGV[3] .. '"'
local routed_shared = '"routing_key": "' .. ARGV[4] .. '"'
local lists = (#KEYS - 3) / 2
for i = 1, lists do
  local message = redis.call('LPOP', KEYS[3 + i])
  while message do
    local from, to = string.find(message, routed_here, 1, true)
    if from then message = string.sub(message, 1, from - 1) .. routed_shared .. string.sub(message, to + 1) end
    redis.call('RPUSH', KEYS[3 + lists + i], message)
    message = redis.call('LPOP', KEYS[3 + i])
  end
end
return #waiting / 2
"""


def release_keys(model: str) -> list[str]:
    lane = model_queue(model)
    return [holders_key(model), queue_key(lane), queue_key(Queue.gpu), *broker_lists(lane), *broker_lists(Queue.gpu)]


def release_args(model: str, hostname: str) -> list[Any]:
    return [hostname, time.time(), model_queue(model), Queue.gpu.value]
