"""The `ddiffusion` command line against the real platform: outputs, files and exit codes."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import ddiffusion.cli
import pytest
from ddiffusion.cli import app
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner, Result

from tests.utils.loras import make_lora
from tests.utils.platform import ADMIN_KEY, free_port
from tests.utils.tasks import png_bytes

TIMEOUT = ["--timeout", "120"]


def ddiffusion_cli(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=env, prog_name="ddiffusion")


def json_of(result: Result) -> Any:
    return json.loads(result.stdout)


def test_images_create_waits_and_saves_the_png(cli_env: dict[str, str], tmp_path: Path) -> None:
    args = ["images", "create", "--model", "tiny-sd", "--prompt", "a teapot", "--width", "128", "--height", "64", "--steps", "2", "--seed", "3"]
    result = ddiffusion_cli(cli_env, *args, "--wait", "-o", str(tmp_path), "--json", *TIMEOUT)
    assert result.exit_code == 0, result.output
    outcome = json_of(result)
    assert outcome["status"] == "succeeded" and len(outcome["files"]) == 1
    with Image.open(outcome["files"][0]) as image:
        assert image.size == (128, 64)


def test_images_create_uploads_a_local_init_image_and_prints_the_path(cli_env: dict[str, str], tmp_path: Path) -> None:
    plate = tmp_path / "plate.png"
    plate.write_bytes(png_bytes(64, 64))
    out = tmp_path / "renders"
    args = ["images", "create", "--model", "tiny-sd", "--prompt", "repaint", "--image", str(plate), "--strength", "0.5", "--steps", "2"]
    result = ddiffusion_cli(cli_env, *args, "-o", str(out), *TIMEOUT)
    assert result.exit_code == 0, result.output
    [printed] = result.stdout.splitlines()
    assert Path(printed).parent == out.resolve() and Path(printed).is_file()


def test_failed_task_exits_1_with_its_error(cli_env: dict[str, str], tiny_models: Path, tmp_path: Path) -> None:
    # A LoRA made for tiny-sdxl passes the checks at submit (it is a safetensors file), then the
    # engine finds it does not fit tiny-sd: the task is accepted, then fails.
    lora = make_lora(tiny_models, tmp_path / "lora", model="tiny-sdxl")
    out = tmp_path / "out"
    args = ["images", "create", "--model", "tiny-sd", "--prompt", "x", "--lora", str(lora), "--wait", "-o", str(out), "--json"]
    result = ddiffusion_cli(cli_env, *args, *TIMEOUT)
    assert result.exit_code == 1, result.output
    outcome = json_of(result)
    assert outcome["status"] == "failed" and outcome["record"]["error"]["code"] == "lora_mismatch"
    assert outcome["files"] == []
    assert not out.exists() or not any(out.iterdir())


def test_texts_create_prints_the_answer(cli_env: dict[str, str]) -> None:
    result = ddiffusion_cli(cli_env, "texts", "create", "--model", "tiny-llm", "--prompt", "hello", "--max-tokens", "4", "--wait", *TIMEOUT)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()


def test_submit_then_cancel_then_watch_exits_1(cli_env: dict[str, str]) -> None:
    submitted = ddiffusion_cli(cli_env, "images", "create", "--model", "tiny-sd", "--prompt", "long", "--width", "256", "--height", "256", "--steps", "50")
    assert submitted.exit_code == 0, submitted.output
    task_id = submitted.stdout.strip()
    cancelled = ddiffusion_cli(cli_env, "tasks", "cancel", "images", task_id, "--json")
    assert cancelled.exit_code == 0 and json_of(cancelled)["id"] == task_id
    watched = ddiffusion_cli(cli_env, "tasks", "watch", "images", task_id, "--json", *TIMEOUT)
    assert watched.exit_code == 1, watched.output
    assert json_of(watched)["status"] == "cancelled"
    got = ddiffusion_cli(cli_env, "tasks", "get", "images", task_id, "--json")
    assert got.exit_code == 0 and json_of(got)["status"] == "cancelled"


def test_api_error_exits_3_with_the_code(cli_env: dict[str, str]) -> None:
    result = ddiffusion_cli(cli_env, "tasks", "get", "images", "no-such-task", "--json")
    assert result.exit_code == 3
    assert json_of(result)["error"] == {"code": "unknown_task", "message": json_of(result)["error"]["message"], "status": 404}
    unauthenticated = ddiffusion_cli(cli_env | {"DDIFFUSION_API_KEY": "dd_wrong_key"}, "models", "list")
    assert unauthenticated.exit_code == 3 and "unauthenticated" in unauthenticated.output


def test_usage_errors_exit_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    assert ddiffusion_cli(cli_env, "tasks", "get", "pictures", "some-id").exit_code == 2
    assert ddiffusion_cli(cli_env, "images", "create", "--prompt", "no model").exit_code == 2
    missing = ddiffusion_cli(cli_env, "images", "create", "--model", "tiny-sd", "--prompt", "x", "--image", str(tmp_path / "absent.png"))
    assert missing.exit_code == 2
    assert ddiffusion_cli(cli_env, "workflows", "create", "--template", "txt2img", "--patch", "no-equals-sign").exit_code == 2


def test_models_list_json(cli_env: dict[str, str]) -> None:
    result = ddiffusion_cli(cli_env, "models", "list", "--json")
    assert result.exit_code == 0, result.output
    models = {model["name"]: model for model in json_of(result)}
    assert models["tiny-sd"]["available"] is True and models["tiny-sd"]["domain"] == "images"
    assert models["tiny-llm"]["domain"] == "texts"
    images_only = json_of(ddiffusion_cli(cli_env, "models", "list", "images", "--json"))
    assert {model["domain"] for model in images_only} == {"images"}


def test_admin_creates_lists_and_revokes_keys(cli_env: dict[str, str]) -> None:
    admin = cli_env | {"DDIFFUSION_API_KEY": ADMIN_KEY}
    created = ddiffusion_cli(admin, "keys", "create", "houdini-farm", "--json")
    assert created.exit_code == 0, created.output
    key = json_of(created)
    listed = ddiffusion_cli(admin, "keys", "list", "--json")
    assert listed.exit_code == 0 and key["id"] in {row["id"] for row in json_of(listed)}
    assert ddiffusion_cli(cli_env | {"DDIFFUSION_API_KEY": key["key"]}, "models", "list", "--json").exit_code == 0
    assert ddiffusion_cli(admin, "keys", "revoke", key["id"]).exit_code == 0
    assert key["id"] not in {row["id"] for row in json_of(ddiffusion_cli(admin, "keys", "list", "--json"))}
    assert ddiffusion_cli(cli_env | {"DDIFFUSION_API_KEY": key["key"]}, "models", "list").exit_code == 3
    # A user key may not manage keys: the API's 403 is an API error.
    assert ddiffusion_cli(cli_env, "keys", "list").exit_code == 3


def test_serve_without_the_server_package_says_how_to_install_it(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ddiffusion.cli, "SERVER_PROGRAM", "ddiffusion-server-not-installed")
    result = ddiffusion_cli(cli_env, "serve")
    assert result.exit_code == 2
    assert "pip install -e ." in result.output
    said = " ".join(result.output.split())  # rich wraps the lines to the terminal
    assert "no `ddiffusion-server-not-installed` next to" in said and "or on PATH" in said


def test_installed_console_script_runs(cli_env: dict[str, str]) -> None:
    """The entry point as a shell runs it, in a process of its own."""
    ddiffusion_script = Path(sys.executable).with_name("ddiffusion")
    env = {name: value for name, value in os.environ.items() if not name.startswith("DDIFFUSION_")} | cli_env
    result = subprocess.run([str(ddiffusion_script), "models", "list", "texts", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "tiny-llm" in {model["name"] for model in json.loads(result.stdout)}


def test_a_missing_key_names_the_settings_to_set(cli_env: dict[str, str]) -> None:
    result = ddiffusion_cli(cli_env | {"DDIFFUSION_API_KEY": ""}, "models", "list")
    assert result.exit_code == 3
    assert "no API key: set DDIFFUSION_API_KEY or pass --api-key" in result.stderr and "ddiffusion keys create NAME" in result.stderr


def test_an_unreachable_platform_names_the_address_setting(cli_env: dict[str, str]) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    result = ddiffusion_cli(cli_env | {"DDIFFUSION_API_ADDRESS": nowhere}, "tasks", "get", "images", "some-id")
    assert result.exit_code == 3
    assert nowhere in result.stderr and "DDIFFUSION_API_ADDRESS" in result.stderr and "--address" in result.stderr


def test_a_refused_request_prints_the_apis_message(cli_env: dict[str, str]) -> None:
    result = ddiffusion_cli(cli_env, "images", "create", "--model", "tiny-sd", "--prompt", "x", "--strength", "0")
    assert result.exit_code == 3
    [line] = result.stderr.splitlines()
    assert "422" in line and "strength" in line


def test_watching_a_cancelled_task_prints_one_clean_line(cli_env: dict[str, str]) -> None:
    submitted = ddiffusion_cli(cli_env, "images", "create", "--model", "tiny-sd", "--prompt", "long", "--width", "256", "--height", "256", "--steps", "50")
    task_id = submitted.stdout.strip()
    assert ddiffusion_cli(cli_env, "tasks", "cancel", "images", task_id).exit_code == 0
    watched = ddiffusion_cli(cli_env, "tasks", "watch", "images", task_id, *TIMEOUT)
    assert watched.exit_code == 1
    [line] = watched.stderr.splitlines()
    assert line.startswith("note: cancelled: ") and "cancelled: cancelled" not in line


def test_server_text_reaches_the_terminal_with_control_characters_escaped(cli_env: dict[str, str]) -> None:
    # The fake OpenAI answers with the prompt: an answer that clears the screen and rings the bell.
    prompt = "red\x1b[2J\x07 alert\r\nsecond\tline"
    result = ddiffusion_cli(cli_env, "texts", "create", "--model", "gpt-4o", "--prompt", prompt, "--wait", *TIMEOUT)
    assert result.exit_code == 0, result.output
    assert result.stdout == "red\\x1b[2J\\x07 alert\\r\nsecond\tline\n"
    refused = ddiffusion_cli(cli_env, "images", "create", "--model", "no-such\x1b[31m", "--prompt", "x")
    assert refused.exit_code == 3 and "\x1b" not in refused.stderr and "\\x1b[31m" in refused.stderr


def test_tasks_list_pages_through_this_keys_tasks_newest_first(cli_env: dict[str, str]) -> None:
    created = ddiffusion_cli(cli_env | {"DDIFFUSION_API_KEY": ADMIN_KEY}, "keys", "create", "lister", "--json")
    env = cli_env | {"DDIFFUSION_API_KEY": json_of(created)["key"]}
    made = []
    for seed in ("1", "2", "3"):
        submitted = ddiffusion_cli(env, "images", "create", "--model", "tiny-sd", "--prompt", "listed", "--steps", "2", "--seed", seed)
        assert submitted.exit_code == 0, submitted.output
        made.append(submitted.stdout.strip())
    first = ddiffusion_cli(env, "tasks", "list", "--limit", "2", "--json")
    assert first.exit_code == 0, first.output
    page = json_of(first)
    assert [task["id"] for task in page["tasks"]] == made[:0:-1]
    rest = ddiffusion_cli(env, "tasks", "list", "--limit", "2", "--cursor", page["next_cursor"], "--json")
    assert [task["id"] for task in json_of(rest)["tasks"]] == made[:1]
    table = ddiffusion_cli(env, "tasks", "list", "--domain", "images", "--limit", "2")
    assert table.exit_code == 0 and made[2] in table.stdout and made[0] not in table.stdout
    assert f"ddiffusion tasks list --cursor {page['next_cursor']} --limit 2" in table.stdout
    assert json_of(ddiffusion_cli(env, "tasks", "list", "--domain", "texts", "--json"))["tasks"] == []


def test_batches_create_wedges_seeds_waits_and_saves_by_label(cli_env: dict[str, str], tmp_path: Path) -> None:
    args = ["batches", "create", "images", "--set", "model=tiny-sd", "--set", "prompt=a wedge", "--set", "width=64", "--set", "height=64",
            "--set", "steps=2", "--vary", "seed=1..3", "--label", "w1", "--label", "w2", "--label", "w3"]  # fmt: skip
    result = ddiffusion_cli(cli_env, *args, "--wait", "-o", str(tmp_path), "--json", *TIMEOUT)
    assert result.exit_code == 0, result.output
    outcome = json_of(result)
    assert [Path(name).name for name in outcome["files"]] == ["w1-0.png", "w2-0.png", "w3-0.png"]
    assert [task["request"]["seed"] for task in outcome["batch"]["tasks"]] == [1, 2, 3]
    shown = ddiffusion_cli(cli_env, "batches", "get", outcome["id"])
    assert shown.exit_code == 0 and "3 succeeded" in shown.stdout and "w2" in shown.stdout
    cancelled = ddiffusion_cli(cli_env, "batches", "cancel", outcome["id"], "--json")
    assert cancelled.exit_code == 0 and json_of(cancelled)["counts"]["succeeded"] == 3, "nothing left to cancel"
    floats = ddiffusion_cli(cli_env, "batches", "create", "images", "--set", "model=tiny-sd", "--set", "prompt=x", "--vary", "guidance=2..3:0.5", "--json")
    assert floats.exit_code == 0, floats.output
    assert len(json_of(floats)["tasks"]) == 3


def test_priority_reaches_the_record_of_a_task_and_of_every_task_of_a_batch(cli_env: dict[str, str]) -> None:
    submitted = ddiffusion_cli(cli_env, "images", "create", "--model", "tiny-sd", "--prompt", "later", "--steps", "1", "--priority", "batch")
    assert submitted.exit_code == 0, submitted.output
    task_id = submitted.stdout.strip()
    assert json_of(ddiffusion_cli(cli_env, "tasks", "get", "images", task_id, "--json"))["priority"] == "batch"
    ddiffusion_cli(cli_env, "tasks", "cancel", "images", task_id)
    args = ["batches", "create", "images", "--set", "model=tiny-sd", "--set", "prompt=x", "--set", "width=64", "--set", "height=64",
            "--set", "steps=1", "--vary", "seed=1..3", "--priority", "interactive", "--wait", "--json", *TIMEOUT]  # fmt: skip
    batch = ddiffusion_cli(cli_env, *args)
    assert batch.exit_code == 0, batch.output
    assert [task["priority"] for task in json_of(batch)["batch"]["tasks"]] == ["interactive"] * 3


def test_a_priority_above_the_keys_cap_is_refused_in_one_line_until_the_admin_raises_it(cli_env: dict[str, str]) -> None:
    admin = cli_env | {"DDIFFUSION_API_KEY": ADMIN_KEY}
    created = json_of(ddiffusion_cli(admin, "keys", "create", "farm", "--max-priority", "normal", "--json"))
    assert created["max_priority"] == "normal"
    farm = cli_env | {"DDIFFUSION_API_KEY": created["key"]}
    refused = ddiffusion_cli(farm, "images", "create", "--model", "tiny-sd", "--prompt", "x", "--priority", "interactive")
    assert refused.exit_code == 3
    [line] = refused.stderr.splitlines()
    assert line.startswith("error: 403 priority_not_allowed: This key may submit at most `normal` priority, not `interactive`")
    batch = ddiffusion_cli(farm, "batches", "create", "images", "--set", "model=tiny-sd", "--set", "prompt=x", "--vary", "seed=1,2", "--priority", "interactive")
    assert batch.exit_code == 3 and "priority_not_allowed" in batch.stderr
    listed = ddiffusion_cli(admin, "keys", "list")
    assert f"{created['id']}  farm  " in listed.stdout and listed.stdout.split(created["id"])[1].splitlines()[0].endswith("max normal")
    raised = ddiffusion_cli(admin, "keys", "priority", created["id"], "interactive")
    assert raised.exit_code == 0 and raised.stdout.strip() == f"{created['id']}  max interactive"
    allowed = ddiffusion_cli(farm, "images", "create", "--model", "tiny-sd", "--prompt", "x", "--steps", "1", "--priority", "interactive")
    assert allowed.exit_code == 0, allowed.output
    ddiffusion_cli(farm, "tasks", "cancel", "images", allowed.stdout.strip())


def test_batch_wait_on_a_terminal_shows_one_bar_over_the_whole_batch(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(ddiffusion.cli, "stderr", Console(file=screen, force_terminal=True, width=120))
    args = ["batches", "create", "images", "--set", "model=tiny-sd", "--set", "prompt=bar", "--set", "width=64", "--set", "height=64",
            "--set", "steps=2", "--vary", "seed=1..3", "--wait", *TIMEOUT]  # fmt: skip
    result = ddiffusion_cli(cli_env, *args)
    assert result.exit_code == 0, result.output
    batch_id = result.stdout.split()[0]
    frames = screen.getvalue()
    assert f"{batch_id} 3/3 tasks done" in frames and "100%" in frames  # the last frame, drawn before the bar is cleared
