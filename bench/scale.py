"""`make bench`'s `scale` figures: tasks/s with one and two gpu workers, what the S3 store adds
per task, what a task costs Redis, the loads model affinity saves, and the submit rate a C load
generator (wrk, when installed) sees from one api process."""

import asyncio
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.platform import BenchPlatform
from bench.report import say
from core.queue import broker_lists
from core.records import ACTIVE_KEY, active_key, queue_key, task_key
from core.schemas import Queue

TASK_WAIT_S = 180
# About 4.5 MB each: one fits a worker's budget, two do not, so a worker changing model loads it.
ONE_TINY_MODEL_GB = 0.006


class CommandLog:
    """Every command Redis runs while it is open, from MONITOR (a thread reads it): those clients
    send (a Lua script is one) and those scripts run, by name."""

    STOP = "bench-monitor-stop"

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent: Counter[str] = Counter()
        self.in_scripts: Counter[str] = Counter()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> "CommandLog":
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        redis.Redis.from_url(self.url).echo(self.STOP)
        self._thread.join(30)

    def _read(self) -> None:
        with redis.Redis.from_url(self.url, decode_responses=True).monitor() as monitor:
            self._ready.set()
            while True:
                command = monitor.next_command()
                words = command["command"].split()
                if words[:2] == ["ECHO", self.STOP]:
                    return
                (self.in_scripts if command["client_type"] == "lua" else self.sent)[words[0].lower()] += 1


def redis_usage(client: redis.Redis) -> tuple[int, float]:
    """Bytes in and out so far, and CPU seconds used so far."""
    stats, cpu = client.info("stats"), client.info("cpu")
    return int(stats["total_net_input_bytes"]) + int(stats["total_net_output_bytes"]), float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def process_cpu_s(pid: int) -> float:
    """CPU seconds a process has used (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def submit_all(base: str, key: str, bodies: list[dict[str, Any]]) -> list[str]:
    """Submit every body at once; the task ids."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        answers = await asyncio.gather(*(client.post("/api/images", json=body, headers={"X-API-Key": key}) for body in bodies))
    for answer in answers:
        assert answer.status_code == 202, answer.text
    return [answer.json()["id"] for answer in answers]


def wait_idle(store: redis.Redis) -> int:
    """Until no task is unfinished (one SCARD every 20 ms, not a poll per task); how many polls."""
    deadline = time.monotonic() + TASK_WAIT_S
    polls = 1
    while store.scard(ACTIVE_KEY):
        if time.monotonic() > deadline:
            raise TimeoutError(f"tasks still unfinished after {TASK_WAIT_S}s")
        time.sleep(0.02)
        polls += 1
    return polls


async def fetch_records(base: str, key: str, ids: list[str]) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        records = [(await client.get(f"/api/images/{task_id}", headers={"X-API-Key": key})).json() for task_id in ids]
    failed = [record for record in records if record["status"] != "succeeded"]
    assert not failed, failed[0]
    return records


