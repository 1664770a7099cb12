"""The platform a bench run measures: embedded Redis, the api and gpu workers as real processes
on loopback, started with the launcher's own commands (`server.launcher`), each in its own
process group, and always stopped."""

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import redis

from core.heartbeat import queue_workers_key
from core.schemas import Queue
from core.settings import Settings
from server.launcher import Supervisor, api_command, child_env, redis_command, shared_cores, wait_for_redis, worker_command
from server.redis import free_port

START_TIMEOUT_S = 60


def wait_until(what: str, ready: Any, timeout_s: float, every_s: float = 0.1) -> None:
    """Poll `ready()` until it is true; a TimeoutError naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout_s}s")
        time.sleep(every_s)


class BenchPlatform:
    """Redis and the api for the whole run (stopped on exit, Redis last); gpu workers per
    measurement, from `workers()`."""

    def __init__(self, root: Path, redis_url: str | None = None, models_dir: Path | None = None, **overrides: Any) -> None:
        """With `redis_url`, that Redis (a Sentinel topology, say) instead of one of its own;
        with `models_dir`, those weights instead of `<root>/models`."""
        self.redis_port = free_port()
        self.own_redis = redis_url is None
        self.settings = Settings(
            _env_file=None,
            redis_url=redis_url or f"redis://127.0.0.1:{self.redis_port}/0",
            data_dir=root / "data",
            models_dir=models_dir or root / "models",
            port=free_port(),
            admin_key=secrets.token_urlsafe(24),
            secret_key=secrets.token_urlsafe(24),
            **overrides,
        )
        self.base_url = f"http://{self.settings.host}:{self.settings.port}"
        self.services = Supervisor(child_env(self.settings))

    def __enter__(self) -> "BenchPlatform":
        """Redis up and the api starting: `wait_for_api` before the first request."""
        try:
            if self.own_redis:
                self.start_redis()
            self.services.start("api", api_command(self.settings))
        except BaseException:
            self.services.stop()
            raise
        return self

    def wait_for_api(self) -> None:
        wait_until("the api answering /healthz", self._api_up, START_TIMEOUT_S)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.services.stop()

    def _api_up(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    @property
    def redis_url(self) -> str:
        return self.settings.redis_url_or_raise()

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, decode_responses=True)

    def start_redis(self, wait: bool = True) -> None:
        """Start (or restart) Redis on the same port and dir, so the AOF brings its data back."""
        self.services.start("redis", redis_command(self.settings.data_dir, self.redis_port))
        if wait:
            wait_for_redis(self.redis_url)

    def stop_redis(self) -> None:
        """SIGTERM, as an orchestrator stops it: Redis flushes its AOF and exits."""
        process = self.services.children["redis"]
        process.terminate()
        process.wait(15)

    def user_key(self, name: str = "bench") -> str:
        answer = httpx.post(
            f"{self.base_url}/api/admin/keys", json={"name": name}, headers={"X-API-Key": self.settings.admin_key_value()}, timeout=10
        )
        answer.raise_for_status()
        return answer.json()["key"]

    @contextmanager
    def workers(self, *names: str, env: dict[str, str] | None = None) -> Iterator[dict[str, subprocess.Popen]]:
        """gpu workers with these names (Celery hostnames) and `env` on top of the platform's,
        yielded once each heartbeats, and stopped afterwards (SIGTERM, then SIGKILL to the group)
        even when the block fails. Several share this machine's cores, as the launcher shares them."""
        supervisor = Supervisor(self.services.env | shared_cores(len(names)) | (env or {}))
        try:
            for name in names:
                supervisor.start(name, worker_command(Queue.gpu, self.settings, name))
            client = self.redis()
            wait_until(
                f"heartbeats of {', '.join(names)}",
                lambda: set(names) <= set(client.zrange(queue_workers_key(Queue.gpu), 0, -1)),
                START_TIMEOUT_S,
            )
            yield supervisor.children
        finally:
            supervisor.stop()


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL a worker and its pool children at once, as a lost machine would."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
