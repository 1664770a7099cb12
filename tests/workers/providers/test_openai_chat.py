"""OpenAIChatEngine with the real openai SDK against the loopback fake server."""

import base64
import io
import time
from collections.abc import Callable
from typing import Any, cast

import openai
import pytest
from PIL import Image

from core.catalogue import CATALOGUE
from core.errors import ModelUnavailableError, PlatformError, TaskCancelled
from core.settings import Settings
from tests.fakes.openai_server import API_KEY, Fail, Hang, Reply, Slow, fake_openai, point_engines_at
from tests.utils.context import FakeContext
from tests.utils.tasks import data_url, png_bytes
from workers.context import TaskContext
from workers.providers.openai_chat import OpenAIChatEngine

ENTRY = CATALOGUE["gpt-4o-mini"]
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]
PARAMS: dict[str, Any] = {"messages": MESSAGES, "max_tokens": 64, "temperature": 0.2, "seed": 7}
Configure = Callable[..., OpenAIChatEngine]


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Configure:
    """Points the engine's settings at a fake; small backoff so retries take milliseconds."""

    def apply(base_url: str, **overrides: str) -> OpenAIChatEngine:
        point_engines_at(monkeypatch, base_url, **overrides)
        return OpenAIChatEngine(Settings())

    return apply


def run(engine: OpenAIChatEngine, ctx: FakeContext) -> list[dict[str, Any]]:
    return engine.run(ENTRY, PARAMS, cast(TaskContext, ctx))


def test_streams_the_answer_and_sends_key_model_and_parameters(configure: Configure) -> None:
    with fake_openai([Reply("Ultramarine blue, like a Renaissance sky.")]) as fake:
        ctx = FakeContext()
        assert run(configure(fake.base_url), ctx) == [{"text": "Ultramarine blue, like a Renaissance sky."}]
    [request] = fake.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body["model"] == "gpt-4o-mini"
    assert request.body["messages"] == MESSAGES
    assert request.body["stream"] is True
    assert (request.body["max_completion_tokens"], request.body["temperature"], request.body["seed"]) == (64, 0.2, 7)
    assert ctx.steps == [(step, 64) for step in range(1, 7)]  # one per streamed word
    assert ctx.text == "Ultramarine blue, like a Renaissance sky."  # streamed into the record as it came
    assert any("6 completion tokens" in line for line in ctx.lines)


def test_rate_limit_is_retried_after_the_providers_retry_after(configure: Configure) -> None:
    with fake_openai([Fail(429, "Rate limit reached", type="requests", retry_after="0.3"), Reply("ok")]) as fake:
        ctx = FakeContext()
        assert run(configure(fake.base_url), ctx) == [{"text": "ok"}]
    first, second = fake.requests
    assert second.received_at - first.received_at >= 0.3
    assert any("Rate limit reached" in line and "retry 1/2" in line for line in ctx.lines)


def test_a_long_retry_after_is_capped(configure: Configure) -> None:
    with fake_openai([Fail(429, "Slow down", type="requests", retry_after="3600"), Reply("ok")]) as fake:
        engine = configure(fake.base_url, DDIFFUSION_PROVIDER_MAX_BACKOFF_S="0.2")
        assert run(engine, FakeContext()) == [{"text": "ok"}]
    first, second = fake.requests
    assert second.received_at - first.received_at < 2


def test_rate_limit_gives_up_after_bounded_retries(configure: Configure) -> None:
    with fake_openai([Fail(429, "Rate limit reached for gpt-4o-mini", type="requests")]) as fake:
        with pytest.raises(PlatformError) as raised:
            run(configure(fake.base_url), FakeContext())
    assert raised.value.code == "provider_rate_limited"
    assert "Rate limit reached for gpt-4o-mini" in raised.value.message
    assert len(fake.requests) == 3  # the first try and max_retries=2


def test_exhausted_quota_is_not_retried(configure: Configure) -> None:
    with fake_openai([Fail(429, "You exceeded your current quota", type="insufficient_quota", code="insufficient_quota")]) as fake:
        with pytest.raises(PlatformError) as raised:
            run(configure(fake.base_url), FakeContext())
    assert raised.value.code == "provider_rate_limited"
    assert len(fake.requests) == 1


def test_repeated_server_errors_fail_with_the_providers_message(configure: Configure) -> None:
    with fake_openai([Fail(500, "The engine is currently overloaded")]) as fake:
        with pytest.raises(PlatformError) as raised:
            run(configure(fake.base_url), FakeContext())
    assert raised.value.code == "provider_error"
    assert "The engine is currently overloaded" in raised.value.message
    assert len(fake.requests) == 3


def test_a_server_error_then_an_answer_succeeds(configure: Configure) -> None:
    with fake_openai([Fail(503, "Service unavailable", retry_after="0"), Reply("back")]) as fake:
        assert run(configure(fake.base_url), FakeContext()) == [{"text": "back"}]
    assert len(fake.requests) == 2


def test_a_slow_provider_times_out(configure: Configure) -> None:
    with fake_openai([Slow(10)]) as fake:
        engine = configure(fake.base_url, DDIFFUSION_PROVIDER_TIMEOUT_S="0.5", DDIFFUSION_PROVIDER_MAX_RETRIES="1")
        started = time.monotonic()
        with pytest.raises(PlatformError) as raised:
            run(engine, FakeContext())
        elapsed = time.monotonic() - started
    assert raised.value.code == "provider_timeout"
    assert len(fake.requests) == 2
    assert elapsed < 5