def run_burst(platform: BenchPlatform, key: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Submit every body at once, wait until all have ended; their records."""
    ids = asyncio.run(submit_all(platform.base_url, key, bodies))
    wait_idle(platform.redis())
    return asyncio.run(fetch_records(platform.base_url, key, ids))


def span_s(records: list[dict[str, Any]]) -> float:
    """From the first task's submit to the last one's end, as the records say."""

    def stamp(value: str) -> float:
        return datetime.fromisoformat(value).timestamp()

    return max(stamp(r["finished_at"]) for r in records) - min(stamp(r["created_at"]) for r in records)


def loads(records: list[dict[str, Any]]) -> int:
    return sum(line.startswith("loaded ") for record in records for line in record["logs"])


def throughput(platform: BenchPlatform, key: str, body: dict[str, Any], workers: int, tasks: int) -> dict[str, Any]:
    """tasks/s of a burst on this many warm gpu workers; with one, Redis's share of each task too."""
    names = [f"scale-{workers}-{i}@bench" for i in range(workers)]
    with platform.workers(*names):
        store = platform.redis()
        warm_every_worker(platform, key, body, names, store)
        before = redis_usage(store)
        records = run_burst(platform, key, [body | {"seed": 100 + i} for i in range(tasks)])
        after = redis_usage(store)
        figures: dict[str, Any] = {"tasks": tasks, "tasks_per_s": round(tasks / span_s(records), 2)}
        if workers == 1:
            # What a task costs Redis from submit to end, the worker's heartbeat and the api's
            # reaper (a few commands a second) included: the commands clients send (a Lua script
            # is one; a pipeline sends several in one round trip), those its scripts run, and the
            # bytes (the records' reads by this bench included).
            with CommandLog(platform.redis_url) as commands:
                asyncio.run(submit_all(platform.base_url, key, [body | {"seed": 1000 + i} for i in range(tasks)]))
                commands.sent["scard"] -= wait_idle(store)  # this bench's own polls
            figures |= {
                "redis_commands_per_task": round(commands.sent.total() / tasks, 1),
                "redis_commands_in_scripts_per_task": round(commands.in_scripts.total() / tasks, 1),
                "redis_commands_by_name": {name: round(count / tasks, 2) for name, count in commands.sent.most_common() if count > 0},
                "redis_bytes_per_task": (after[0] - before[0]) // tasks,
                "redis_cpu_us_per_task": round((after[1] - before[1]) * 1e6 / tasks),
            }
    return figures


def warm_every_worker(platform: BenchPlatform, key: str, body: dict[str, Any], names: list[str], store: redis.Redis) -> None:
    """Bursts until each worker has run a task (imports done, model loaded): one that is quicker
    than the others may take a whole burst, and a cold worker in the measured burst costs seconds."""
    warmed: set[str] = set()
    for attempt in range(10):
        records = run_burst(platform, key, [body | {"seed": attempt * 100 + i} for i in range(2 * len(names))])
        warmed |= {store.hget(task_key(record["id"]), "worker").split(" ")[0] for record in records}
        if warmed >= set(names):
            return
    raise TimeoutError(f"workers {sorted(set(names) - warmed)} took no task in ten warm-up bursts")


def affinity_loads(platform: BenchPlatform, key: str, tasks: int) -> dict[str, Any]:
    """Two models alternating on two workers that each have room for one: loads with and without
    affinity. The models' steps differ, so the quicker worker is free first and would take the other's tasks."""
    bodies = [
        {"model": ("tiny-sd", "tiny-sdxl")[i % 2], "prompt": f"shot {i}", "steps": 16 if i % 2 else 2, "seed": i} for i in range(tasks)
    ]
    figures: dict[str, Any] = {"tasks": tasks}
    for label, backlog in (("with_affinity", platform.settings.affinity_backlog), ("without_affinity", 0)):  # loads each
        names = [f"affinity-{label}-{i}@bench" for i in range(2)]
        env = {"DDIFFUSION_MODEL_MEMORY_GB": str(ONE_TINY_MODEL_GB), "DDIFFUSION_AFFINITY_BACKLOG": str(backlog)}
        with platform.workers(*names, env=env):
            figures[label] = loads(run_burst(platform, key, bodies))
    return figures


def s3_overhead(root: Path, models_dir: Path, body: dict[str, Any], tasks: int) -> dict[str, Any]:
    """The same tasks end to end (submit, run, download the output) with the blob store on a
    loopback S3 server (moto) and in a directory: what S3 adds per task."""
    from tests.fakes.s3_server import CREDENTIALS, serve_s3

    def per_task_ms(platform: BenchPlatform, key: str) -> float:
        totals = []
        for i in range(tasks + 2):
            started = time.perf_counter()
            (record,) = run_burst(platform, key, [body | {"seed": 500 + i}])
            httpx.get(record["outputs"][0]["url"], timeout=60).raise_for_status()
            if i >= 2:  # the first two warm the worker and the connections
                totals.append(time.perf_counter() - started)
        return sorted(totals)[len(totals) // 2] * 1000

    figures = {}
    os.environ.update(CREDENTIALS)  # read by the children through the standard AWS chain
    with serve_s3() as s3:
        for label, overrides in (("directory", {}), ("s3", s3.settings(s3.new_bucket()))):
            with BenchPlatform(root / label, models_dir=models_dir, log_level="WARNING", **overrides) as platform:
                platform.wait_for_api()
                key = platform.user_key()
                with platform.workers(f"store-{label}@bench"):
                    figures[f"{label}_task_p50_ms"] = round(per_task_ms(platform, key), 1)
    return figures | {"s3_overhead_per_task_ms": round(figures["s3_task_p50_ms"] - figures["directory_task_p50_ms"], 1)}


def wrk_submits(platform: BenchPlatform, key: str, body: dict[str, Any], duration_s: int) -> dict[str, Any]:
    """wrk (C, keep-alive; one thread, which is plenty and leaves the api its core) at concurrency
    32 against POST /api/images, no worker running; the queued tasks are dropped afterwards.
    Without wrk: says so (not an error)."""
    if shutil.which("wrk") is None:
        return {"wrk": "not installed (Debian: apt install wrk)"}
    script = platform.settings.data_dir / "wrk_submit.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = [[{json.dumps(body)}]]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["X-API-Key"] = os.getenv("DD_KEY")\n'
    )
    command = ["wrk", "-t1", "-c32", f"-d{duration_s}s", "--latency", "-s", str(script), f"{platform.base_url}/api/images"]
    api_pid = platform.services.children["api"].pid
    store = platform.redis()
    api_before, redis_before = process_cpu_s(api_pid), redis_usage(store)[1]
    output = subprocess.run(command, env=os.environ | {"DD_KEY": key}, capture_output=True, text=True, timeout=duration_s + 60, check=True).stdout
    api_after, redis_after = process_cpu_s(api_pid), redis_usage(store)[1]
    say("wrk: " + " ".join(line.strip() for line in output.splitlines() if "Requests/sec" in line or line.strip().startswith("99%")))
    key_id = key.split("_", 2)[1]  # dd_<id>_<secret>
    store.delete(*broker_lists(Queue.gpu), queue_key(Queue.gpu), ACTIVE_KEY, active_key(key_id))  # these tasks need not run
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    return {
        "wrk_concurrency": 32,
        # What one submit costs the api process and Redis: how many submits a core of each carries.
        "api_cpu_us_per_submit": round((api_after - api_before) * 1e6 / requests),
        "redis_cpu_us_per_submit": round((redis_after - redis_before) * 1e6 / requests),
        "wrk_submit_rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "wrk_p50_ms": wrk_latency_ms(output, "50%"),
        "wrk_p99_ms": wrk_latency_ms(output, "99%"),
        "wrk_non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


def wrk_latency_ms(output: str, percentile: str) -> float:
    """A line of wrk's --latency distribution ("99%   41.07ms") in milliseconds."""
    value, unit = re.search(rf"^\s*{percentile}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE).groups()  # type: ignore[union-attr]
    return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 2)
