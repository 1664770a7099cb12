"""OpenAIImageEngine with the real openai SDK against the loopback fake server."""

import io
import time
from collections.abc import Callable
from typing import Any, cast

import pytest
from PIL import Image

from core.catalogue import CATALOGUE
from core.errors import ModelUnavailableError, PlatformError
from core.settings import Settings
from tests.fakes.openai_server import API_KEY, Fail, Hang, Reply, Slow, fake_openai, point_engines_at
from tests.utils.context import FakeContext
from tests.utils.tasks import png_bytes
from workers.context import TaskContext
from workers.providers.openai_images import OpenAIImageEngine

ENTRY = CATALOGUE["gpt-image-1"]
PARAMS: dict[str, Any] = {"prompt": "a lighthouse at dusk", "width": 1536, "height": 1024, "seed": 11}
Configure = Callable[..., OpenAIImageEngine]


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Configure:
    def apply(base_url: str, **overrides: str) -> OpenAIImageEngine:
        point_engines_at(monkeypatch, base_url, **overrides)
        return OpenAIImageEngine(Settings())

    return apply


def run(engine: OpenAIImageEngine, ctx: FakeContext, params: dict[str, Any] = PARAMS) -> list[dict[str, Any]]:
    return engine.run(ENTRY, params, cast(TaskContext, ctx))


def test_generate_stores_a_png_of_the_asked_size(configure: Configure) -> None:
    with fake_openai() as fake:
        ctx = FakeContext()
        [output] = run(configure(fake.base_url), ctx)
    [request] = fake.requests
    assert request.path == "/v1/images/generations"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body == {"model": "gpt-image-1", "prompt": "a lighthouse at dusk", "size": "1536x1024", "n": 1, "output_format": "png"}
    assert (output["content_type"], output["width"], output["height"], output["seed"]) == ("image/png", 1536, 1024, 11)
    image = Image.open(io.BytesIO(ctx.blobs[output["ref"]]))
    assert (image.format, image.size) == ("PNG", (1536, 1024))
    assert ctx.steps == [(1, 1)]
    assert any("1056 output tokens" in line for line in ctx.lines)


def test_edit_with_a_mask_uploads_the_image_and_an_alpha_mask_of_its_size(configure: Configure) -> None:
    ctx = FakeContext()
    mask = Image.new("L", (32, 32), 0)
    mask.paste(255, (0, 0, 16, 32))  # repaint the left half
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    params = PARAMS | {"width": 1024, "height": 1024, "image": ctx.put_input(png_bytes(64, 64)), "mask": ctx.put_input(buffer.getvalue())}
    with fake_openai() as fake:
        [output] = run(configure(fake.base_url), ctx, params)
    [request] = fake.requests
    assert request.path == "/v1/images/edits"
    assert (request.body["model"], request.body["prompt"], request.body["size"]) == ("gpt-image-1", "a lighthouse at dusk", "1024x1024")
    image, sent_mask = request.files["image"], request.files["mask"]
    assert (image.filename, image.content_type, image.data) == ("image.png", "image/png", png_bytes(64, 64))
    # OpenAI paints where the mask is transparent: our white (repaint) becomes alpha 0.
    alpha = Image.open(io.BytesIO(sent_mask.data)).getchannel("A")
    assert (sent_mask.content_type, alpha.size) == ("image/png", (64, 64))
    assert (alpha.getpixel((5, 30)), alpha.getpixel((60, 30))) == (0, 255)
    assert Image.open(io.BytesIO(ctx.blobs[output["ref"]])).size == (1024, 1024)


def test_edit_without_a_mask_sends_the_image_only(configure: Configure) -> None:
    ctx = FakeContext()
    params = PARAMS | {"image": ctx.put_input(png_bytes(40, 30))}
    with fake_openai() as fake:
        run(configure(fake.base_url), ctx, params)
    [request] = fake.requests
    assert request.path == "/v1/images/edits"
    assert set(request.files) == {"image"}


def test_rate_limit_then_success(configure: Configure) -> None:
    with fake_openai([Fail(429, "Rate limit reached for images", type="requests", retry_after="0"), Reply()]) as fake:
        ctx = FakeContext()
        [output] = run(configure(fake.base_url), ctx)
    assert len(fake.requests) == 2
    assert (output["width"], output["height"]) == (1536, 1024)
    assert any("Rate limit reached for images" in line and "retry 1/2" in line for line in ctx.lines)


def test_repeated_server_errors_fail_with_the_providers_message(configure: Configure) -> None:
    with fake_openai([Fail(502, "Bad gateway upstream")]) as fake:
        ctx = FakeContext()
        with pytest.raises(PlatformError) as raised:
            run(configure(fake.base_url), ctx)
    assert raised.value.code == "provider_error"
    assert "Bad gateway upstream" in raised.value.message
    assert len(fake.requests) == 3  # the first try and max_retries=2
    assert ctx.saved == []


def test_a_slow_provider_times_out(configure: Configure) -> None:
    with fake_openai([Slow(10)]) as fake:
        engine = configure(fake.base_url, DDIFFUSION_PROVIDER_TIMEOUT_S="0.5", DDIFFUSION_PROVIDER_MAX_RETRIES="1")
        with pytest.raises(PlatformError) as raised:
            run(engine, FakeContext())
    assert raised.value.code == "provider_timeout"
    assert len(fake.requests) == 2


def test_a_provider_that_never_answers_fails_within_the_deadline_whatever_the_retries(configure: Configure) -> None:
    with fake_openai([Hang()]) as fake:
        engine = configure(
            fake.base_url, DDIFFUSION_PROVIDER_DEADLINE_S="2", DDIFFUSION_PROVIDER_TIMEOUT_S="60", DDIFFUSION_PROVIDER_MAX_RETRIES="4"
        )
        started = time.monotonic()
        ctx = FakeContext()
        with pytest.raises(PlatformError) as raised:
            run(engine, ctx)
        elapsed = time.monotonic() - started
    assert raised.value.code == "provider_timeout"
    assert len(fake.requests) == 1 and ctx.saved == []
    assert elapsed < 8


def test_a_refused_prompt_fails_at_once(configure: Configure) -> None:
    with fake_openai([Fail(400, "Your request was rejected by the safety system", type="image_generation_user_error")]) as fake:
        with pytest.raises(PlatformError) as raised:
            run(configure(fake.base_url), FakeContext())
    assert "rejected by the safety system" in raised.value.message
    assert len(fake.requests) == 1


def test_without_an_api_key_the_model_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelUnavailableError, match="OPENAI_API_KEY"):
        run(OpenAIImageEngine(Settings()), FakeContext())