@pytest.mark.parametrize("behaviour", [Hang(), Hang(after_first_chunk=True)], ids=["before-the-answer", "mid-stream"])
def test_a_provider_that_never_answers_fails_within_the_deadline_whatever_the_retries(configure: Configure, behaviour: Hang) -> None:
    # Each attempt alone may take 60s and there are 4 retries: only the 2s deadline can end this.
    with fake_openai([behaviour]) as fake:
        engine = configure(
            fake.base_url, DDIFFUSION_PROVIDER_DEADLINE_S="2", DDIFFUSION_PROVIDER_TIMEOUT_S="60", DDIFFUSION_PROVIDER_MAX_RETRIES="4"
        )
        started = time.monotonic()
        with pytest.raises(PlatformError) as raised:
            run(engine, FakeContext())
        elapsed = time.monotonic() - started
    assert raised.value.code == "provider_timeout"
    assert "OpenAI did not answer" in raised.value.message
    assert len(fake.requests) == 1  # no retry starts once the deadline is spent
    assert elapsed < 8


def test_a_server_error_retried_until_the_deadline_gives_up_saying_so(configure: Configure) -> None:
    with fake_openai([Fail(503, "Service unavailable", retry_after="0.6")]) as fake:
        engine = configure(fake.base_url, DDIFFUSION_PROVIDER_DEADLINE_S="1", DDIFFUSION_PROVIDER_MAX_RETRIES="10")
        with pytest.raises(PlatformError) as raised:
            run(engine, FakeContext())
    assert raised.value.code == "provider_error"
    assert "Service unavailable" in raised.value.message and "1s deadline" in raised.value.message
    assert len(fake.requests) == 2  # 0s and 0.6s; a third would start after the deadline


def test_a_bad_request_fails_at_once(configure: Configure) -> None:
    with fake_openai([Fail(400, "Invalid value for 'temperature'", type="invalid_request_error")]) as fake:
        with pytest.raises(PlatformError) as raised:
            run(configure(fake.base_url), FakeContext())
    assert raised.value.code == "provider_error"
    assert "Invalid value for 'temperature'" in raised.value.message
    assert len(fake.requests) == 1


def test_cancelling_mid_stream_stops_the_run(configure: Configure) -> None:
    with fake_openai([Reply("one two three four five six seven eight")]) as fake:
        ctx = FakeContext(cancel_after=2)
        with pytest.raises(TaskCancelled):
            run(configure(fake.base_url), ctx)
    assert ctx.steps == [(1, 64), (2, 64)]
    assert len(fake.requests) == 1


def test_cancelling_between_attempts_stops_retrying(configure: Configure) -> None:
    with fake_openai([Fail(500)]) as fake:
        with pytest.raises(TaskCancelled):
            run(configure(fake.base_url), FakeContext(cancel_checks_after=1))
    assert len(fake.requests) == 1


def test_without_an_api_key_the_model_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelUnavailableError, match="OPENAI_API_KEY"):
        run(OpenAIChatEngine(Settings()), FakeContext())


def test_the_fake_answers_without_streaming_too() -> None:
    with fake_openai([]) as fake:
        client = openai.OpenAI(api_key=API_KEY, base_url=fake.base_url, max_retries=0)
        completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]
    assert completion.choices[0].message.content == "Name a colour."
    assert completion.usage is not None and completion.usage.completion_tokens == 3


def test_image_parts_are_sent_as_data_urls_of_the_stored_image(configure: Configure) -> None:
    ctx = FakeContext()
    png = png_bytes(32, 24)
    jpeg = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 200, 10)).save(jpeg, format="JPEG")
    png_ref, jpeg_ref = ctx.put_input(png), ctx.put_input(jpeg.getvalue())
    content = [{"type": "text", "text": "What is in these?"}, {"type": "image", "image": png_ref}, {"type": "image", "image": jpeg_ref}]
    params = PARAMS | {"messages": [{"role": "user", "content": content}]}
    with fake_openai([Reply("A red square and a green one.")]) as fake:
        assert configure(fake.base_url).run(CATALOGUE["gpt-4o"], params, cast(TaskContext, ctx)) == [{"text": "A red square and a green one."}]
    [request] = fake.requests
    assert request.body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image_url", "image_url": {"url": data_url(png)}},
                {"type": "image_url", "image_url": {"url": data_url(jpeg.getvalue(), "image/jpeg")}},
            ],
        }
    ]


def test_an_image_openai_does_not_read_is_sent_as_png(configure: Configure) -> None:
    ctx = FakeContext()
    tiff = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tiff, format="TIFF")
    params = PARAMS | {"messages": [{"role": "user", "content": [{"type": "image", "image": ctx.put_input(tiff.getvalue())}]}]}
    with fake_openai([Reply("ok")]) as fake:
        configure(fake.base_url).run(CATALOGUE["gpt-4o"], params, cast(TaskContext, ctx))
    url = fake.requests[0].body["messages"][0]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2])))
    assert (sent.format, sent.size, sent.getpixel((0, 0))) == ("PNG", (8, 8), (1, 2, 3))
