"""README's "A walk-through with curl" runs as it is written, against a platform started the way
`make run` starts it."""

import re
import subprocess
import sys
from pathlib import Path

from tests.utils.platform import served_platform

ROOT = Path(__file__).resolve().parents[1]


def walk_through() -> str:
    """The first bash block under the heading, as a user would paste it."""
    section = (ROOT / "README.md").read_text().split("## A walk-through with curl", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert match, "no bash block under 'A walk-through with curl'"
    return match.group(1)


def test_the_walk_through_runs(tmp_path: Path, tiny_models: Path) -> None:
    with served_platform(tmp_path, tiny_models, cwd=ROOT) as served:
        # The block runs from a checkout: its .venv is this interpreter's.
        (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
        script = tmp_path / "walk-through.sh"
        script.write_text(walk_through())
        result = subprocess.run(
            ["bash", "-euo", "pipefail", str(script)],
            cwd=tmp_path, env=served.env | {"API": served.base, "DATA": str(served.data_dir)}, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "teapot.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    [render] = (tmp_path / "renders").iterdir()
    assert render.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
