"""README's "A walk-through with curl" runs as it is written, against a platform started the way
`make run` starts it."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.utils.platform import free_port

ROOT = Path(__file__).resolve().parents[1]


def walk_through() -> str:
    """The first bash block under the heading, as a user would paste it."""
    section = (ROOT / "README.md").read_text().split("## A walk-through with curl", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert match, "no bash block under 'A walk-through with curl'"
    return match.group(1)


def test_the_walk_through_runs(tmp_path: Path, tiny_models: Path) -> None:
    port, data = free_port(), tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DDIFFUSION_")}
    env |= {"DDIFFUSION_PORT": str(port), "DDIFFUSION_REDIS_PORT": str(free_port()), "DDIFFUSION_DATA_DIR": str(data)}
    env |= {"DDIFFUSION_MODELS_DIR": str(tiny_models)}
    platform = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        api = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{api}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert platform.poll() is None, "the platform exited during startup"
            assert time.monotonic() < deadline, "platform not ready in 90s"
            time.sleep(0.3)
        # The block runs from a checkout: its .venv is this interpreter's.
        (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
        script = tmp_path / "walk-through.sh"
        script.write_text(walk_through())
        result = subprocess.run(
            ["bash", "-euo", "pipefail", str(script)], cwd=tmp_path, env=env | {"API": api, "DATA": str(data)}, capture_output=True, text=True, timeout=180
        )
    finally:
        os.killpg(platform.pid, signal.SIGINT)
        platform.wait(60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "teapot.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    [render] = (tmp_path / "renders").iterdir()
    assert render.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
