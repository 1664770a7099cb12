"""The compositing utilities (depth, mattes, upscales) on their tiny twins, driven directly (no broker)."""

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import OpenEXR
import png
import pytest
import torch
from PIL import Image

from core.catalogue import CATALOGUE
from core.errors import TaskCancelled
from core.settings import Settings
from tests.utils.context import FakeContext
from workers.local.utilities import UPSCALE_TILE, VisionUtilityEngine, upscale_in_tiles


@pytest.fixture(scope="module")
def engine(tiny_models: Path) -> VisionUtilityEngine:
    return VisionUtilityEngine(Settings(models_dir=tiny_models, device="cpu"))


def gradient(size: tuple[int, int]) -> Image.Image:
    """An image whose pixels differ, so a tile put in the wrong place would show."""
    width, height = size
    x, y = np.meshgrid(np.arange(width), np.arange(height))
    return Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8), "RGB")


def run(engine: VisionUtilityEngine, name: str, ctx: FakeContext, size: tuple[int, int] = (90, 60), **params: Any) -> dict[str, Any]:
    buffer = io.BytesIO()
    gradient(size).save(buffer, format="PNG")
    entry = CATALOGUE[name]
    defaults = {"output_format": entry.output_formats[0], "matte": "mask", **entry.defaults}
    [output] = engine.run(entry, defaults | {"image": ctx.put_input(buffer.getvalue())} | params, ctx)
    return output


def output_bytes(ctx: FakeContext, output: dict[str, Any]) -> bytes:
    return ctx.blobs[output["ref"]]


def test_depth_is_a_16_bit_png_of_the_input_size_with_its_record(engine: VisionUtilityEngine) -> None:
    ctx = FakeContext()
    output = run(engine, "tiny-depth-anything-2", ctx)
    width, height, rows, info = png.Reader(bytes=output_bytes(ctx, output)).read()
    assert (width, height) == (90, 60) and info["bitdepth"] == 16 and info["greyscale"] and info["planes"] == 1
    depth = np.array(list(rows))
    assert depth.min() == 0 and depth.max() == 65535  # normalised min..max
    assert output["colorspace"] == "raw" and output["content_type"] == "image/png"
    record = output["reproducibility"]
    assert record["mode"] == "depth" and record["pipeline"] == "DepthAnythingForDepthEstimation" and (record["width"], record["height"]) == (90, 60)
    assert record["weights_revision"].startswith("sha256:") and record["versions"]["transformers"]
    assert json.loads(Image.open(io.BytesIO(output_bytes(ctx, output))).text["deferred-diffusion"])["model"] == "tiny-depth-anything-2"
    assert ctx.steps == [(1, 1)]


def test_depth_as_exr_is_a_float_z_channel_of_the_input_size(engine: VisionUtilityEngine, tmp_path: Path) -> None:
    ctx = FakeContext()
    output = run(engine, "tiny-depth-anything-2", ctx, size=(70, 50), output_format="exr")
    path = tmp_path / "depth.exr"
    path.write_bytes(output_bytes(ctx, output))
    with OpenEXR.File(str(path)) as exr:
        channels = exr.channels()
        assert list(channels) == ["Z"]
        z = channels["Z"].pixels
    assert z.dtype == np.float32 and z.shape == (50, 70) and np.isfinite(z).all()
    assert output["content_type"] == "image/x-exr" and output["colorspace"] == "raw"


def test_sam2_mattes_are_single_channel_at_the_input_size_or_the_alpha_of_an_rgba(engine: VisionUtilityEngine) -> None:
    ctx = FakeContext()
    point = {"x": 30.0, "y": 20.0, "label": 1}
    box = {"x0": 5.0, "y0": 5.0, "x1": 60.0, "y1": 50.0}
    for params in ({"points": [point]}, {"boxes": [box, box | {"x0": 40.0}]}, {"points": [point, point | {"label": 0, "x": 80.0}], "boxes": [box]}):
        output = run(engine, "tiny-sam-2", ctx, **params)
        matte = Image.open(io.BytesIO(output_bytes(ctx, output)))
        assert matte.mode == "L" and matte.size == (90, 60) and set(np.unique(np.asarray(matte))) <= {0, 255}
        assert output["colorspace"] == "raw" and output["reproducibility"]["points"] == params.get("points", [])
    output = run(engine, "tiny-sam-2", ctx, points=[point], matte="alpha")
    cutout = Image.open(io.BytesIO(output_bytes(ctx, output)))
    assert cutout.mode == "RGBA" and cutout.size == (90, 60)
    assert np.array_equal(np.asarray(cutout)[..., :3], np.asarray(gradient((90, 60))))  # the input's colour, untouched


