"""Accepted means it runs: any request that passes submit-time validation (the request schema,
the catalogue's normalize, the api's image checks) runs on the tiny twin's real engine and makes
outputs of the asked kind and size. Requests are drawn from each twin's schema-valid space, kept
small (sizes to 128, a few steps and frames) so that every example is cheap on a CPU."""

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydantic import BaseModel, ValidationError

from api.files import image_info
from core import catalogue
from core.catalogue import CATALOGUE, Capability
from core.errors import InvalidRequestError
from core.schemas import Domain, ImageRequest, TextRequest, VideoRequest
from core.settings import Settings
from tests.utils.context import FakeContext
from tests.utils.video import decode_mp4
from workers.local.cache import ModelCache
from workers.local.images import DiffusersImageEngine
from workers.local.texts import TransformersTextEngine
from workers.local.videos import DiffusersVideoEngine

# Fixed examples, no example database: CI sees the same requests every run.
PROPERTY = settings(deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TINY = {domain: sorted(name for name, entry in CATALOGUE.items() if entry.tiny and entry.domain == domain) for domain in Domain}
# Each twin and mode gets its own examples: one shared draw would favour the first names.
IMAGE_MODES = [(name, mode) for name in TINY[Domain.images] for mode in ("txt2img", "img2img", "inpaint") if Capability(mode) in CATALOGUE[name].capabilities]
VIDEO_MODES = [(name, mode) for name in TINY[Domain.videos] for mode in CATALOGUE[name].modes]
MAX_IMAGE_PIXELS = Settings().max_image_pixels


@dataclass
class Engines:
    images: DiffusersImageEngine
    videos: DiffusersVideoEngine
    texts: TransformersTextEngine


@pytest.fixture(scope="module")
def engines(tiny_models: Path) -> Engines:
    """Warm engines shared by every example, on one cache (each twin loads once)."""
    settings_ = Settings(models_dir=tiny_models, device="cpu", preview_every=0)
    cache = ModelCache.for_settings(settings_, "cpu")
    return Engines(
        images=DiffusersImageEngine(settings_, cache),
        videos=DiffusersVideoEngine(settings_, cache),
        texts=TransformersTextEngine(settings_, cache),
    )


def png(size: tuple[int, int], mode: str, fill: int, half: int | None = None) -> bytes:
    """A PNG in one of the modes clients send; `half` paints the right half another value (a real mask edge)."""
    image = Image.new("L", size, fill)
    if half is not None:
        image.paste(half, (size[0] // 2, 0, size[0], size[1]))
    buffer = io.BytesIO()
    image.convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


short_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=30)
input_png = st.builds(
    png,
    size=st.tuples(st.integers(1, 96), st.integers(1, 96)) | st.sampled_from([(600, 2), (1, 300)]),
    mode=st.sampled_from(["RGB", "RGBA", "L", "LA", "P", "1", "I;16"]),
    fill=st.integers(0, 255),
    half=st.none() | st.integers(0, 255),
)
mask_png = st.builds(png, size=st.tuples(st.integers(8, 96), st.integers(8, 96)), mode=st.sampled_from(["L", "RGB", "1"]),
                     fill=st.sampled_from([0, 255]), half=st.none() | st.sampled_from([0, 255]))  # fmt: skip
seed = st.none() | st.sampled_from([0, 2**32 - 1]) | st.integers(0, 2**32 - 1)


def accepted(domain: Domain, request_type: type[BaseModel], body: dict[str, Any], inputs: list[bytes]) -> tuple[Any, dict[str, Any]] | None:
    """What the api does at submit; None where it answers 422, else the entry and params as they run."""
    try:
        request = request_type.model_validate(body)
        entry, _ = catalogue.resolve(domain, request)
        params, _ = catalogue.normalize(entry, request)
        for data in inputs:
            image_info(data, MAX_IMAGE_PIXELS)
    except (ValidationError, InvalidRequestError) as refusal:
        event(f"refused: {type(refusal).__name__}")
        return None
    event(f"accepted: {entry.name}")
    return entry, params


@st.composite
def image_requests(draw: Callable[..., Any], name: str, mode: str) -> tuple[dict[str, Any], FakeContext, list[bytes]]:
    entry = CATALOGUE[name]
    ctx = FakeContext()
    body: dict[str, Any] = {"model": name, "prompt": draw(short_text), "seed": draw(seed)}
    for field, strategy in (
        ("negative_prompt", short_text),
        ("width", st.integers(64, 128)),
        ("height", st.integers(64, 128)),
        ("steps", st.integers(1, 3)),
        ("guidance", st.floats(0, 30) | st.sampled_from([0.0, 1.0])),
        ("strength", st.floats(0.01, 1) | st.sampled_from([0.01, 0.3, 0.5, 1.0])),
        ("scheduler", st.sampled_from(entry.schedulers or ("euler",))),
    ):
        if draw(st.booleans()):
            body[field] = draw(strategy)
    inputs = []
    if mode != "txt2img":
        inputs.append(draw(input_png))
        body["image"] = ctx.put_input(inputs[-1])
    if mode == "inpaint":
        inputs.append(draw(mask_png))
        body["mask"] = ctx.put_input(inputs[-1])
    return body, ctx, inputs


@st.composite
def video_requests(draw: Callable[..., Any], name: str, mode: str) -> tuple[dict[str, Any], FakeContext, list[bytes]]:
    ctx = FakeContext()
    body: dict[str, Any] = {"model": name, "prompt": draw(short_text), "seed": draw(seed)}
    for field, strategy in (
        ("negative_prompt", short_text),
        ("width", st.integers(64, 128)),
        ("height", st.integers(64, 128)),
        ("num_frames", st.integers(1, 17)),
        ("fps", st.integers(1, 120)),
        ("steps", st.integers(1, 2)),
        ("guidance", st.floats(0, 30)),
    ):
        if draw(st.booleans()):
            body[field] = draw(strategy)
    inputs = []
    if mode == "img2img":
        inputs.append(draw(input_png))
        body["image"] = ctx.put_input(inputs[-1])
    return body, ctx, inputs


@st.composite
def text_requests(draw: Callable[..., Any], name: str) -> tuple[dict[str, Any], FakeContext, list[bytes]]:
    ctx = FakeContext()
    inputs: list[bytes] = []

    def part(role: str) -> dict[str, Any]:
        # Image parts where they are accepted: in user messages, to a vision model.
        if role == "user" and Capability.vision in CATALOGUE[name].capabilities and draw(st.booleans()):
            inputs.append(draw(input_png))
            return {"type": "image", "image": ctx.put_input(inputs[-1])}
        return {"type": "text", "text": draw(st.text(max_size=30))}

    roles = draw(st.lists(st.sampled_from(["system", "user", "assistant"]), min_size=1, max_size=3))
    messages = [
        {"role": role, "content": draw(st.text(max_size=60)) if draw(st.booleans()) else [part(role) for _ in range(draw(st.integers(1, 3)))]}
        for role in roles
    ]
    body = {
        "model": name,
        "messages": messages,
        "max_tokens": draw(st.sampled_from([1, 2, 8, 511, 512, 513]) | st.integers(1, 8)),
        "temperature": draw(st.sampled_from([0.0, 2.0]) | st.floats(0, 2)),
        "seed": draw(seed),
    }
    return body, ctx, inputs


def output_png_size(ctx: FakeContext, output: dict[str, Any]) -> tuple[int, int]:
    with Image.open(io.BytesIO(ctx.blobs[output["ref"]])) as image:
        assert image.format == "PNG"
        return image.size


@pytest.mark.parametrize(("name", "mode"), IMAGE_MODES)
def test_an_accepted_image_request_makes_an_image_of_its_size(engines: Engines, name: str, mode: str) -> None:
    @settings(PROPERTY, max_examples=5)
    @given(image_requests(name, mode))
    def check(drawn: tuple[dict[str, Any], FakeContext, list[bytes]]) -> None:
        run_image(engines, *drawn)

    check()


def run_image(engines: Engines, body: dict[str, Any], ctx: FakeContext, inputs: list[bytes]) -> None:
    if (submitted := accepted(Domain.images, ImageRequest, body, inputs)) is None:
        return
    entry, params = submitted
    [output] = engines.images.run(entry, params, ctx)
    assert output["content_type"] == "image/png"
    assert output_png_size(ctx, output) == (output["width"], output["height"]) == (params["width"], params["height"])
    assert ctx.steps[-1][0] == ctx.steps[-1][1] >= 1  # every scheduled step ran, at least one


@pytest.mark.parametrize(("name", "mode"), VIDEO_MODES)
def test_an_accepted_video_request_makes_a_video_of_its_size_and_frames(engines: Engines, name: str, mode: str) -> None:
    @settings(PROPERTY, max_examples=4)
    @given(video_requests(name, mode))
    def check(drawn: tuple[dict[str, Any], FakeContext, list[bytes]]) -> None:
        run_video(engines, *drawn)

    check()


def run_video(engines: Engines, body: dict[str, Any], ctx: FakeContext, inputs: list[bytes]) -> None:
    if (submitted := accepted(Domain.videos, VideoRequest, body, inputs)) is None:
        return
    entry, params = submitted
    [output] = engines.videos.run(entry, params, ctx)
    frames, size, _ = decode_mp4(ctx.blobs[output["ref"]])
    assert output["content_type"] == "video/mp4"
    assert (frames, size) == (params["num_frames"], (params["width"], params["height"]))


@pytest.mark.parametrize("name", TINY[Domain.texts])
def test_an_accepted_text_request_is_answered(engines: Engines, name: str) -> None:
    @settings(PROPERTY, max_examples=12)
    @given(text_requests(name))
    def check(drawn: tuple[dict[str, Any], FakeContext, list[bytes]]) -> None:
        run_text(engines, *drawn)

    check()


def run_text(engines: Engines, body: dict[str, Any], ctx: FakeContext, inputs: list[bytes]) -> None:
    if (submitted := accepted(Domain.texts, TextRequest, body, inputs)) is None:
        return
    entry, params = submitted
    [output] = engines.texts.run(entry, params, ctx)
    assert isinstance(output["text"], str)
    assert ctx.steps and 1 <= ctx.steps[-1][0] <= params["max_tokens"]  # tokens generated, within max_tokens

