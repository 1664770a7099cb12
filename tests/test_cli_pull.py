"""`ddiffusion-server models pull NAME` and the client's `ddiffusion models pull`, against a
loopback fake of the Hugging Face Hub serving tiny-sd's files under real catalogue repo ids."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import ddiffusion.cli
import pytest
from ddiffusion.cli import app
from typer.testing import CliRunner

from core.catalogue import CATALOGUE
from server.cli import main
from tests.fakes.hf_hub import FakeHub, fake_hub, point_huggingface_hub_at, repo_files
from workers.local.weights import find_weights

SD15 = CATALOGUE["sd-1.5"].weights
FLUX_DEV = CATALOGUE["flux-1-dev"].weights
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hub(tiny_models: Path) -> Iterator[FakeHub]:
    with fake_hub({SD15: repo_files(tiny_models / "tiny-sd"), FLUX_DEV: {}}, gated={FLUX_DEV}) as served:
        yield served


def test_pull_fetches_into_the_hugging_face_cache_and_prints_the_path(hub: FakeHub, tmp_path: Path) -> None:
    """In a process of its own, as an operator runs it: huggingface_hub reads HF_ENDPOINT and
    HF_HUB_CACHE at import, and HF_HUB_OFFLINE=1 (the Makefile's) does not block an asked-for pull."""
    cache, models = tmp_path / "hf-cache", tmp_path / "models"
    inherited = {name: value for name, value in os.environ.items() if not name.startswith(("DDIFFUSION_", "HF_"))}
    env = inherited | {"HF_ENDPOINT": hub.base_url, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home"),
                       "DDIFFUSION_DATA_DIR": str(tmp_path / "data"), "DDIFFUSION_MODELS_DIR": str(models),
                       "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}  # fmt: skip
    # PYTHONPATH: this checkout's server, whatever the venv's editable install points at (the child runs in tmp_path).

    def pull() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "server.cli", "models", "pull", "sd-1.5"]
        return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    result = pull()
    assert result.returncode == 0, result.stderr
    name, path = result.stdout.strip().split(": ")
    assert name == "sd-1.5" and Path(path).is_relative_to(cache) and (Path(path) / "model_index.json").is_file()
    assert f"downloading {SD15}: 100% (" in result.stderr and str(cache) in result.stderr
    assert sorted(hub.downloaded(SD15)) == sorted(repo_files(Path(path)))

    asked = len(hub.requests)
    again = pull()  # present now: answered from the cache, without the Hub
    assert again.returncode == 0 and again.stdout == result.stdout and "already here" in again.stderr
    assert len(hub.requests) == asked


def test_pull_into_a_models_dir_is_what_workers_read_from_it(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    point_huggingface_hub_at(monkeypatch, hub.base_url, tmp_path / "hf-cache")
    models = tmp_path / "copy-me"
    assert main(["models", "pull", "sd-1.5", "--models-dir", str(models)]) == 0
    out = capsys.readouterr()
    assert out.out == f"sd-1.5: {models / SD15}\n" and f"DDIFFUSION_MODELS_DIR={models}" in out.err
    assert find_weights(CATALOGUE["sd-1.5"], models) == models / SD15
    assert not list((tmp_path / "hf-cache").rglob("*.safetensors"))  # no weights went to the cache (only its ref)


def test_pull_of_a_gated_model_without_access_fails_naming_hf_token(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    point_huggingface_hub_at(monkeypatch, hub.base_url, tmp_path / "hf-cache")
    assert main(["models", "pull", "flux-1-dev"]) == 1
    assert "gated" in (err := capsys.readouterr().err) and "HF_TOKEN" in err


def test_pull_refuses_what_has_no_local_weights(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "pull", "gpt-4o"]) == 2
    assert "runs at a service" in capsys.readouterr().err
    assert main(["models", "pull", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert "not in the catalogue" in err and "sd-1.5" in err


def test_the_client_command_hands_pull_to_the_server_where_it_is_installed(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # The server runs as a program of its own: its words reach the terminal (this process's fds), not typer's streams.
    result = CliRunner().invoke(app, ["models", "pull", "gpt-4o"], env={}, prog_name="ddiffusion")
    assert result.exit_code == 2 and "runs at a service" in capfd.readouterr().err
    monkeypatch.setattr(ddiffusion.cli, "SERVER_PROGRAM", "ddiffusion-server-not-installed")
    result = CliRunner().invoke(app, ["models", "pull", "sd-1.5"], env={}, prog_name="ddiffusion")
    assert result.exit_code == 2 and "pip install -e ." in result.output
