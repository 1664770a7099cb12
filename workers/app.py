"""The Celery app of the workers: `celery -A workers.app worker -Q gpu`.

One task function serves every domain (the catalogue entry says which engine runs it), under
the fixed names the api enqueues by. Engines are created lazily, once per worker process, so
weights stay warm between tasks and a cpu worker never imports torch.
"""

import importlib
import json
import os
import threading
import time
from typing import Any

import httpx
import redis
import structlog
from celery import Task, signals

from core.blobs import BlobStore, open_blob_store
from core.catalogue import CATALOGUE, ModelEntry
from core.heartbeat import HEARTBEAT_S, beat, leave, warm_key
from core.logs import configure_logging
from core.queue import TASK_NAMES, make_celery, task_message
from core.records import StoredTask, TaskStore, drain_key
from core.redis_client import connect
from core.settings import Settings
from workers.context import TaskContext
from workers.lease import LeaseKeeper
from workers.runner import Engine, run_task

ENGINES = {
    "diffusers": "workers.local.images:DiffusersImageEngine",
    "diffusers_video": "workers.local.videos:DiffusersVideoEngine",
    "transformers": "workers.local.texts:TransformersTextEngine",
    "openai": "workers.providers.openai_chat:OpenAIChatEngine",
    "openai_images": "workers.providers.openai_images:OpenAIImageEngine",
    "replicate": "workers.providers.replicate:ReplicateEngine",
    "comfyui": "workers.comfy.engine:ComfyEngine",
}
LOCAL_ENGINES = {"diffusers", "diffusers_video", "transformers"}

settings = Settings()
configure_logging(settings.log_level, settings.log_json)
app = make_celery(settings)
log = structlog.get_logger("worker")


class WorkerState:
    """Per-process clients and engines, built on first use (after the pool forks)."""

    def __init__(self) -> None:
        self._engines: dict[str, Engine] = {}
        self._client: redis.Redis | None = None
        self._model_cache: Any = None  # workers.local.cache.ModelCache, imported only where torch is
        self._blobs: BlobStore | None = None

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = connect(settings.redis_url_or_raise())
        return self._client

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

    def report_warm(self) -> None:
        """Tell this worker's heartbeat (in the parent process) which models this process holds
        warm: engines live in the pool processes, the heartbeat does not see them."""
        warm = self._model_cache.warm_names() if self._model_cache is not None else []
        self.client.hset(warm_key(os.getppid()), str(os.getpid()), json.dumps(warm))

    def engine(self, entry: ModelEntry) -> Engine:
        if entry.engine not in self._engines:
            module, name = ENGINES[entry.engine].split(":")
            engine_class = getattr(importlib.import_module(module), name)
            if entry.engine in LOCAL_ENGINES:
                # One model cache per process: the local engines share its memory budget.
                if self._model_cache is None:
                    cache = importlib.import_module("workers.local.cache")
                    weights = importlib.import_module("workers.local.weights")
                    self._model_cache = cache.ModelCache.for_settings(settings, weights.pick_device(settings.device)[0])
                self._engines[entry.engine] = engine_class(settings, cache=self._model_cache)
            else:
                self._engines[entry.engine] = engine_class(settings)
        return self._engines[entry.engine]


state = WorkerState()


def message_for(task: StoredTask) -> str:
    return task_message(app, task.domain, task.queue, task.id)


def execute(task: Task, task_id: str) -> str:
    try:
        return run_task(task_id, state.store, state.context, state.engine, settings.max_attempts, task.request.hostname, message_for)
    finally:
        try:
            state.report_warm()
        except redis.RedisError as exc:
            log.warning("could not report warm models", error=str(exc))


for task_name in TASK_NAMES.values():
    app.task(name=task_name, ignore_result=True, bind=True)(execute)


def model_available(entry: ModelEntry, present: set[str]) -> bool:
    """Whether this worker could run the entry now: its weights are here (in `present`, or, with
    downloads allowed, on the Hub: the first task fetches them), or its service is configured
    (OpenAI, Replicate) or answering (ComfyUI)."""
    if entry.routes:
        return all(model_available(CATALOGUE[target], present) for target in set(entry.routes.values()))
    if entry.engine in LOCAL_ENGINES:
        return entry.name in present or (settings.allow_downloads and importlib.import_module("workers.local.weights").hub_repo(entry))
    if entry.engine in ("openai", "openai_images"):
        return settings.openai_api_key is not None
    if entry.engine == "replicate":
        return settings.replicate_api_token is not None
    if entry.engine == "comfyui":
        url = settings.comfy_url
        try:
            return httpx.get(f"{url.rstrip('/')}/system_stats", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
    return False


def weights_present(entry: ModelEntry) -> bool:
    """Whether the entry's weights (every member's, for a family) are on this worker's disk."""
    if entry.routes:
        return all(weights_present(CATALOGUE[target]) for target in set(entry.routes.values()))
    if entry.engine not in LOCAL_ENGINES:
        return False
    return importlib.import_module("workers.local.weights").find_weights(entry, settings.resolved_models_dir) is not None


def heartbeat_models(queues: list[str]) -> tuple[list[str], list[str]]:
    """Catalogue entries on this worker's queues: those it can serve now, and those whose weights
    are on its disk (looked up once per beat; availability is derived from it)."""
    entries = [entry for entry in CATALOGUE.values() if entry.queue in queues]
    present = {entry.name for entry in entries if weights_present(entry)}
    return [entry.name for entry in entries if model_available(entry, present)], sorted(present)


def pool_warm_models(client: redis.Redis) -> list[str]:
    """Models warm in any live pool process of this worker; entries of dead processes are dropped."""
    key = warm_key(os.getpid())
    warm: set[str] = set()
    for pid, models in client.hgetall(key).items():
        if process_alive(int(pid)):
            warm.update(json.loads(models))
        else:
            client.hdel(key, pid)
    return sorted(warm)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@signals.worker_ready.connect
def start_heartbeat(sender: Any, **kwargs: Any) -> None:
    hostname = sender.hostname
    queues = sorted(queue.name for queue in sender.task_consumer.queues)
    client = connect(settings.redis_url_or_raise())
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                beat(client, hostname, queues, *heartbeat_models(queues), pool_warm_models(client))
            except redis.RedisError as exc:
                log.warning("heartbeat failed", error=str(exc))
            stop.wait(HEARTBEAT_S)

    def on_shutdown(**_: Any) -> None:
        stop.set()
        try:
            leave(client, hostname, queues)
            client.delete(warm_key(os.getpid()))
        except redis.RedisError:
            pass  # Redis is gone first; the beat expires on its own

    def on_shutting_down(**_: Any) -> None:
        # Warm shutdown: no new task is taken; the running one may finish within the drain time,
        # after which it stops at its next step and is handed back (see core.records REQUEUE).
        try:
            client.set(drain_key(hostname), time.time() + settings.drain_s, ex=int(settings.drain_s) + 600)
        except redis.RedisError as exc:
            log.warning("could not announce the drain", error=str(exc))

    try:
        client.delete(drain_key(hostname))  # a drain left by this name's previous run
    except redis.RedisError as exc:
        log.warning("could not clear an old drain", error=str(exc))
    threading.Thread(target=loop, name="heartbeat", daemon=True).start()
    signals.worker_shutting_down.connect(on_shutting_down, weak=False)
    signals.worker_shutdown.connect(on_shutdown, weak=False)
    log.info("worker ready", hostname=hostname, queues=queues, models=heartbeat_models(queues)[0])
