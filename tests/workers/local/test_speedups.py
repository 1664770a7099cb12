"""Per-model fast paths (workers/local/speedups.py) on the tiny twins: the same images, named in the record."""

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from core.catalogue import CATALOGUE
from core.errors import PlatformError
from core.queue import Queue
from core.settings import Settings
from server.launcher import worker_command
from tests.utils.context import FakeContext
from tests.utils.loras import make_lora
from tests.utils.platform import settings_env
from tests.workers.local.test_image_engine import make_engine, output_image, run
from workers.local.cache import WarmModel
from workers.local.images import DiffusersImageEngine, unfused_for_loras

FAST = ["tiny-sd", "tiny-flux"]


@pytest.fixture(scope="module")
def plain(tiny_models: Path) -> DiffusersImageEngine:
    return make_engine(tiny_models, preview_every=0)


@pytest.fixture(scope="module")
def fast(tiny_models: Path) -> DiffusersImageEngine:
    return make_engine(tiny_models, preview_every=0, fused_qkv_models=",".join(FAST), channels_last_models=",".join(FAST))


def pixels(ctx: FakeContext, output: dict[str, Any]) -> np.ndarray:
    return np.asarray(output_image(ctx, output), np.int16)


@pytest.mark.parametrize("name", FAST)
def test_fused_qkv_and_channels_last_make_the_same_image_and_the_record_says_so(plain: DiffusersImageEngine, fast: DiffusersImageEngine, name: str) -> None:
    ctx = FakeContext()
    expected, got = run(plain, name, ctx, width=64, height=64), run(fast, name, ctx, width=64, height=64)
    assert np.abs(pixels(ctx, expected) - pixels(ctx, got)).max() <= 1  # the same arithmetic, regrouped
    assert "speedups" not in expected["reproducibility"]
    pipe, _ = fast.pipeline(CATALOGUE[name], "txt2img")
    denoiser = pipe.unet if name == "tiny-sd" else pipe.transformer
    if name == "tiny-sd":
        assert got["reproducibility"]["speedups"] == {"fused_qkv": True, "channels_last": True}
        assert {type(p).__name__ for p in denoiser.attn_processors.values()} == {"FusedAttnProcessor2_0"}
        assert denoiser.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    else:  # a transformer has no convolutions for channels-last to speed up
        assert got["reproducibility"]["speedups"] == {"fused_qkv": True}
        assert all(block.attn.fused_projections for block in denoiser.transformer_blocks)


def test_a_lora_runs_unfused_and_the_model_is_fused_again_after(plain: DiffusersImageEngine, fast: DiffusersImageEngine, tiny_models: Path, tmp_path: Path) -> None:
    ctx = FakeContext()
    lora = ctx.put_input(make_lora(tiny_models, tmp_path).read_bytes())
    expected, got = (run(engine, "tiny-sd", ctx, width=64, height=64, loras=[{"ref": lora}]) for engine in (plain, fast))
    assert np.abs(pixels(ctx, expected) - pixels(ctx, got)).max() <= 1  # the LoRA took effect on the fused model too
    assert got["reproducibility"]["speedups"] == {"channels_last": True}  # it ran unfused
    without = run(fast, "tiny-sd", ctx, width=64, height=64)
    assert without["reproducibility"]["speedups"] == {"fused_qkv": True, "channels_last": True}
    assert np.abs(pixels(ctx, without) - pixels(ctx, run(plain, "tiny-sd", ctx, width=64, height=64))).max() <= 1


def test_fp8_is_refused_where_the_device_cannot_run_it(tiny_models: Path) -> None:
    with pytest.raises(RuntimeError, match="DDIFFUSION_FP8_MODELS .*compute capability 8.9"):
        make_engine(tiny_models, fp8_models="tiny-flux")


def test_a_lora_on_an_fp8_model_fails_with_what_to_do(plain: DiffusersImageEngine) -> None:
    pipe, warm = plain.pipeline(CATALOGUE["tiny-flux"], "txt2img")
    fp8 = WarmModel(pipe, warm.size_bytes, warm.info | {"speedups": {"fp8": "float8"}})
    with pytest.raises(PlatformError) as failure, unfused_for_loras(CATALOGUE["tiny-flux"], pipe, fp8, loras=True):
        pass
    assert failure.value.code == "lora_unsupported" and "submit without loras" in str(failure.value)
    with unfused_for_loras(CATALOGUE["tiny-flux"], pipe, fp8, loras=False):
        pass  # without LoRAs it runs


def test_a_gpu_worker_with_fp8_on_a_machine_without_it_refuses_to_start(settings: Settings) -> None:
    fp8 = settings.model_copy(update={"fp8_models": ["tiny-flux"], "device": "cpu"})
    worker = subprocess.run(worker_command(Queue.gpu, fp8, "fp8@test"), env=settings_env(fp8), capture_output=True, text=True, timeout=120)
    assert worker.returncode != 0
    assert "worker refused to start" in worker.stdout + worker.stderr and "compute capability 8.9" in worker.stdout + worker.stderr
