"""`make bench`: platform figures as one JSON object on stdout (progress on stderr).

Starts its own embedded Redis, api (uvicorn, real HTTP on loopback) and gpu workers with the
tiny models, all on this machine; every loop is bounded in count and time. A measurement that
fails is reported as `{"error": ...}` beside the others, and the run then exits 1.

BENCH_QUICK=1 shrinks every loop (the test suite runs it that way, for the shape of the JSON,
not its values); BENCH_SUBMITS and BENCH_E2E_TASKS set those two counts in either form.
"""

import asyncio
import base64
import io
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis
from PIL import Image

from bench.faults import FaultCounts, redis_restart_figures, sentinel_failover_figures, worker_kill_figures
from bench.platform import BenchPlatform
from bench.report import attempt, errors, say
from bench.scale import affinity_loads, s3_overhead, throughput, wrk_submits
from core.logs import configure_logging
from core.queue import broker_lists
from core.schemas import Queue

CONCURRENCY = 32
BODY = {"model": "tiny-sd", "prompt": "bench", "width": 64, "height": 64, "steps": 1, "seed": 1}
TASK_WAIT_S = 120


@dataclass(frozen=True)
class Counts:
    """How much each measurement does: the full form, or BENCH_QUICK's small one."""

    quick: bool
    submits: int
    gets: int
    e2e_tasks: int
    big_input_tasks: int
    warm_runs: int
    scale_tasks: int
    affinity_tasks: int
    store_tasks: int
    wrk_s: int
    faults: FaultCounts

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Counts":
        quick = env.get("BENCH_QUICK", "") not in ("", "0")
        full = not quick
        return cls(
            quick=quick,
            submits=int(env.get("BENCH_SUBMITS") or (2000 if full else 50)),
            gets=1000 if full else 50,
            e2e_tasks=int(env.get("BENCH_E2E_TASKS") or (30 if full else 3)),
            big_input_tasks=5 if full else 1,
            warm_runs=3 if full else 1,
            scale_tasks=40 if full else 4,
            affinity_tasks=20 if full else 6,
            store_tasks=10 if full else 1,
            wrk_s=10 if full else 2,
            faults=FaultCounts(
                # Seconds of tiny-sd on a CPU (less on a GPU): still running when the kill lands,
                # ~0.2 s after the record says running. Quick: the size every worker has run already.
                long_task=BODY | ({"width": 256, "height": 256, "steps": 50} if full else {"steps": 50}),
                rerun_cap_s=60,
                outage_s=2 if full else 0.5,
                restart_cap_s=30,
            ),
        )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(value: float) -> float:
    return round(value * 1000, 2)


