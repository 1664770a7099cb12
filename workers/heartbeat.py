"""A worker's heartbeat: every few seconds, what it can run, what weights it has and what it holds
warm (core.heartbeat.WorkerBeat), for /readyz and the model listings; and its drain announcement
when it shuts down."""

import importlib
import json
import os
import threading
import time
from typing import Any

import httpx
import redis
import structlog

from core.catalogue import CATALOGUE, EngineKind, ModelEntry
from core.heartbeat import HEARTBEAT_S, WorkerBeat, beat, leave, warm_key
from core.records import drain_key
from core.settings import Settings
from workers.affinity import refresh_claims, release_all
from workers.engines import LOCAL_ENGINES

log = structlog.get_logger("worker")


def model_available(entry: ModelEntry, present: set[str], settings: Settings) -> bool:
    """Whether this worker could run the entry now: its weights are here (in `present`, or, with
    downloads allowed, on the Hub: the first task fetches them), or its service is configured
    (OpenAI, Replicate) or answering (ComfyUI)."""
    if entry.routes:
        return all(model_available(CATALOGUE[target], present, settings) for target in set(entry.routes.values()))
    if entry.engine in LOCAL_ENGINES:
        return entry.name in present or (settings.allow_downloads and importlib.import_module("workers.local.weights").hub_repo(entry))
    if entry.engine in (EngineKind.openai, EngineKind.openai_images):
        return settings.openai_api_key is not None
    if entry.engine == EngineKind.replicate:
        return settings.replicate_api_token is not None
    if entry.engine == EngineKind.comfyui:
        try:
            return httpx.get(f"{settings.comfy_url.rstrip('/')}/system_stats", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
    return False


def weights_present(entry: ModelEntry, settings: Settings) -> bool:
    """Whether the entry's weights (every member's, for a family) are on this worker's disk."""
    if entry.routes:
        return all(weights_present(CATALOGUE[target], settings) for target in set(entry.routes.values()))
    if entry.engine not in LOCAL_ENGINES:
        return False
    return importlib.import_module("workers.local.weights").find_weights(entry, settings.resolved_models_dir) is not None


def heartbeat_models(queues: list[str], settings: Settings) -> tuple[list[str], list[str]]:
    """Catalogue entries on this worker's queues: those it can serve now, and those whose weights
    are on its disk (looked up once per beat; availability is derived from it)."""
    entries = [entry for entry in CATALOGUE.values() if entry.queue in queues]
    present = {entry.name for entry in entries if weights_present(entry, settings)}
    return [entry.name for entry in entries if model_available(entry, present, settings)], sorted(present)


def report_warm(client: redis.Redis, models: list[str], loads: int) -> None:
    """Tell this worker's heartbeat (in the parent process) which models this pool process holds
    warm and how many loads it has made: engines live in the pool processes, the heartbeat does not see them."""
    client.hset(warm_key(os.getppid()), str(os.getpid()), json.dumps({"warm": models, "loads": loads}))


def pool_state(client: redis.Redis) -> tuple[list[str], int]:
    """Models warm in any live pool process of this worker, and their loads; entries of dead processes are dropped."""
    key = warm_key(os.getpid())
    warm: set[str] = set()
    loads = 0
    for pid, value in client.hgetall(key).items():
        if process_alive(int(pid)):
            state = json.loads(value)
            warm.update(state["warm"])
            loads += state["loads"]
        else:
            client.hdel(key, pid)
    return sorted(warm), loads


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_heartbeat(client: redis.Redis, hostname: str, queues: list[str], settings: Settings) -> tuple[Any, Any]:
    """Beat from a thread until shutdown; returns the handlers for Celery's worker_shutting_down
    (announce the drain) and worker_shutdown (leave) signals."""
    stop = threading.Event()
    draining = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                models, present = heartbeat_models(queues, settings)
                warm, loads = pool_state(client)
                beat(client, hostname, WorkerBeat(queues=queues, models=models, present=present, warm=warm, loads=loads))
                # A draining worker claims nothing again: its models' tasks belong to the shared queue now.
                refresh_claims(client, hostname, warm if settings.affinity_backlog and not draining.is_set() else [])
            except redis.RedisError as exc:
                log.warning("heartbeat failed", error=str(exc))
            stop.wait(HEARTBEAT_S)

    def on_shutting_down(**_: Any) -> None:
        # Warm shutdown: no new task is taken; the running one may finish within the drain time,
        # after which it stops at its next step and is handed back (see core.records REQUEUE).
        draining.set()
        try:
            client.set(drain_key(hostname), time.time() + settings.drain_s, ex=int(settings.drain_s) + 600)
            release_all(client, hostname)  # tasks waiting for this worker's warm models go back to the shared queue
        except redis.RedisError as exc:
            log.warning("could not announce the drain", error=str(exc))

    def on_shutdown(**_: Any) -> None:
        stop.set()
        beater.join(HEARTBEAT_S)  # a beat under way may have claimed a model again while the drain began
        try:
            leave(client, hostname, queues)
            release_all(client, hostname)
            client.delete(warm_key(os.getpid()))
        except redis.RedisError:
            pass  # Redis is gone first; the beat expires on its own

    try:
        client.delete(drain_key(hostname))  # a drain left by this name's previous run
        release_all(client, hostname)  # and its claims: this run holds nothing warm yet
    except redis.RedisError as exc:
        log.warning("could not clear an old drain", error=str(exc))
    beater = threading.Thread(target=loop, name="heartbeat", daemon=True)
    beater.start()
    return on_shutting_down, on_shutdown
