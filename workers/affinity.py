"""A gpu worker's side of model affinity (core.affinity).

Before a task starts, a worker that does not hold its model warm either hands it to the model's
lane (another worker holds it, its backlog is short, and this worker has other work or no room
for the model) or claims the model and runs it.
After each task it holds exactly the models warm in its cache: it claims those and consumes their
queues (Celery's add_consumer), and releases the others. The heartbeat keeps the claims fresh;
a worker that starts or shuts down releases all of its own.
"""

import time
from collections.abc import Callable
from typing import Literal

import redis
import structlog
from celery import Celery

from core.affinity import AFFINITY_KEY, CLAIM, CLAIM_S, FORWARD, RELEASE, holders_key, release_args, release_keys
from core.queue import broker_list, model_queue
from core.records import LEASES_KEY, Lease, StoredTask, queue_key, task_key
from core.schemas import Queue

log = structlog.get_logger("worker")


class WorkerAffinity:
    """One per worker process; `backlog` 0 turns affinity off (no claims, no forwarding)."""

    def __init__(self, client: redis.Redis, app: Celery, backlog: int) -> None:
        self.client = client
        self.app = app
        self.backlog = backlog
        self._forward = client.register_script(FORWARD)
        self._claim = client.register_script(CLAIM)
        self._release = client.register_script(RELEASE)
        self._synced: list[str] | None = None

    def dispatch(
        self, task: StoredTask, lease: Lease, lane: str, warm: list[str], would_evict: bool, message: Callable[[str], str]
    ) -> Literal["run", "forwarded", "taken"]:
        """`forwarded` when the task, taken from the shared gpu lane, went to its model's lane for a
        worker that holds the model warm; `run` when this worker runs it (warm here, or claimed
        now: others forward to it meanwhile); `taken` when it is no longer this worker's.
        `would_evict`: loading the task's model here would push a warm one out; `message(lane)`
        builds the message that goes with it to the model's lane."""
        if self.backlog == 0 or lane != Queue.gpu or task.model in warm:
            return "run"
        now = time.time()
        model_lane = model_queue(task.model)
        keys = [
            holders_key(task.model), queue_key(model_lane), AFFINITY_KEY, queue_key(Queue.gpu), broker_list(model_lane, task.priority),
            task_key(task.id), LEASES_KEY, *(queue_key(model_queue(model)) for model in warm),
        ]  # fmt: skip
        hostname = lease.hostname
        args = [now, self.backlog, hostname, message(model_lane), now + CLAIM_S, task.model, "1" if would_evict else "0", task.id, lease.token]
        outcome = self._forward(keys, args)
        if outcome == "forwarded":
            log.info("handed to a worker that holds the model warm", task_id=task.id, model=task.model)
            return "forwarded"
        if outcome == "taken":
            return "taken"
        self._consume(hostname, task.model)
        self._synced = None  # the claim is for a model not yet warm: the next sync settles it
        return "run"

    def sync(self, hostname: str, warm: list[str]) -> None:
        """Hold exactly the models warm here: claim them (consuming their queues) and release the
        rest, whose waiting tasks go back to the shared queue when nobody else holds them."""
        if self.backlog == 0 or warm == self._synced:
            return
        known = self.client.smembers(AFFINITY_KEY)
        with self.client.pipeline(transaction=False) as pipe:
            for model in sorted(known):
                pipe.zscore(holders_key(model), hostname)
            held = {model for model, score in zip(sorted(known), pipe.execute(), strict=True) if score is not None}
        for model in warm:
            self._claim([holders_key(model), AFFINITY_KEY], [hostname, time.time() + CLAIM_S, model])
            if model not in held:
                self._consume(hostname, model)
        for model in held - set(warm):
            moved = self._release(release_keys(model), release_args(model, hostname))
            self.app.control.cancel_consumer(model_queue(model), destination=[hostname])
            log.info("released model", model=model, tasks_returned=moved)
        self._synced = list(warm)

    def _consume(self, hostname: str, model: str) -> None:
        self.app.control.add_consumer(model_queue(model), destination=[hostname])


def refresh_claims(client: redis.Redis, hostname: str, warm: list[str]) -> None:
    """Extend this worker's claims, and claim again the models its processes hold warm (a claim
    lapses when Redis was away longer than CLAIM_S). A claim released meanwhile (its model left the
    cache) is not renewed: only warm models are claimed anew."""
    until = time.time() + CLAIM_S
    with client.pipeline(transaction=False) as pipe:
        for model in client.smembers(AFFINITY_KEY) - set(warm):
            pipe.zadd(holders_key(model), {hostname: until}, xx=True, gt=True)  # a model still loading
        for model in warm:
            pipe.zadd(holders_key(model), {hostname: until}, gt=True)
            pipe.sadd(AFFINITY_KEY, model)
        pipe.execute()


def release_all(client: redis.Redis, hostname: str) -> int:
    """Release every claim of this worker name (at start: a previous run's; at shutdown: its own);
    returns how many waiting tasks went back to the shared queue."""
    release = client.register_script(RELEASE)
    return sum(int(release(release_keys(model), release_args(model, hostname))) for model in client.smembers(AFFINITY_KEY))
