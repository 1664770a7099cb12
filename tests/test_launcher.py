"""`ddiffusion serve` as a user runs it: embedded Redis, api and workers, stopped by Ctrl-C."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.utils.platform import free_port


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