def test_sam3_mattes_what_the_prompt_names_at_the_input_size(engine: VisionUtilityEngine) -> None:
    ctx = FakeContext()
    output = run(engine, "tiny-sam-3", ctx, size=(64, 48), prompt="the red car")
    matte = Image.open(io.BytesIO(output_bytes(ctx, output)))
    assert matte.mode == "L" and matte.size == (64, 48)
    record = output["reproducibility"]
    assert record["prompt"] == "the red car" and record["pipeline"] == "Sam3Model" and record["instances"] >= 0
    assert any("instance(s) of 'the red car' found" in line for line in ctx.lines)


@pytest.mark.parametrize("name", ["tiny-swin2sr-x2", "tiny-swin2sr-x4"])
def test_an_upscale_across_tiles_is_exactly_scale_times_the_input(engine: VisionUtilityEngine, name: str) -> None:
    ctx = FakeContext()
    size = (UPSCALE_TILE + 45, UPSCALE_TILE // 2 + 3)  # two tiles across, one down; odd sides
    output = run(engine, name, ctx, size=size)
    scale = CATALOGUE[name].defaults["scale"]
    image = Image.open(io.BytesIO(output_bytes(ctx, output)))
    assert image.mode == "RGB" and image.size == (size[0] * scale, size[1] * scale) == (output["width"], output["height"])
    assert ctx.steps == [(1, 2), (2, 2)]  # progress per tile
    assert output["reproducibility"]["scale"] == scale and output["reproducibility"]["input_width"] == size[0]


def test_an_upscale_is_cancelled_between_tiles(engine: VisionUtilityEngine) -> None:
    with pytest.raises(TaskCancelled):
        run(engine, "tiny-swin2sr-x2", FakeContext(cancel_after=1), size=(UPSCALE_TILE + 8, 16))


def test_tiles_are_placed_and_cropped_so_the_whole_is_as_one_run() -> None:
    """With a model that sees no neighbours (nearest-neighbour ×3), the tiled result is exactly the
    whole image's: every tile lands where it belongs, its context and window padding cropped away."""

    def nearest(tile: torch.Tensor) -> torch.Tensor:
        return tile.repeat_interleave(3, dim=-2).repeat_interleave(3, dim=-1)

    pixels = torch.rand(1, 3, UPSCALE_TILE + 37, 2 * UPSCALE_TILE + 5)
    tiled = upscale_in_tiles(nearest, pixels, 3, 8, FakeContext())
    whole = (nearest(pixels)[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    assert tiled.shape == whole.shape == ((UPSCALE_TILE + 37) * 3, (2 * UPSCALE_TILE + 5) * 3, 3)
    assert np.array_equal(tiled, whole)


def test_an_upscale_to_exr_keeps_float_pixels_at_the_scaled_size(engine: VisionUtilityEngine, tmp_path: Path) -> None:
    ctx = FakeContext()
    output = run(engine, "tiny-swin2sr-x2", ctx, size=(40, 24), output_format="exr")
    path = tmp_path / "up.exr"
    path.write_bytes(output_bytes(ctx, output))
    with OpenEXR.File(str(path)) as exr:
        channels = exr.channels()
        rgb = channels["RGB"].pixels if "RGB" in channels else np.stack([channels[c].pixels for c in "RGB"], axis=-1)
    assert rgb.shape == (48, 80, 3) and rgb.dtype == np.float32
    assert output["colorspace"] not in ("raw", "sRGB")  # scene-linear, the OCIO target
