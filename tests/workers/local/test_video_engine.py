"""The diffusers video engine on every tiny video twin, driven directly (no broker)."""

import io
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from core.catalogue import CATALOGUE
from core.errors import PlatformError, TaskCancelled
from core.settings import Settings
from tests.utils.context import FakeContext
from tests.utils.video import decode_mp4
from workers.local.videos import DiffusersVideoEngine

TINY_VIDEO_MODES = [(name, mode) for name, entry in CATALOGUE.items() if entry.tiny and entry.engine == "diffusers_video" for mode in entry.modes]


@pytest.fixture(scope="module")
def engine(tiny_models: Path) -> DiffusersVideoEngine:
    return DiffusersVideoEngine(Settings(models_dir=tiny_models, device="cpu", preview_every=0))


def run(engine: DiffusersVideoEngine, name: str, ctx: FakeContext, **overrides: Any) -> dict[str, Any]:
    params = {"prompt": "a red teapot spinning", **CATALOGUE[name].defaults, "seed": 7} | overrides
    [output] = engine.run(CATALOGUE[name], params, ctx)
    return output


def first_frame(ctx: FakeContext) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 48), (200, 40, 40)).save(buffer, format="PNG")
    return ctx.put_input(buffer.getvalue())


@pytest.mark.parametrize(("name", "mode"), TINY_VIDEO_MODES)
def test_every_mode_of_every_video_twin_makes_a_decodable_mp4(engine: DiffusersVideoEngine, name: str, mode: str) -> None:
    ctx = FakeContext()
    extra = {"image": first_frame(ctx)} if mode == "img2img" else {}
    output = run(engine, name, ctx, width=96, height=64, num_frames=9, fps=12, **extra)
    assert output["content_type"] == "video/mp4" and (output["width"], output["height"]) == (96, 64)
    assert decode_mp4(ctx.blobs[output["ref"]]) == (9, (96, 64), 12.0)
    record = output["reproducibility"]
    assert record["mode"] == mode and record["pipeline"] == CATALOGUE[name].modes[mode] and record["seed"] == 7
    assert (record["num_frames"], record["fps"]) == (9, 12) and record["weights_revision"].startswith("sha256:")
    assert ctx.steps[-1] == (2, 2)
    assert run(engine, name, ctx, width=96, height=64, num_frames=9, fps=12, **extra)["ref"] == output["ref"]  # same seed, same bytes
    assert run(engine, name, ctx, width=96, height=64, num_frames=9, fps=12, seed=8, **extra)["ref"] != output["ref"]


@pytest.mark.parametrize("name", sorted({name for name, _ in TINY_VIDEO_MODES}))
def test_previews_show_the_middle_frame_every_few_steps(tiny_models: Path, name: str) -> None:
    engine = DiffusersVideoEngine(Settings(models_dir=tiny_models, device="cpu", preview_every=2))
    ctx = FakeContext()
    extra = {} if "txt2img" in CATALOGUE[name].modes else {"image": first_frame(ctx)}  # an image-to-video-only twin
    run(engine, name, ctx, steps=5, **extra)
    assert [step for step, _ in ctx.previews] == [2, 4]
    preview = Image.open(io.BytesIO(ctx.previews[0][1]))
    assert preview.format == "PNG" and preview.size == (64, 64)


def test_a_cancel_stops_the_run_between_steps(engine: DiffusersVideoEngine) -> None:
    ctx = FakeContext(cancel_after=2)
    with pytest.raises(TaskCancelled):
        run(engine, "tiny-ltx", ctx, steps=10)
    assert len(ctx.steps) == 2 and not ctx.saved


def test_out_of_memory_fails_the_task_and_the_engine_runs_the_next_one(engine: DiffusersVideoEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    real_attention = torch.nn.functional.scaled_dot_product_attention

    def out_of_memory(*args: Any, **kwargs: Any) -> torch.Tensor:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", out_of_memory)
    with pytest.raises(PlatformError, match="Out of cpu memory running tiny-ltx at 64x64, 9 frames") as failure:
        run(engine, "tiny-ltx", FakeContext())
    assert failure.value.code == "out_of_memory"
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", real_attention)
    ctx = FakeContext()
    assert decode_mp4(ctx.blobs[run(engine, "tiny-ltx", ctx)["ref"]])[0] == 9
