"""`ddiffusion serve` as a user runs it: embedded Redis, api and workers, stopped by Ctrl-C."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from server.launcher import missing_tiny_models
from tests.utils.platform import RedisServer, free_port, serve_env
from workers.local.tiny import TINY_BUILDERS

START_TIMEOUT_S = 150


class Serve:
    """`python -m server.cli serve` in its own session; its output read line by line as it
    comes, and the pids of its children noted while it runs (they have their own groups)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        self.children: set[int] = set()
        self.readers = [
            threading.Thread(target=self._read, args=(pipe, into), daemon=True)
            for pipe, into in ((self.process.stdout, self.lines), (self.process.stderr, self.errors))
        ]
        for reader in self.readers:
            reader.start()
        threading.Thread(target=self._note_children, daemon=True).start()

    def _read(self, pipe: object, into: list[str]) -> None:
        for line in pipe:  # type: ignore[attr-defined]
            into.append(line.rstrip("\n"))

    def _note_children(self) -> None:
        while self.process.poll() is None:
            found = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout.split()
            self.children.update(int(pid) for pid in found)
            time.sleep(0.1)

    def wait_for_line(self, prefix: str, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(line.startswith(prefix) for line in self.lines):
            assert self.process.poll() is None, f"serve exited with {self.process.returncode}: {self.lines} {self.errors}"
            assert time.monotonic() < deadline, f"no {prefix!r} within {timeout_s}s: {self.lines}"
            time.sleep(0.05)

    def wait(self, timeout_s: float) -> int:
        code = self.process.wait(timeout_s)
        for reader in self.readers:
            reader.join(5)
        return code

    def assert_no_child_left(self, redis_port: int) -> None:
        assert self.children, "serve started no child"
        deadline = time.monotonic() + 5
        for pid in self.children:  # each child leads its own process group: none of its members may be left
            while group_alive(pid):
                assert time.monotonic() < deadline, f"process group {pid} still running"
                time.sleep(0.1)
        assert subprocess.run(["pgrep", "-f", "--", f"--port {redis_port}"], capture_output=True, text=True).stdout.strip() == "", (
            "embedded Redis still running"
        )


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_prints_a_line_per_part_then_the_banner_and_any_number_of_signals_stop_it(tmp_path: Path, tiny_models: Path) -> None:
    port, redis_port = free_port(), free_port()
    serve = Serve(serve_env(tmp_path, port, redis_port, tiny_models))
    try:
        serve.wait_for_line("Press Ctrl-C")
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/readyz").status_code == 200  # the banner comes once everything is ready
        banner_at = serve.lines.index("deferred-diffusion is ready.")
        assert set(serve.lines[:banner_at]) - {""} == {
            f"redis … ok (redis://127.0.0.1:{redis_port}/0, embedded)", "api … ok", "worker gpu … ok", "worker cpu … ok", "worker comfy … ok",
        }, serve.lines  # fmt: skip
        logs = tmp_path / "data" / "logs"
        admin_key = (tmp_path / "data" / "admin_key").read_text().strip()
        text = "\n".join(serve.lines)
        assert f"{base}/docs" in text and admin_key in text and str(logs) in text
        assert serve.errors == []
        assert "ready" in (logs / "worker-gpu.log").read_text() and "Redis" in (logs / "redis.log").read_text()
        key = httpx.post(f"{base}/api/admin/keys", json={"name": "cli"}, headers={"X-API-Key": admin_key}).json()["key"]
        headers = {"X-API-Key": key}
        body = {"model": "tiny-llm", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}
        task_id = httpx.post(f"{base}/api/texts", json=body, headers=headers).json()["id"]
        deadline = time.monotonic() + 60
        while (record := httpx.get(f"{base}/api/texts/{task_id}", headers=headers).json())["status"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert record["status"] == "succeeded", record
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # an impatient user, then the terminal closing
            os.kill(serve.process.pid, signum)
            time.sleep(0.05)
        code = serve.wait(45)
    assert code == 0, serve.errors
    assert serve.lines[-1] == "Stopped." and serve.errors == []
    serve.assert_no_child_left(redis_port)


def test_serve_that_cannot_start_the_api_stops_what_it_started(tmp_path: Path, tiny_models: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port, redis_port = taken.getsockname()[1], free_port()
        serve = Serve(serve_env(tmp_path, port, redis_port, tiny_models))
        code = serve.wait(START_TIMEOUT_S)
    assert code == 1
    assert len(serve.errors) == 1, serve.errors
    assert str(port) in serve.errors[0] and str(tmp_path / "data" / "logs" / "api.log") in serve.errors[0]
    assert serve.lines == [f"redis … ok (redis://127.0.0.1:{redis_port}/0, embedded)"]  # no banner, no "Stopping…"
    serve.assert_no_child_left(redis_port)


def test_tiny_models_are_built_only_when_missing(tmp_path: Path, tiny_models: Path) -> None:
    assert missing_tiny_models(tiny_models) == []
    assert missing_tiny_models(tmp_path) == sorted(TINY_BUILDERS)  # the catalogue knows every model the builder makes


def serve_with_redis_port(tmp_path: Path, redis_port: int) -> subprocess.CompletedProcess:
    env = serve_env(tmp_path, free_port(), redis_port)
    return subprocess.run([sys.executable, "-m", "server.cli", "serve"], env=env, capture_output=True, text=True, timeout=30)


def test_serve_refuses_a_port_held_by_a_silent_process(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        result = serve_with_redis_port(tmp_path, port)
    assert result.returncode == 1
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert str(port) in lines[0] and "DDIFFUSION_REDIS_PORT" in lines[0]


def test_serve_never_uses_a_redis_it_did_not_start(tmp_path: Path) -> None:
    other = RedisServer(tmp_path / "other").start()
    try:
        result = serve_with_redis_port(tmp_path, other.port)
        assert other.client().dbsize() == 0  # nothing was written to it
    finally:
        other.stop()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"Port {other.port}" in result.stderr and "DDIFFUSION_REDIS_PORT" in result.stderr


def test_logs_names_the_directory_and_refuses_an_unknown_name(tmp_path: Path) -> None:
    logs = tmp_path / "data" / "logs"
    logs.mkdir(parents=True)
    (logs / "api.log").write_text("first\nlast\n")
    env = serve_env(tmp_path, free_port(), free_port())
    shown = subprocess.run(
        [sys.executable, "-m", "server.cli", "logs", "api", "-n", "1", "--no-follow"], env=env, capture_output=True, text=True, timeout=30
    )
    assert (shown.returncode, shown.stdout) == (0, f"Logs: {logs}\nlast\n")
    unknown = subprocess.run([sys.executable, "-m", "server.cli", "logs", "gpu"], env=env, capture_output=True, text=True, timeout=30)
    assert unknown.returncode == 2 and "there are: api" in unknown.stderr


def test_a_task_running_at_ctrl_c_finishes_or_comes_back_after_a_restart(tmp_path: Path, tiny_models: Path) -> None:
    port, redis_port = free_port(), free_port()
    env = serve_env(tmp_path, port, redis_port, tiny_models) | {"DDIFFUSION_TASK_LEASE_S": "3"}
    base = f"http://127.0.0.1:{port}"
    serve = Serve(env)
    try:
        serve.wait_for_line("Press Ctrl-C")
        admin_key = (tmp_path / "data" / "admin_key").read_text().strip()
        headers = {"X-API-Key": httpx.post(f"{base}/api/admin/keys", json={"name": "a"}, headers={"X-API-Key": admin_key}).json()["key"]}
        body = {"model": "tiny-sd", "prompt": "long", "steps": 50, "width": 512, "height": 512, "seed": 1}
        task_id = httpx.post(f"{base}/api/images", json=body, headers=headers).json()["id"]
        deadline = time.monotonic() + 60
        while httpx.get(f"{base}/api/images/{task_id}", headers=headers).json()["status"] != "running":
            assert time.monotonic() < deadline, "the task never started"
            time.sleep(0.05)
    finally:
        for _ in range(3):
            os.kill(serve.process.pid, signal.SIGINT)
            time.sleep(0.05)
        code = serve.wait(60)
    assert code == 0, serve.errors
    serve.assert_no_child_left(redis_port)

    again = Serve(env)  # the same data dir: Redis's append-only file brings the task back
    try:
        again.wait_for_line("Press Ctrl-C")
        deadline = time.monotonic() + 90
        while (record := httpx.get(f"{base}/api/images/{task_id}", headers=headers).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, record
            time.sleep(0.2)
        assert record["status"] == "succeeded", record
    finally:
        os.kill(again.process.pid, signal.SIGINT)
        assert again.wait(60) == 0
