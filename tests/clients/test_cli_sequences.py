"""`ddiffusion … -o` saves an image sequence under its frame names, the way Nuke and Houdini read it."""

import json
from pathlib import Path

from ddiffusion.cli import app
from PIL import Image
from typer.testing import CliRunner


def test_videos_create_saves_a_png_sequence_as_numbered_frames(cli_env: dict[str, str], tmp_path: Path) -> None:
    args = ["videos", "create", "--model", "tiny-ltx", "--prompt", "a paper boat", "--num-frames", "9", "--seed", "7",
            "--output-format", "png_sequence", "--start-frame", "1001", "--wait", "-o", str(tmp_path), "--json", "--timeout", "120"]  # fmt: skip
    result = CliRunner().invoke(app, args, env=cli_env, prog_name="ddiffusion")
    assert result.exit_code == 0, result.output
    files = [Path(name) for name in json.loads(result.stdout)["files"]]
    task_id = json.loads(result.stdout)["id"]
    assert [file.name for file in files] == [f"{task_id}.{frame}.png" for frame in range(1001, 1010)]
    with Image.open(files[0]) as frame:
        assert frame.size == (64, 64)
