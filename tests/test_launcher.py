"""`ddiffusion serve` as a user runs it: embedded Redis, api and workers, stopped by Ctrl-C."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.utils.platform import RedisServer, free_port


def test_serve_starts_everything_and_stops_cleanly(tmp_path: Path, tiny_models: Path) -> None:
    port, redis_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DDIFFUSION_")}
    env |= {
        "DDIFFUSION_PORT": str(port),
        "DDIFFUSION_REDIS_PORT": str(redis_port),
        "DDIFFUSION_DATA_DIR": str(tmp_path / "data"),
        "DDIFFUSION_MODELS_DIR": str(tiny_models),
    }
    process = subprocess.Popen([sys.executable, "-m", "core.cli", "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    banner = []
    try:
        for line in process.stdout:  # type: ignore[union-attr]
            banner.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        text = "".join(banner)
        admin_key = (tmp_path / "data" / "admin_key").read_text().strip()
        assert f"http://127.0.0.1:{port}/docs" in text and admin_key in text
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "platform not ready in 90s"
            time.sleep(0.3)
        key = httpx.post(f"{base}/api/admin/keys", json={"name": "cli"}, headers={"X-API-Key": admin_key}).json()["key"]
        headers = {"X-API-Key": key}
        task_id = httpx.post(f"{base}/api/texts", json={"model": "tiny-llm", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}, headers=headers).json()["id"]
        while (record := httpx.get(f"{base}/api/texts/{task_id}", headers=headers).json())["status"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline + 60
            time.sleep(0.2)
        assert record["status"] == "succeeded", record
    finally:
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "Stopping" in output
    survivors = subprocess.run(["pgrep", "-f", "--", f"--port {redis_port}"], capture_output=True, text=True).stdout
    assert survivors.strip() == "", "embedded Redis still running"


def serve_with_redis_port(tmp_path: Path, redis_port: int) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DDIFFUSION_")}
    env |= {"DDIFFUSION_PORT": str(free_port()), "DDIFFUSION_REDIS_PORT": str(redis_port), "DDIFFUSION_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-m", "core.cli", "serve"], env=env, capture_output=True, text=True, timeout=30)


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
