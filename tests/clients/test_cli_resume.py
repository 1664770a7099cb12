"""`--wait` when the platform goes away mid-wait: the task id and how to follow it were printed at
submit, the command exits 3 saying how to resume, and the task is found again by that command."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import uvicorn
from ddiffusion.cli import app
from typer.testing import CliRunner

from api.main import create_app
from core.settings import Settings
from tests.utils.platform import WorkerFleet, free_port


def start_api(settings: Settings) -> uvicorn.Server:
    """An api of its own to take away; it shares the session's Redis, so its tasks live on."""
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=free_port(), log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, name="going-away-api", daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start in 30s"
        time.sleep(0.05)
    return server


def test_wait_survives_the_platform_going_away(settings: Settings, workers: WorkerFleet, cli_env: dict[str, str], tmp_path: Path) -> None:
    server = start_api(settings)
    env = {name: value for name, value in os.environ.items() if not name.startswith("DDIFFUSION_")}
    env |= cli_env | {"DDIFFUSION_API_ADDRESS": f"http://127.0.0.1:{server.config.port}"}
    # Long enough (50 steps at 512x512, the most tiny-sd takes) to be running still when the api goes.
    args = ["images", "create", "--model", "tiny-sd", "--prompt", "long", "--width", "512", "--height", "512", "--steps", "50", "--wait"]
    waiting = subprocess.Popen([sys.executable, "-m", "ddiffusion", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        submitted = waiting.stderr.readline()  # type: ignore[union-attr]
        assert submitted.startswith("submitted "), submitted
        server.should_exit = True
        _, rest = waiting.communicate(timeout=60)
    finally:
        server.should_exit = True
        if waiting.poll() is None:
            waiting.kill()
    task_id = submitted.split()[1].rstrip(";")
    resume = f"ddiffusion tasks watch images {task_id}"
    assert resume in submitted
    assert waiting.returncode == 3, rest
    assert "unreachable" in rest and rest.rstrip().endswith(resume)
    # The task went on without the api that took it; the printed command finds it again.
    runner = CliRunner()
    assert runner.invoke(app, ["tasks", "cancel", "images", task_id], env=cli_env).exit_code == 0
    watched = runner.invoke(app, ["tasks", "watch", "images", task_id, "--json", "--timeout", "120"], env=cli_env)
    assert watched.exit_code == 1 and '"status": "cancelled"' in watched.stdout, watched.output
