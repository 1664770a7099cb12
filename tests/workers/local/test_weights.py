"""Finding, refusing and downloading weights, against a loopback fake of the Hugging Face Hub
serving tiny-sd's real files under a repo id."""

import io
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from huggingface_hub import constants
from PIL import Image

from core.catalogue import CATALOGUE, ModelEntry
from core.errors import ModelUnavailableError
from core.settings import Settings
from tests.fakes.hf_hub import FakeHub, fake_hub, point_huggingface_hub_at, repo_files
from tests.utils.context import FakeContext
from workers.local.images import DiffusersImageEngine
from workers.local.weights import find_weights, require_weights, wanted_files

REPO = "tests/tiny-sd"
# What a real repo carries beside the pipeline's files, none of which from_pretrained reads.
EXTRAS = {
    "tiny-sd-single-file.safetensors": b"\0" * 4096,  # a single-file checkpoint at a pipeline's root
    "unet/diffusion_pytorch_model.fp16.safetensors": b"\0" * 2048,  # a variant beside the plain file
    "unet/diffusion_pytorch_model.bin": b"\0" * 2048,  # pickled weights beside safetensors
    "text_encoder/flax_model.msgpack": b"\0" * 1024,
    "sample.png": b"\x89PNG",
    "README.md": b"# tiny-sd",
}


@pytest.fixture
def entry() -> ModelEntry:
    """A test-only catalogue entry: tiny-sd's classes, its weights a Hub repo."""
    return CATALOGUE["tiny-sd"].model_copy(update={"name": "hub-sd", "weights": REPO, "tiny": False})


@pytest.fixture
def tiny_sd_files(tiny_models: Path) -> dict[str, bytes]:
    return repo_files(tiny_models / "tiny-sd")


