"""The server's console script, run as a user runs it."""

import os
import subprocess
import sys
from pathlib import Path


def test_an_invalid_setting_is_named_with_its_reason_and_nothing_starts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DDIFFUSION_")}
    env |= {"DDIFFUSION_COMPILE_MODELS": "sdxll", "DDIFFUSION_RESULT_TTL": "5", "DDIFFUSION_DATA_DIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "server.cli", "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        "ddiffusion: DDIFFUSION_RESULT_TTL is invalid: Input should be greater than or equal to 60",
        "ddiffusion: DDIFFUSION_COMPILE_MODELS is invalid: sdxll: not a diffusers model of the catalogue (GET /api/models lists them)",
    ]
    assert run.stdout == "" and list(tmp_path.iterdir()) == [], "no Redis, api or worker was started"
