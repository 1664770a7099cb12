"""The Celery app of the workers: `celery -A workers.app worker -Q gpu`.

One task function serves every domain (the catalogue entry says which engine runs it), under
the fixed names the api enqueues by; engines (workers/engines.py) are built once per process.
"""

from typing import Any

import redis
import structlog
from celery import Task, signals
from celery.exceptions import WorkerShutdown

from core.blobs import BlobStore, open_blob_store
from core.catalogue import CATALOGUE
from core.logs import configure_logging
from core.queue import TASK_NAMES, Queue, make_celery, task_message
from core.records import Lease, StoredTask, TaskStore
from core.redis_client import connect
from core.settings import Settings
from workers.affinity import WorkerAffinity
from workers.context import TaskContext
from workers.engines import Engines
from workers.heartbeat import heartbeat_models, report_warm, start_heartbeat
from workers.lease import LeaseKeeper
from workers.runner import run_task

settings = Settings()
configure_logging(settings.log_level, settings.log_json)
app = make_celery(settings)
log = structlog.get_logger("worker")


class WorkerState:
    """Per-process clients and engines, built on first use (after the pool forks)."""

    def __init__(self) -> None:
        self.engines = Engines(settings)
        self._client: redis.Redis | None = None
        self._blobs: BlobStore | None = None
        self._affinity: WorkerAffinity | None = None

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = connect(settings.redis_url_or_raise())
        return self._client

    @property
    def affinity(self) -> WorkerAffinity:
        if self._affinity is None:
            self._affinity = WorkerAffinity(self.client, app, settings.affinity_backlog)
        return self._affinity

    @property
    def store(self) -> TaskStore:
        return TaskStore(self.client, settings.result_ttl_s, settings.task_log_lines, settings.task_lease_s, settings.redis_outage_s)

    @property
    def blobs(self) -> BlobStore:
        # One store (and its S3 connection pool) per process, not one per task.
        if self._blobs is None:
            self._blobs = open_blob_store(settings)
        return self._blobs

    def context(self, keeper: LeaseKeeper) -> TaskContext:
        return TaskContext(keeper.store, self.blobs, keeper)


state = WorkerState()


def message_for(task: StoredTask, lane: str | None = None) -> str:
    return task_message(app, task.domain, lane or task.queue, task.id, task.priority)


def execute(task: Task, task_id: str) -> str:
    """A turn to run the first task of the message's lane (its routing key; see core.queue);
    `task_id` names the task the message was made for, which may not be the one that runs."""
    hostname = task.request.hostname
    lane = task.request.delivery_info["routing_key"]

    def dispatch(stored: StoredTask, lease: Lease) -> str:
        would_evict = stored.model in CATALOGUE and state.engines.would_evict(CATALOGUE[stored.model])
        return state.affinity.dispatch(stored, lease, lane, state.engines.warm_names(), would_evict, lambda to: message_for(stored, to))

    try:
        return run_task(lane, state.store, state.context, state.engines.engine, settings.max_attempts, hostname, message_for, dispatch)
    finally:
        warm = state.engines.warm_names()
        try:
            report_warm(state.client, warm, state.engines.loads())
            state.affinity.sync(hostname, warm)
        except redis.RedisError as exc:
            log.warning("could not report warm models", error=str(exc))


for task_name in TASK_NAMES.values():
    app.task(name=task_name, ignore_result=True, bind=True)(execute)


@signals.worker_ready.connect
def on_worker_ready(sender: Any, **kwargs: Any) -> None:
    hostname = sender.hostname
    queues = sorted(queue.name for queue in sender.task_consumer.queues)
    if settings.fp8_models and Queue.gpu.value in queues:
        refuse_unrunnable_speedups()
    on_shutting_down, on_shutdown = start_heartbeat(connect(settings.redis_url_or_raise()), hostname, queues, settings)
    signals.worker_shutting_down.connect(on_shutting_down, weak=False)
    signals.worker_shutdown.connect(on_shutdown, weak=False)
    log.info("worker ready", hostname=hostname, queues=queues, models=heartbeat_models(queues, settings)[0])


def refuse_unrunnable_speedups() -> None:
    """Stop a gpu worker at start whose fast-path settings this machine cannot run (FP8 without an
    Ada or Hopper GPU or without torchao), rather than failing its tasks one by one."""
    from workers.local.speedups import Speedups
    from workers.local.weights import pick_device

    try:
        Speedups.for_settings(settings).check(pick_device(settings.device)[0])
    except RuntimeError as exc:
        log.error("worker refused to start", reason=str(exc))
        raise WorkerShutdown(1) from exc