@pytest.fixture
def hub(tiny_sd_files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    with fake_hub({REPO: tiny_sd_files | EXTRAS}) as served:
        point_huggingface_hub_at(monkeypatch, served.base_url, tmp_path / "hf-cache")
        yield served


def make_engine(models_dir: Path, allow_downloads: bool) -> DiffusersImageEngine:
    return DiffusersImageEngine(
        Settings(models_dir=models_dir, device="cpu", preview_every=0, allow_downloads=allow_downloads, _env_file=None)
    )


def run_png(engine: DiffusersImageEngine, entry: ModelEntry, ctx: FakeContext) -> bytes:
    [output] = engine.run(entry, {"prompt": "a red teapot", **entry.defaults, "seed": 7}, ctx)
    return ctx.blobs[output["ref"]]


def test_without_downloads_a_missing_model_names_where_it_looked_and_how_to_get_it(hub: FakeHub, entry: ModelEntry, tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    with pytest.raises(ModelUnavailableError) as raised:
        require_weights(entry, models_dir, allow_downloads=False)
    message = raised.value.message
    assert str(models_dir / REPO) in message and str(tmp_path / "hf-cache") in message
    assert "`ddiffusion models pull hub-sd`" in message and "DDIFFUSION_ALLOW_DOWNLOADS=true" in message
    assert "copy a models dir" in message
    assert hub.requests == []  # nothing asked of the Hub


def test_with_downloads_the_first_task_fetches_the_weights_with_progress_and_the_next_fetches_nothing(
    hub: FakeHub, entry: ModelEntry, tiny_sd_files: dict[str, bytes], tmp_path: Path
) -> None:
    ctx = FakeContext()
    first = run_png(make_engine(tmp_path / "models", allow_downloads=True), entry, ctx)
    assert Image.open(io.BytesIO(first)).size == (64, 64)
    # Only what from_pretrained reads came down, each file once.
    assert sorted(hub.downloaded(REPO)) == sorted(tiny_sd_files)
    assert constants.HF_HUB_OFFLINE is True  # lifted for the download only

    largest = max(tiny_sd_files, key=lambda name: len(tiny_sd_files[name]))
    assert ctx.lines[0].startswith(f"downloading {REPO}: {len(tiny_sd_files)} files, ") and largest in ctx.lines[0]
    percents = [int(match[1]) for line in ctx.lines if (match := re.match(rf"downloading {REPO}: (\d+)% \(", line))]
    assert percents and percents == sorted(set(percents)) and percents[-1] == 100 and len(percents) <= 21
    snapshot = find_weights(entry, tmp_path / "models")
    assert snapshot is not None and snapshot.is_relative_to(tmp_path / "hf-cache")
    [done] = [line for line in ctx.lines if line.startswith(f"downloaded {REPO} (")]
    assert done.endswith(f"into {snapshot}")

    # A fresh engine (nothing warm) loads from the Hugging Face cache: no request, the same image.
    asked = len(hub.requests)
    again = FakeContext()
    assert run_png(make_engine(tmp_path / "models", allow_downloads=True), entry, again) == first
    assert len(hub.requests) == asked and not any(line.startswith("download") for line in again.lines)


def test_a_gated_repo_fails_naming_hf_token_and_sends_the_token_when_set(
    hub: FakeHub, entry: ModelEntry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hub.gated.add(REPO)
    with pytest.raises(ModelUnavailableError) as raised:
        require_weights(entry, tmp_path / "models", allow_downloads=True)
    message = raised.value.message
    assert "gated" in message and "HF_TOKEN" in message and f"{hub.base_url}/{REPO}" in message and "no token is set" in message

    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    with pytest.raises(ModelUnavailableError, match="a token was sent, and refused"):
        require_weights(entry, tmp_path / "models", allow_downloads=True)
    assert hub.requests[-1].authorization == "Bearer hf_test_token"
    assert hub.downloaded(REPO) == [] and find_weights(entry, tmp_path / "models") is None


def test_an_unreachable_hub_fails_clearly(entry: ModelEntry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"  # nothing listens once it closes
    point_huggingface_hub_at(monkeypatch, closed, tmp_path / "hf-cache")
    with pytest.raises(ModelUnavailableError, match=f"Could not reach the Hugging Face Hub at {re.escape(closed)}"):
        require_weights(entry, tmp_path / "models", allow_downloads=True)


def test_tiny_models_are_never_fetched(hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="`ddiffusion models pull tiny-sd`"):
        require_weights(CATALOGUE["tiny-sd"], tmp_path / "empty", allow_downloads=True)
    assert hub.requests == []


def test_only_the_files_from_pretrained_reads_are_wanted() -> None:
    sd15 = [
        "model_index.json", "v1-5-pruned.ckpt", "v1-5-pruned.safetensors", "README.md", ".gitattributes", "LICENSE.md", "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.bin",
        "unet/diffusion_pytorch_model.non_ema.bin", "text_encoder/model.safetensors", "text_encoder/pytorch_model.bin",
        "text_encoder/flax_model.msgpack", "vae/diffusion_flax_model.msgpack", "vae/diffusion_pytorch_model.fp16.bin",
        "vae/diffusion_pytorch_model.bin", "tokenizer/vocab.json", "scheduler/scheduler_config.json", "onnx/unet/model.onnx",
    ]  # fmt: skip
    assert wanted_files(sd15) == [
        "model_index.json", "scheduler/scheduler_config.json", "text_encoder/model.safetensors", "tokenizer/vocab.json",
        "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.bin",
    ]  # fmt: skip
    sharded_variants = ["model_index.json", "transformer/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
                        "transformer/diffusion_pytorch_model.fp16-00002-of-00002.safetensors"]  # fmt: skip
    assert wanted_files(sharded_variants) == sorted(sharded_variants)  # variants only: they are the weights
    # A transformers repo keeps its weights at the root.
    qwen = ["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json",
            "tokenizer.json", "flax_model.msgpack"]  # fmt: skip
    assert wanted_files(qwen) == sorted(qwen[:-1])


def test_a_worker_allowed_to_download_offers_hub_models_it_lacks_as_available_not_present(tiny_models: Path, tmp_path: Path) -> None:
    """What a gpu worker's heartbeat reports, in a worker process of its own (settings are read at import)."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith(("DDIFFUSION_", "HF_"))}
    env = inherited | {"DDIFFUSION_REDIS_URL": "redis://127.0.0.1:1/0", "DDIFFUSION_ALLOW_DOWNLOADS": "true",
                       "DDIFFUSION_MODELS_DIR": str(tiny_models), "HF_HUB_CACHE": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "1"}  # fmt: skip
    code = "import json; from core.settings import Settings; from workers.heartbeat import heartbeat_models; print(json.dumps(heartbeat_models(['gpu'], Settings())))"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    runnable, present = json.loads(result.stdout.splitlines()[-1])
    assert {"sd-1.5", "flux-1", "tiny-sd", "tiny-flux-1"} <= set(runnable) and "gpt-4o" not in runnable
    assert {"tiny-sd", "tiny-flux-1"} <= set(present) and not {"sd-1.5", "flux-1"} & set(present)


def test_the_listing_says_whose_weights_are_present(platform_client: TestClient, user: dict[str, str]) -> None:
    listing = {model["name"]: model for model in platform_client.get("/api/images/models", headers=user).json()}
    assert listing["tiny-sd"]["weights_present"] and listing["tiny-sd"]["available"]
    # The session's workers may not download: no weights, not available.
    assert not listing["sdxl"]["weights_present"] and not listing["sdxl"]["available"]
    assert not listing["gpt-image-1"]["weights_present"]  # hosted: nothing on disk
