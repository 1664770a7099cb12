"""Every request field of the API has its `ddiffusion` option, under the API's name, and what the
options say reaches the API as those fields."""

import json
from pathlib import Path
from typing import Any

import numpy
import pytest
import safetensors.numpy
import typer.main
from ddiffusion.cli import app
from typer.testing import CliRunner, Result

from tests.utils.tasks import png_bytes

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = {"ImageRequest": "images", "VideoRequest": "videos", "TextRequest": "texts", "WorkflowRequest": "workflows"}
# Fields whose option is not the field's name with `_` → `-`, and why.
RENAMED = {
    "loras": ["--lora"],  # one LoRA per option, repeated: NAME[:SCALE]
    "references": ["--reference"],  # one image per option, repeated
    "points": ["--point"],  # one X,Y[,LABEL] per option, repeated
    "boxes": ["--box"],  # one X0,Y0,X1,Y1 per option, repeated
    "patches": ["--patch"],  # one NODE.INPUT=VALUE per option, repeated
    "inputs": ["--input"],  # one NODE=FILE per option, repeated
    "messages": ["--prompt", "--system", "--image"],  # a shell user writes a prompt, not a message list
}


def options_of(domain: str) -> set[str]:
    command = typer.main.get_command(app).commands[domain].commands["create"]  # type: ignore[attr-defined]
    return {option for param in command.params for option in param.opts}


@pytest.mark.parametrize("schema", COMMANDS)
def test_every_request_field_has_its_option(schema: str) -> None:
    fields = json.loads((ROOT / "openapi.json").read_text())["components"]["schemas"][schema]["properties"]
    options = options_of(COMMANDS[schema])
    missing = {name: RENAMED.get(name, ["--" + name.replace("_", "-")]) for name in fields}
    missing = {name: wanted for name, wanted in missing.items() if not set(wanted) <= options}
    assert missing == {}, f"{COMMANDS[schema]} create lacks options for {schema} fields"


def ddiffusion_cli(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=env, prog_name="ddiffusion")


def submitted_request(env: dict[str, str], domain: str, *args: str) -> dict[str, Any]:
    """Submits without waiting, cancels (the request is what is checked, not the render) and
    returns the request as the platform recorded it."""
    submitted = ddiffusion_cli(env, domain, "create", *args)
    assert submitted.exit_code == 0, submitted.output
    task_id = submitted.stdout.strip()
    ddiffusion_cli(env, "tasks", "cancel", domain, task_id)
    got = ddiffusion_cli(env, "tasks", "get", domain, task_id, "--json")
    assert got.exit_code == 0, got.output
    return json.loads(got.stdout)["request"]


def test_image_options_reach_the_api_by_their_names(cli_env: dict[str, str], tmp_path: Path) -> None:
    lora_file = tmp_path / "detail.safetensors"
    safetensors.numpy.save_file({"lora_unet_down.lora_up.weight": numpy.zeros((4, 4), "float32")}, str(lora_file))
    args = ["--model", "tiny-sd", "--prompt", "a teapot", "--negative-prompt", "blur", "--width", "64", "--height", "64"]
    args += ["--steps", "3", "--guidance", "4.5", "--seed", "9", "--scheduler", "euler_a"]
    args += ["--lora", "detail:0.8", "--lora", "other", "--lora", f"{lora_file}:-0.5"]
    request = submitted_request(cli_env, "images", *args)
    expected = {"negative_prompt": "blur", "width": 64, "height": 64, "steps": 3, "guidance": 4.5, "seed": 9, "scheduler": "euler_a"}
    assert {name: request[name] for name in expected} == expected
    named, default_scale, uploaded = request["loras"]
    assert (named["name"], named["scale"]) == ("detail", 0.8)
    assert (default_scale["name"], default_scale["scale"]) == ("other", 1.0)
    assert uploaded["ref"].startswith("sha256:") and uploaded["scale"] == -0.5
    # The ref the upload gave, passed back as it is.
    again = submitted_request(cli_env, "images", "--model", "tiny-sd", "--prompt", "x", "--lora", f"{uploaded['ref']}:2")
    assert (again["loras"][0]["ref"], again["loras"][0]["scale"]) == (uploaded["ref"], 2.0)


def test_video_num_frames_and_fps_reach_the_api(cli_env: dict[str, str]) -> None:
    args = ["--model", "tiny-ltx", "--prompt", "waves", "--num-frames", "9", "--fps", "8", "--width", "64", "--height", "64", "--steps", "1"]
    request = submitted_request(cli_env, "videos", *args)
    assert (request["num_frames"], request["fps"], request["steps"]) == (9, 8, 1)


def test_text_options_build_the_messages(cli_env: dict[str, str], tmp_path: Path) -> None:
    picture = tmp_path / "plate.png"
    picture.write_bytes(png_bytes(32, 32))
    args = ["--model", "tiny-vlm", "--prompt", "What is this?", "--system", "Be brief.", "--image", str(picture)]
    request = submitted_request(cli_env, "texts", *args, "--max-tokens", "3", "--temperature", "0.2", "--seed", "1")
    system, user = request["messages"]
    assert system == {"role": "system", "content": "Be brief."}
    text, image = user["content"]
    assert text == {"type": "text", "text": "What is this?"} and image["type"] == "image" and image["image"].startswith("sha256:")
    assert (request["max_tokens"], request["temperature"], request["seed"]) == (3, 0.2, 1)
