"""Fault figures for `make bench`: how long the platform takes to recover from a lost worker and
from a Redis restart, measured against the real processes (each wait capped: a figure that
does not come in time is `null`, never a hang)."""

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.platform import BenchPlatform, kill_group
from bench.report import attempt, say
from core.queue import make_celery
from server.redis import SentinelTopology

POLL_S = 0.05
CLIENT_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class FaultCounts:
    long_task: dict[str, Any]  # an image request that runs for seconds, so a kill lands mid-run
    rerun_cap_s: float
    outage_s: float  # how long the api is probed while Redis is down
    restart_cap_s: float


def poll_record(client: httpx.Client, task_id: str, done: Callable[[dict[str, Any]], bool], cap_s: float) -> dict[str, Any] | None:
    """The task's record once `done` says so, or None after cap_s."""
    deadline = time.monotonic() + cap_s
    while time.monotonic() < deadline:
        try:
            record = client.get(f"/api/images/{task_id}", timeout=CLIENT_TIMEOUT_S).json()
        except httpx.TransportError:
            record = {}
        if record.get("status") and done(record):
            return record
        time.sleep(POLL_S)
    return None


def worker_running(platform: BenchPlatform, task_id: str, workers: int, cap_s: float) -> str | None:
    """The Celery hostname of the worker running this task, by asking the workers (a running
    task's record does not name its worker); the answer comes once all `workers` replied."""
    app = make_celery(platform.settings)
    deadline = time.monotonic() + cap_s
    try:
        while time.monotonic() < deadline:
            for hostname, tasks in (app.control.inspect(timeout=1, limit=workers).active() or {}).items():
                if any(task_id in str(task.get("args")) for task in tasks):
                    return hostname
        return None
    finally:
        app.close()


def worker_kill_to_rerun(
    platform: BenchPlatform, client: httpx.Client, running: dict[str, subprocess.Popen], counts: FaultCounts
) -> dict[str, Any]:
    """The `running` gpu worker and a second one; SIGKILL the group of whichever runs a task
    mid-run; seconds until the record shows the task running again (its second attempt), and
    how that run ended."""
    say("starting a second gpu worker…")
    with platform.workers(f"fault-{os.getpid()}@bench") as more:
        workers = running | more
        say("submitting a long task…")
        answer = client.post("/api/images", json=counts.long_task)
        answer.raise_for_status()
        task_id = answer.json()["id"]
        if poll_record(client, task_id, lambda record: record["status"] == "running", counts.rerun_cap_s) is None:
            raise TimeoutError(f"the long task never started running within {counts.rerun_cap_s}s")
        hostname = worker_running(platform, task_id, len(workers), cap_s=10)
        if hostname is None:
            raise RuntimeError("no worker says it is running the long task (finished already? make it longer)")
        say(f"killing {hostname} mid-task…")
        killed_at = time.monotonic()
        kill_group(workers[hostname])
        rerun = poll_record(client, task_id, lambda record: record["attempts"] >= 2 and record["status"] != "queued", counts.rerun_cap_s)
        rerun_s = time.monotonic() - killed_at if rerun is not None else None
        say(f"running again after {rerun_s and round(rerun_s, 1)}s; waiting for it to finish…")
        final = poll_record(client, task_id, lambda record: record["status"] in ("succeeded", "failed", "cancelled"), counts.rerun_cap_s)
    return {
        "worker_kill_to_rerun_s": round(rerun_s, 3) if rerun_s is not None else None,
        "rerun_attempts": (final or rerun or {}).get("attempts"),
        "rerun_status": final["status"] if final else None,
        "rerun_error": (final or {}).get("error"),
    }


def submit_status(client: httpx.Client, body: dict[str, Any]) -> int | str:
    try:
        return client.post("/api/images", json=body, timeout=CLIENT_TIMEOUT_S).status_code
    except httpx.TransportError as exc:
        return type(exc).__name__  # no answer at all: as telling as a status code


def redis_restart_to_first_202(platform: BenchPlatform, client: httpx.Client, body: dict[str, Any], counts: FaultCounts) -> dict[str, Any]:
    """Stop Redis (SIGTERM), probe the api for a while, start Redis again on the same port and
    dir; seconds from the restart command to the first 202, and what the api answered meanwhile."""
    answers: set[int | str] = set()
    say("stopping Redis…")
    platform.stop_redis()
    until = time.monotonic() + counts.outage_s
    while time.monotonic() < until:
        answers.add(submit_status(client, body))
        time.sleep(POLL_S)
    restarted_at = time.monotonic()
    platform.start_redis(wait=False)
    first_202_s = None
    while time.monotonic() - restarted_at < counts.restart_cap_s:
        if (status := submit_status(client, body)) == 202:
            first_202_s = round(time.monotonic() - restarted_at, 3)
            break
        answers.add(status)
        time.sleep(POLL_S)
    return {"redis_restart_to_first_202_s": first_202_s, "redis_outage_answers": sorted(answers, key=str)}


def worker_kill_figures(platform: BenchPlatform, key: str, running: dict[str, subprocess.Popen], counts: FaultCounts) -> dict[str, Any]:
    with httpx.Client(base_url=platform.base_url, headers={"X-API-Key": key}, timeout=10) as client:
        return attempt("worker_kill", lambda: worker_kill_to_rerun(platform, client, running, counts))


def redis_restart_figures(platform: BenchPlatform, key: str, body: dict[str, Any], counts: FaultCounts) -> dict[str, Any]:
    with httpx.Client(base_url=platform.base_url, headers={"X-API-Key": key}, timeout=10) as client:
        return attempt("redis_restart", lambda: redis_restart_to_first_202(platform, client, body, counts))


def sentinel_failover_to_first_202(root: Path, body: dict[str, Any], counts: FaultCounts) -> dict[str, Any]:
    """A primary, two replicas and three sentinels, the api on them waiting for one replica per
    submit; SIGKILL the primary and count the seconds until a submit answers 202 again."""
    topology = SentinelTopology(root / "sentinel", replicas=2).start()
    try:
        with BenchPlatform(root / "sentinel-api", redis_url=topology.url, redis_min_replicas=1, log_level="WARNING") as platform:
            platform.wait_for_api()
            key = platform.user_key("failover")
            with httpx.Client(base_url=platform.base_url, headers={"X-API-Key": key}, timeout=10) as client:
                if (status := submit_status(client, body)) != 202:
                    raise RuntimeError(f"a submit before the failover answered {status}")
                say("killing the Redis primary…")
                killed_at = time.monotonic()
                topology.kill_primary()
                answers: set[int | str] = set()
                while time.monotonic() - killed_at < counts.restart_cap_s:
                    if (status := submit_status(client, body)) == 202:
                        return {"sentinel_failover_s": round(time.monotonic() - killed_at, 3), "sentinel_failover_answers": sorted(answers, key=str)}
                    answers.add(status)
                    time.sleep(POLL_S)
        return {"sentinel_failover_s": None, "sentinel_failover_answers": sorted(answers, key=str)}
    finally:
        topology.stop()


def sentinel_failover_figures(root: Path, body: dict[str, Any], counts: FaultCounts) -> dict[str, Any]:
    return attempt("sentinel_failover", lambda: sentinel_failover_to_first_202(root, body, counts))
