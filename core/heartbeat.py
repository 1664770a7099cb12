"""Worker liveness: each worker process beats every few seconds with its queues, the models it
can run and those whose weights it has on disk. The api reads this for /readyz and for
`available` and `weights_present` in model listings."""

import time
from typing import Any

from pydantic import BaseModel, Field

HEARTBEAT_S = 5
STALE_AFTER_S = 20


def queue_workers_key(queue: str) -> str:
    return f"dd:workers:{queue}"


def worker_key(hostname: str) -> str:
    return f"dd:worker:{hostname}"


def warm_key(worker_pid: int) -> str:
    """Hash of a worker's pool processes (pid → JSON list of the models each holds warm)."""
    return f"dd:warm:{worker_pid}"


class WorkerBeat(BaseModel):
    """One worker's heartbeat, as the worker writes it and the api reads it."""

    queues: list[str]
    models: list[str] = Field(description="Models it can run now (weights present, provider configured, sidecar answering).")
    present: list[str] = Field(description="Models whose weights are on its disk.")
    warm: list[str] = Field(description="Models loaded in one of its processes.")
    loads: int = Field(0, description="Model loads its processes have made since they started (a cold start each).")
    at: float = Field(default_factory=time.time)


def beat(client: Any, hostname: str, record: WorkerBeat) -> None:
    """Record one beat (sync client): O(queues) Redis writes."""
    now = record.at
    with client.pipeline(transaction=False) as pipe:
        pipe.set(worker_key(hostname), record.model_dump_json(), ex=STALE_AFTER_S)
        for queue in record.queues:
            pipe.zadd(queue_workers_key(queue), {hostname: now})
            pipe.zremrangebyscore(queue_workers_key(queue), "-inf", now - STALE_AFTER_S)
        pipe.execute()


def leave(client: Any, hostname: str, queues: list[str]) -> None:
    with client.pipeline(transaction=False) as pipe:
        pipe.delete(worker_key(hostname))
        for queue in queues:
            pipe.zrem(queue_workers_key(queue), hostname)
        pipe.execute()
