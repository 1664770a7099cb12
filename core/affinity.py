"""Model affinity: a gpu task goes to a worker that holds its model warm, and to a cold one only
when no worker holds it, when the holders' backlog is long, or when the cold worker would
otherwise sit idle. Built on Celery's own routing: per-model queues.

  gpu              the shared list every gpu worker consumes (kombu pushes left, pops right)
  gpu.{model}      a model's list, consumed only by the workers that hold the model warm
  dd:holders:{m}   zset   workers holding model m (or loading it) → when the claim lapses (unix s)
  dd:affinity      set    models that have ever had a holder: what the api's rescue pass looks at

Every task is enqueued on `gpu`. A worker that takes a task of a model it does not hold either
hands it on to `gpu.{model}` or claims the model and runs it (FORWARD, one atomic step): it hands
it on when another worker holds the model, fewer than `DDIFFUSION_AFFINITY_BACKLOG` tasks per
holder already wait there, and it would gain nothing by running it now: it has other work (the
shared queue or one of its own models' queues is not empty), or the load would evict a model it
holds. So an idle worker with room takes the task rather than wait, and an idle worker without
room does not throw out its model to take another's. A claim
starts consumption of the model's queue (Celery's add_consumer); it ends when the model leaves
the worker's cache, when the worker shuts down, or when its heartbeat stops refreshing it. When a
model's last holder goes, its waiting tasks move back to the front of `gpu`, so no task waits on
a list nobody reads.
"""

import time
from typing import Any

from core.heartbeat import STALE_AFTER_S
from core.schemas import Queue

AFFINITY_KEY = "dd:affinity"
# A claim lapses as its worker's heartbeat does: after a few missed beats.
CLAIM_S = STALE_AFTER_S


def holders_key(model: str) -> str:
    return f"dd:holders:{model}"


def model_queue(model: str) -> str:
    """The per-model queue (a kombu list of the same name) of a gpu model."""
    return f"{Queue.gpu.value}.{model}"


FORWARD = """
-- KEYS: holders, model list, affinity set, shared list, then the lists of the models this worker holds
-- ARGV: now, backlog per holder, me, message, claim until, model, '1' if loading it here would evict a warm model
-- A cold worker's choice for a task it took: hand it to the model's holders, or claim the model.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local others = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then others = others - 1 end
if others > 0 and redis.call('LLEN', KEYS[2]) < tonumber(ARGV[2]) * others then
  local busy = ARGV[7] == '1' or redis.call('LLEN', KEYS[4]) > 0
  for i = 5, #KEYS do busy = busy or redis.call('LLEN', KEYS[i]) > 0 end
  if busy then
    redis.call('LPUSH', KEYS[2], ARGV[4])
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
-- KEYS: holders, model list, shared list ; ARGV: me ('' = only drop lapsed claims), now
-- With no holder left, the model's waiting tasks go back to the front of the shared list, oldest
-- nearest the front (kombu pops on the right). Returns how many moved.
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[1], ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
local moved = 0
while redis.call('LMOVE', KEYS[2], KEYS[3], 'LEFT', 'RIGHT') do moved = moved + 1 end
return moved
"""


def release_keys(model: str) -> list[str]:
    return [holders_key(model), model_queue(model), Queue.gpu.value]


def release_args(hostname: str) -> list[Any]:
    return [hostname, time.time()]
