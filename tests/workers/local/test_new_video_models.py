"""Wan 2.2 and HunyuanVideo 1.5: their twins, from a request as submit normalises it to the mp4
the real video engine makes."""

import io
import json
from pathlib import Path
from typing import Any

import pytest
from diffusers.pipelines.hunyuan_video1_5.image_processor import HunyuanVideo15ImageProcessor
from PIL import Image

from core.catalogue import CATALOGUE, fit_to_input, normalize, resolve
from core.errors import InvalidRequestError, TaskCancelled
from core.schemas import Domain, VideoRequest
from core.settings import Settings
from tests.utils.context import FakeContext
from tests.utils.video import decode_mp4
from workers.local.videos import DiffusersVideoEngine

REF = "sha256:" + "0" * 64


@pytest.fixture(scope="module")
def engine(tiny_models: Path) -> DiffusersVideoEngine:
    return DiffusersVideoEngine(Settings(models_dir=tiny_models, device="cpu", preview_every=0))


def submitted(ctx: FakeContext, image_size: tuple[int, int] | None = None, **fields: Any) -> tuple[str, dict[str, Any]]:
    """The entry and params a request runs with, as the api makes them (a family resolved, the
    size fitted to the image), the image stored in ctx."""
    image = None
    if image_size is not None:
        buffer = io.BytesIO()
        Image.new("RGB", image_size, (200, 40, 40)).save(buffer, format="PNG")
        image = ctx.put_input(buffer.getvalue())
    request = VideoRequest(prompt="a red teapot spinning", seed=7, fps=12, image=image, **fields)
    entry, _ = resolve(Domain.videos, request)
    params, _ = normalize(entry, request)
    if image_size is not None:
        fit_to_input(entry, request, params, image_size)
    return entry.name, params


def made(engine: DiffusersVideoEngine, name: str, params: dict[str, Any], ctx: FakeContext) -> tuple[dict[str, Any], bytes]:
    [output] = engine.run(CATALOGUE[name], params, ctx)
    return output, ctx.blobs[output["ref"]]


@pytest.mark.parametrize(
    ("model", "image_size", "runs", "mode", "size"),
    [
        ("tiny-wan-2.2", None, "tiny-wan-2.2", "txt2img", (96, 64)),  # 100x70 snapped to 32s
        ("tiny-wan-2.2", (128, 64), "tiny-wan-2.2", "img2img", (128, 64)),  # the image's size
        ("tiny-hunyuan-video-1.5", None, "tiny-hunyuan-video-1.5-t2v", "txt2img", (96, 64)),  # 100x70 snapped to 16s
        ("tiny-hunyuan-video-1.5", (120, 72), "tiny-hunyuan-video-1.5-i2v", "img2img", (96, 64)),  # the listed size nearest 5:3
    ],
)
def test_each_twin_makes_the_frames_and_size_submit_settled_on(
    engine: DiffusersVideoEngine, model: str, image_size: tuple[int, int] | None, runs: str, mode: str, size: tuple[int, int]
) -> None:
    ctx = FakeContext()
    fields = {} if image_size else {"width": 100, "height": 70}
    name, params = submitted(ctx, image_size, model=model, num_frames=12, **fields)
    assert name == runs and params["num_frames"] == 9 and (params["width"], params["height"]) == size  # 4k+1 frames
    output, mp4 = made(engine, name, params, ctx)
    assert decode_mp4(mp4) == (9, size, 12.0)
    assert output["reproducibility"]["mode"] == mode and output["reproducibility"]["pipeline"] == CATALOGUE[name].modes[mode]
    assert ctx.steps[-1] == (2, 2)


def test_hunyuan_guidance_reaches_its_guider(engine: DiffusersVideoEngine) -> None:
    """HunyuanVideo 1.5 takes no guidance argument; its guider holds the scale (1 turns CFG off)."""
    ctx = FakeContext()
    _, params = submitted(ctx, model="tiny-hunyuan-video-1.5-t2v", guidance=6.0)
    _, guided = made(engine, "tiny-hunyuan-video-1.5-t2v", params, ctx)
    _, again = made(engine, "tiny-hunyuan-video-1.5-t2v", params, ctx)
    _, unguided = made(engine, "tiny-hunyuan-video-1.5-t2v", params | {"guidance": 1.0}, ctx)
    assert guided == again != unguided


def test_a_cancel_stops_hunyuan_between_steps(engine: DiffusersVideoEngine) -> None:
    """Its pipelines take no step callback: steps are reported by the scheduler the engine gives them."""
    ctx = FakeContext(cancel_after=2)
    _, params = submitted(ctx, model="tiny-hunyuan-video-1.5-t2v", steps=10)
    with pytest.raises(TaskCancelled):
        made(engine, "tiny-hunyuan-video-1.5-t2v", params, ctx)
    assert len(ctx.steps) == 2 and not ctx.saved


@pytest.mark.parametrize("name", ["hunyuan-video-1.5-i2v", "tiny-hunyuan-video-1.5-i2v"])
def test_hunyuan_image_to_video_makes_each_listed_size(tiny_models: Path, name: str) -> None:
    """Its pipeline makes the resolution bucket nearest the image's aspect: every listed size must
    be a bucket that maps to itself. target_size: the 480p checkpoint's, or the twin's own config."""
    config = tiny_models / CATALOGUE[name].weights / "transformer" / "config.json"
    target_size = json.loads(config.read_text())["target_size"] if CATALOGUE[name].tiny else 640
    processor = HunyuanVideo15ImageProcessor(vae_scale_factor=16)
    for size in CATALOGUE[name].limits.sizes:
        width, height = (int(side) for side in size.split("x"))
        assert processor.calculate_default_height_width(height=height, width=width, target_size=target_size) == (height, width)


def test_what_the_new_video_models_cannot_make_is_refused_at_submit() -> None:
    i2v = CATALOGUE["hunyuan-video-1.5-i2v"]
    with pytest.raises(InvalidRequestError, match="does not make 832x480 videos; set width and height to one of 848x480"):
        normalize(i2v, VideoRequest(model=i2v.name, prompt="x", image=REF, width=832, height=480))
    with pytest.raises(InvalidRequestError, match="num_outputs=2: hunyuan-video-1.5-t2v makes one output per task"):
        normalize(CATALOGUE["hunyuan-video-1.5-t2v"], VideoRequest(model="hunyuan-video-1.5-t2v", prompt="x", num_outputs=2))
    with pytest.raises(InvalidRequestError, match="num_frames=161 is above wan-2.2's limit of 121"):
        normalize(CATALOGUE["wan-2.2"], VideoRequest(model="wan-2.2", prompt="x", num_frames=161))
    with pytest.raises(InvalidRequestError, match="1280x720 is 921600 pixels, above hunyuan-video-1.5-t2v's limit"):
        normalize(CATALOGUE["hunyuan-video-1.5-t2v"], VideoRequest(model="hunyuan-video-1.5-t2v", prompt="x", width=1280, height=720))
    entry, notes = resolve(Domain.videos, VideoRequest(model="hunyuan-video-1.5", prompt="x", image=REF))
    assert entry.name == "hunyuan-video-1.5-i2v" and notes == ["hunyuan-video-1.5 → hunyuan-video-1.5-i2v (img2img)"]
    assert resolve(Domain.videos, VideoRequest(model="hunyuan-video-1.5", prompt="x"))[0].name == "hunyuan-video-1.5-t2v"
