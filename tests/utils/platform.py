"""Real parts for tests: an embedded Redis server (from the launcher) and real Celery worker processes."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.heartbeat import queue_workers_key
from core.redis_client import connect
from core.schemas import Queue
from core.settings import Settings
from server.launcher import worker_command
from server.redis import RedisServer, free_port

ADMIN_KEY = "test-admin-key"
__all__ = ["ADMIN_KEY", "RedisServer", "Served", "WorkerFleet", "free_port", "make_settings", "serve_env", "served_platform", "settings_env"]


def make_settings(redis_url: str, data_dir: Path, models_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "redis_url": redis_url,
        "data_dir": data_dir,
        "models_dir": models_dir,
        "admin_key": ADMIN_KEY,
        "secret_key": "test-signing-secret",
        "log_json": True,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a child process needs to see the same settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DDIFFUSION_")}
    return env | settings.to_env() | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


class WorkerFleet:
    """Real `celery worker` processes, one per queue, logging to files under log_dir."""

    def __init__(self, settings: Settings, log_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.extra_env = extra_env or {}
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, queue: Queue, name: str | None = None) -> subprocess.Popen:
        name = name or f"{queue.value}-{os.getpid()}-{len(self.processes)}@test"
        log = open(self.log_dir / f"{name.split('@')[0]}.log", "ab")
        process = subprocess.Popen(
            worker_command(queue, self.settings, name), env=settings_env(self.settings) | self.extra_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[name] = process
        return process

    def wait_ready(self, queues: list[Queue], timeout_s: float = 60) -> None:
        client = connect(self.settings.redis_url_or_raise())
        deadline = time.monotonic() + timeout_s
        names = set(self.processes)
        for queue in queues:
            while not names & set(client.zrange(queue_workers_key(queue), 0, -1)):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no worker on {queue} after {timeout_s}s; see {self.log_dir}")
                time.sleep(0.1)

    def kill(self, name: str) -> None:
        """SIGKILL the whole worker (main process and pool children)."""
        os.killpg(self.processes[name].pid, signal.SIGKILL)
        self.processes.pop(name).wait()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()


def serve_env(tmp_path: Path, port: int, redis_port: int, models_dir: Path | None = None) -> dict[str, str]:
    """The environment of a `ddiffusion-server serve` of a test's own: its ports, its data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DDIFFUSION_")}
    env |= {"DDIFFUSION_PORT": str(port), "DDIFFUSION_REDIS_PORT": str(redis_port), "DDIFFUSION_DATA_DIR": str(tmp_path / "data")}
    return env | ({"DDIFFUSION_MODELS_DIR": str(models_dir)} if models_dir else {})


@dataclass(frozen=True)
class Served:
    base: str
    data_dir: Path
    env: dict[str, str]

    @property
    def admin_key(self) -> str:
        return (self.data_dir / "admin_key").read_text().strip()


@contextmanager
def served_platform(tmp_path: Path, models_dir: Path, cwd: Path | None = None, ready_s: float = 150) -> Iterator[Served]:
    """`ddiffusion-server serve` as a user starts it, yielded once /readyz answers 200 and
    stopped with Ctrl-C (SIGINT) at the end."""
    port = free_port()
    env = serve_env(tmp_path, port, free_port(), models_dir)
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve"], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_s
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "ddiffusion-server serve exited while starting"
            assert time.monotonic() < deadline, f"the platform was not ready within {ready_s:g}s"
            time.sleep(0.3)
        yield Served(base, tmp_path / "data", env)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(60)
