"""`make bench`: platform figures as one JSON object on stdout (progress on stderr).

Starts its own embedded Redis, api (uvicorn, real HTTP on loopback) and gpu worker with the
tiny models, all on this machine; every loop is bounded in count and time.
"""

import asyncio
import base64
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis
from PIL import Image

from bench.engines import engine_figures
from core.launcher import api_command, wait_for_redis, worker_command
from core.logs import configure_logging
from core.schemas import Queue
from tests.utils.platform import ADMIN_KEY, RedisServer, free_port, make_settings, settings_env

SUBMITS = int(os.environ.get("BENCH_SUBMITS", 2000))
CONCURRENCY = 32
E2E_TASKS = int(os.environ.get("BENCH_E2E_TASKS", 30))
GETS = 1000
BODY = {"model": "tiny-sd", "prompt": "bench", "width": 64, "height": 64, "steps": 1, "seed": 1}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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


async def submit_rate(base: str, key: str) -> dict[str, Any]:
    latencies: list[float] = []
    ids: list[str] = []
    raw = raw_request("POST", "/api/images", key, json.dumps(BODY).encode())
    todo = iter(range(SUBMITS))

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
    return {"ids": ids, "submit_rps": round(SUBMITS / elapsed, 1), "submit_p50_ms": ms(percentile(latencies, 0.5)), "submit_p99_ms": ms(percentile(latencies, 0.99))}


async def get_latency(base: str, key: str, ids: list[str]) -> dict[str, float]:
    connection = await RawConnection.open(base)
    latencies = []
    for i in range(GETS):
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


async def bytes_per_task_with_big_input(client: httpx.AsyncClient, headers: dict[str, str], store: redis.Redis, tasks: int = 5) -> dict[str, Any]:
    noise = Image.frombytes("RGB", (1448, 1448), os.urandom(1448 * 1448 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    image = buffer.getvalue()
    data_url = "data:image/png;base64," + base64.b64encode(image).decode()
    before = redis_bytes(store)
    for i in range(tasks):
        task_id = (await client.post("/api/images", json=BODY | {"image": data_url, "seed": i, "strength": 1.0}, headers=headers)).json()["id"]
        while (await client.get(f"/api/images/{task_id}", headers=headers)).json()["status"] not in ("succeeded", "failed"):
            await asyncio.sleep(0.05)
    return {"input_image_bytes": len(image), "redis_bytes_per_task": (redis_bytes(store) - before) // tasks}


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="ddiffusion-bench-"))
    from workers.local.tiny import ensure_tiny_models

    ensure_tiny_models(root / "models")
    server = RedisServer(root / "redis").start()
    settings = make_settings(server.url, root / "data", root / "models", port=free_port(), backlog_per_key=100_000, backlog_total=100_000, log_level="WARNING")
    env = settings_env(settings)
    api = subprocess.Popen(api_command(settings), env=env)
    worker: subprocess.Popen | None = None
    try:
        wait_for_redis(server.url)
        base = f"http://{settings.host}:{settings.port}"
        with httpx.Client(base_url=base) as sync:
            for _ in range(200):
                try:
                    sync.get("/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            key = sync.post("/api/admin/keys", json={"name": "bench"}, headers={"X-API-Key": ADMIN_KEY}).json()["key"]
        headers = {"X-API-Key": key}
        results: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}}

        async def measure() -> None:
            limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
            async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
                say(f"submitting {SUBMITS} tasks at concurrency {CONCURRENCY} (no worker running)…")
                submitted = await submit_rate(base, key)
                ids = submitted.pop("ids")
                results.update(submitted)
                say(f"GET latency with {len(ids)} queued…")
                results.update(await get_latency(base, key, ids))
                results["queued_during_get"] = len(ids)
                store = server.client()
                store.delete("gpu")  # drop the Celery messages: the bench tasks need not run
                for task_id in ids:
                    await client.delete(f"/api/images/{task_id}", headers=headers)

        asyncio.run(measure())
        worker = subprocess.Popen(worker_command(Queue.gpu, settings, f"bench-{os.getpid()}@bench"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        async def measure_tasks() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=120) as client:
                say("warming the worker…")
                await end_to_end(client, headers, BODY, 2)
                say(f"{E2E_TASKS} tiny-sd tasks end to end (64x64, 1 step)…")
                results.update(await end_to_end(client, headers, BODY, E2E_TASKS))
                say("Redis traffic per task with a ~6 MB input image…")
                results.update(await bytes_per_task_with_big_input(client, headers, server.client()))

        asyncio.run(measure_tasks())
        say("engine figures per local model (load, warm step, outputs/s)…")
        configure_logging("WARNING", json_lines=False)  # stderr: stdout carries only the JSON
        results["engines"] = engine_figures(root / "models")
        print(json.dumps(results, indent=2))
    finally:
        for process in (worker, api):
            if process is not None:
                process.terminate()
                process.wait(20)
        server.stop()


if __name__ == "__main__":
    main()
