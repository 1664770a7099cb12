"""The newer generators' twins (FLUX.2, FLUX.2 Klein, Z-Image, Qwen-Image-Edit) on the diffusers
engine, driven directly: every mode, with `references` where the model takes them."""

import io
from pathlib import Path

import pytest
from PIL import Image

from core.catalogue import CATALOGUE, Capability
from core.settings import Settings
from tests.utils.context import FakeContext
from workers.local.images import DiffusersImageEngine

NEW_TWINS = ["tiny-flux-2", "tiny-flux-2-klein", "tiny-z-image", "tiny-qwen-image-edit"]
# Each mode of each twin, and each edit again with references (one for Qwen-Image-Edit, whose every
# image is encoded at a megapixel: the costly case on a CPU).
RUNS = [(name, mode, 0) for name in NEW_TWINS for mode in CATALOGUE[name].modes] + [
    (name, mode, 1 if name == "tiny-qwen-image-edit" else 2)
    for name in NEW_TWINS
    if Capability.references in CATALOGUE[name].capabilities
    for mode in CATALOGUE[name].modes
    if mode != "txt2img"
]


@pytest.fixture(scope="module")
def engine(tiny_models: Path) -> DiffusersImageEngine:
    # Previews every step: FLUX.2's packed latents are previewed too.
    return DiffusersImageEngine(Settings(models_dir=tiny_models, device="cpu", preview_every=1))


def png_input(ctx: FakeContext, color: tuple[int, int, int] | int, size: tuple[int, int], mode: str = "RGB") -> str:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")
    return ctx.put_input(buffer.getvalue())


@pytest.mark.parametrize(("name", "mode", "references"), RUNS)
def test_each_new_twin_makes_the_asked_size_in_each_mode(engine: DiffusersImageEngine, name: str, mode: str, references: int) -> None:
    entry = CATALOGUE[name]
    ctx = FakeContext()
    params = {"prompt": "a red teapot", **entry.defaults, "width": 64, "height": 80, "seed": 7, "strength": 0.8}
    if mode != "txt2img":
        params["image"] = png_input(ctx, (200, 40, 40), (96, 64))
    if mode == "inpaint":
        params["mask"] = png_input(ctx, 255, (96, 64), "L")
    # Any size: each is resized to the output's (a strip like 40x300 is beyond FLUX.2's 8:1 as it is).
    params["references"] = [png_input(ctx, (0, 0, 255), (40, 300)), png_input(ctx, (0, 200, 0), (128, 128))][:references]
    [output] = engine.run(entry, params, ctx)
    image = Image.open(io.BytesIO(ctx.blobs[output["ref"]]))
    assert image.format == "PNG" and image.size == (output["width"], output["height"]) == (64, 80)
    record = output["reproducibility"]
    assert record["pipeline"] == entry.modes[mode] and record["mode"] == mode and record["seed"] == 7
    assert ctx.previews and ctx.steps[-1][0] == ctx.steps[-1][1]


def test_qwen_image_edit_runs_on_tiny_qwen_images_warm_weights(tiny_models: Path) -> None:
    """One load serves both: the edit pipeline is built on the text-to-image one's components."""
    engine = DiffusersImageEngine(Settings(models_dir=tiny_models, device="cpu", preview_every=0))
    ctx = FakeContext()
    common = {"prompt": "a red teapot", "width": 64, "height": 64, "steps": 1, "guidance": 4.0, "seed": 3, "strength": 0.8}
    engine.run(CATALOGUE["tiny-qwen-image"], common, ctx)
    [output] = engine.run(CATALOGUE["tiny-qwen-image-edit"], common | {"image": png_input(ctx, (9, 9, 9), (64, 64))}, ctx)
    assert output["reproducibility"]["pipeline"] == "QwenImageEditPlusPipeline"
    assert engine.cache.loads == 1