class RawConnection:
    """A minimal HTTP/1.1 keep-alive client, so the load generator costs far less CPU than the
    server it measures (both share this machine's cores)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, base: str) -> "RawConnection":
        host, port = base.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def raw_request(method: str, path: str, key: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nX-API-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def submit_rate(base: str, key: str, submits: int) -> dict[str, Any]:
    latencies: list[float] = []
    ids: list[str] = []
    raw = raw_request("POST", "/api/images", key, json.dumps(BODY).encode())
    todo = iter(range(submits))

    async def worker() -> None:
        connection = await RawConnection.open(base)
        for _ in todo:
            started = time.perf_counter()
            status, body = await connection.request(raw)
            latencies.append(time.perf_counter() - started)
            assert status == 202, body
            ids.append(json.loads(body)["id"])
        connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    return {
        "ids": ids,
        "submit_rps": round(submits / elapsed, 1),
        "submit_p50_ms": ms(percentile(latencies, 0.5)),
        "submit_p99_ms": ms(percentile(latencies, 0.99)),
    }


async def get_latency(base: str, key: str, ids: list[str], gets: int) -> dict[str, float]:
    connection = await RawConnection.open(base)
    latencies = []
    for i in range(gets):
        raw = raw_request("GET", f"/api/images/{ids[(i * 7919) % len(ids)]}", key)
        started = time.perf_counter()
        status, body = await connection.request(raw)
        latencies.append(time.perf_counter() - started)
        assert status == 200, body
    connection.close()
    return {"get_p50_ms": ms(percentile(latencies, 0.5)), "get_p99_ms": ms(percentile(latencies, 0.99))}


async def end_to_end(client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any], tasks: int) -> dict[str, float]:
    totals, overheads = [], []
    for _ in range(tasks):
        started = time.perf_counter()
        task_id = (await client.post("/api/images", json=body, headers=headers)).json()["id"]
        async with client.stream("GET", f"/api/images/{task_id}/events", headers=headers) as events:
            async for line in events.aiter_lines():
                if line.startswith("data:"):
                    record = json.loads(line[5:])
        total = time.perf_counter() - started
        assert record["status"] == "succeeded", record
        totals.append(total)
        overheads.append(total - record["timings"]["run_s"])
    return {
        "e2e_p50_ms": ms(statistics.median(totals)),
        "e2e_p99_ms": ms(percentile(totals, 0.99)),
        "overhead_p50_ms": ms(statistics.median(overheads)),
        "overhead_p99_ms": ms(percentile(overheads, 0.99)),
    }


def redis_bytes(client: redis.Redis) -> int:
    stats = client.info("stats")
    return int(stats["total_net_input_bytes"]) + int(stats["total_net_output_bytes"])


async def bytes_per_task_with_big_input(
    client: httpx.AsyncClient, headers: dict[str, str], store: redis.Redis, tasks: int
) -> dict[str, Any]:
    noise = Image.frombytes("RGB", (1448, 1448), os.urandom(1448 * 1448 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    image = buffer.getvalue()
    data_url = "data:image/png;base64," + base64.b64encode(image).decode()
    before = redis_bytes(store)
    for i in range(tasks):
        task_id = (await client.post("/api/images", json=BODY | {"image": data_url, "seed": i, "strength": 1.0}, headers=headers)).json()[
            "id"
        ]
        deadline = time.monotonic() + TASK_WAIT_S
        while (await client.get(f"/api/images/{task_id}", headers=headers)).json()["status"] not in ("succeeded", "failed"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} with the big input not done within {TASK_WAIT_S}s")
            await asyncio.sleep(0.05)
    return {"input_image_bytes": len(image), "redis_bytes_per_task": (redis_bytes(store) - before) // tasks}


async def queue_figures(base: str, key: str, store: redis.Redis, counts: Counts) -> dict[str, Any]:
    """Submit rate and GET latency against a growing queue, with no worker taking from it."""
    say(f"submitting {counts.submits} tasks at concurrency {CONCURRENCY} (no worker running)…")
    figures = await submit_rate(base, key, counts.submits)
    ids = figures.pop("ids")
    say(f"GET latency with {len(ids)} queued…")
    figures |= await get_latency(base, key, ids, counts.gets) | {"queued_during_get": len(ids)}
    store.delete(*broker_lists(Queue.gpu))  # drop the Celery messages: these tasks need not run
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for task_id in ids:
            await client.delete(f"/api/images/{task_id}", headers={"X-API-Key": key})
    return figures


def worker_figures(platform: BenchPlatform, key: str, counts: Counts) -> dict[str, Any]:
    """End to end and Redis traffic per task through one gpu worker, then the faults, with that
    worker warm (a worker's start is seconds of CPU: one fewer keeps the quick form quick)."""

    async def measure() -> dict[str, Any]:
        headers = {"X-API-Key": key}
        async with httpx.AsyncClient(base_url=platform.base_url, timeout=TASK_WAIT_S) as client:
            say("warming the worker…")
            await end_to_end(client, headers, BODY, 2)
            say(f"{counts.e2e_tasks} tiny-sd tasks end to end (64x64, 1 step)…")
            figures = await end_to_end(client, headers, BODY, counts.e2e_tasks)
            say("Redis traffic per task with a ~6 MB input image…")
            return figures | await bytes_per_task_with_big_input(client, headers, platform.redis(), counts.big_input_tasks)

    with platform.workers(f"bench-{os.getpid()}@bench") as running:
        figures = attempt("tasks", lambda: asyncio.run(measure()))
        say("faults: a worker killed mid-task…")
        return figures | {"faults": worker_kill_figures(platform, key, running, counts.faults)}


def measure_all(root: Path, counts: Counts) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}, "quick": counts.quick}
    platform = BenchPlatform(
        root,
        backlog_per_key=100_000,
        backlog_total=100_000,
        log_level="WARNING",
        task_lease_s=3,
        # An hour: a killed worker's task comes back through its lease and the reaper alone.
        visibility_timeout_s=3600,
    )
    with platform:
        # Imported only now, so that the api boots while torch and diffusers import (seconds each).
        from bench.engines import engine_figures
        from workers.local.tiny import ensure_tiny_models

        ensure_tiny_models(root / "models")
        platform.wait_for_api()
        key = platform.user_key()
        results |= attempt("queue", lambda: asyncio.run(queue_figures(platform.base_url, key, platform.redis(), counts)))
        say(f"scale: wrk, {counts.wrk_s} s of submits at concurrency 32 (no worker running)…")
        scale = attempt("wrk", lambda: wrk_submits(platform, key, BODY, counts.wrk_s))
        results |= attempt("workers", lambda: worker_figures(platform, key, counts))
        for workers in (1, 2):
            say(f"scale: {counts.scale_tasks} tasks at once on {workers} gpu worker(s)…")
            scale |= attempt(
                f"gpu_workers_{workers}", lambda n=workers: {f"gpu_workers_{n}": throughput(platform, key, BODY, n, counts.scale_tasks)}
            )
        say(f"scale: {counts.affinity_tasks} tasks of two models alternating on two workers, with and without affinity…")
        scale |= attempt("model_loads", lambda: {"model_loads": affinity_loads(platform, key, counts.affinity_tasks)})
        # With no worker running, so the workers' reconnects are not in the figure.
        say("faults: a Redis restart…")
        results["faults"] = results.get("faults", {}) | redis_restart_figures(platform, key, BODY, counts.faults)
    say("faults: a Sentinel failover…")
    results["faults"] |= sentinel_failover_figures(root, BODY, counts.faults)
    say(f"scale: the blob store on S3 (a loopback moto server) against a directory, {counts.store_tasks} tasks each…")
    results["scale"] = scale | attempt("blob_store", lambda: {"blob_store": s3_overhead(root / "stores", root / "models", BODY, counts.store_tasks)})
    say("engine figures per local model and mode (load, warm step, outputs/s)…")
    configure_logging("WARNING", json_lines=False)
    results["engines"] = engine_figures(root / "models", counts.warm_runs, warm_up=not counts.quick)
    return results


def main() -> int:
    counts = Counts.from_env(os.environ)
    # The JSON goes to the real stdout; everything else that prints (children, libraries) to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    # A SIGTERM (make interrupted, a test timing out) unwinds, so every child is stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ddiffusion-bench-") as root:
        results = measure_all(Path(root), counts)
    results["bench_s"] = round(time.monotonic() - started, 1)
    out.write(json.dumps(results, indent=2) + "\n")
    out.flush()
    if failed := errors(results):
        say(f"bench: errors in {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
