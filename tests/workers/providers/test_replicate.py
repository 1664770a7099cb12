"""ReplicateEngine with the real replicate SDK against the loopback fake Replicate."""

import io
import time
from collections.abc import Callable
from typing import Any, cast

import pytest
from PIL import Image

from core import catalogue
from core.catalogue import CATALOGUE, ModelEntry
from core.errors import ModelUnavailableError, PlatformError, TaskCancelled
from core.schemas import ImageRequest, VideoRequest
from core.settings import Settings
from tests.fakes.replicate_server import FailCreate, FailPrediction, FakeReplicate, Hang, Succeed, fake_replicate
from tests.utils.context import FakeContext
from tests.utils.tasks import png_bytes
from workers.context import TaskContext
from workers.providers.replicate import ReplicateEngine

TOKEN = "r8_test_0123456789"
FLUX = CATALOGUE["replicate/black-forest-labs/flux-1.1-pro"]
KLING = CATALOGUE["replicate/kwaivgi/kling-v2.1"]
KLING_MASTER = CATALOGUE["replicate/kwaivgi/kling-v2.1-master"]
Configure = Callable[..., ReplicateEngine]


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Configure:
    """Points the engine's settings at a fake; short polls and backoffs so runs take milliseconds."""

    def apply(fake: FakeReplicate, **overrides: str) -> ReplicateEngine:
        env = {
            "REPLICATE_API_TOKEN": TOKEN,
            "DDIFFUSION_REPLICATE_BASE_URL": fake.base_url,
            "DDIFFUSION_PROVIDER_REPLICATE_POLL_S": "0.01",
            "DDIFFUSION_PROVIDER_TIMEOUT_S": "5",
            "DDIFFUSION_PROVIDER_MAX_RETRIES": "2",
            "DDIFFUSION_PROVIDER_BACKOFF_S": "0.01",
            "DDIFFUSION_PROVIDER_MAX_BACKOFF_S": "1",
            **overrides,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return ReplicateEngine(Settings())

    return apply


def image_params(width: int = 320, height: int = 256) -> dict[str, Any]:
    params, _ = catalogue.normalize(FLUX, ImageRequest(model=FLUX.name, prompt="a lighthouse at dusk", width=width, height=height, seed=7))
    return params


def video_params(entry: ModelEntry, ctx: FakeContext, image: bytes | None = None, **fields: Any) -> dict[str, Any]:
    ref = ctx.put_input(image) if image is not None else None
    params, _ = catalogue.normalize(entry, VideoRequest(model=entry.name, prompt="waves roll in", image=ref, **fields))
    return params


def run(engine: ReplicateEngine, ctx: FakeContext, entry: ModelEntry = FLUX, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return engine.run(entry, params if params is not None else image_params(), cast(TaskContext, ctx))


def creates(fake: FakeReplicate) -> list[dict[str, Any]]:
    return [request.body for request in fake.requests if request.method == "POST" and request.path.endswith("/predictions")]


def test_an_image_prediction_is_followed_and_its_png_kept(configure: Configure) -> None:
    with fake_replicate([Succeed(polls=3)], token=TOKEN) as fake:
        ctx = FakeContext()
        [output] = run(configure(fake), ctx)
    [created] = [request for request in fake.requests if request.path == "/v1/models/black-forest-labs/flux-1.1-pro/predictions"]
    assert created.headers["authorization"] == f"Bearer {TOKEN}"
    assert created.body["input"] == {
        "prompt": "a lighthouse at dusk",
        "aspect_ratio": "custom",
        "width": 320,
        "height": 256,
        "seed": 7,
        "output_format": "png",
    }
    assert (output["content_type"], output["width"], output["height"], output["seed"]) == ("image/png", 320, 256, 7)
    with Image.open(io.BytesIO(ctx.blobs[output["ref"]])) as image:
        assert (image.format, image.size) == ("PNG", (320, 256))
    # Each log line of the growing log is copied once, and the tqdm bars become progress.
    copied = [line for line in ctx.lines if line.startswith("replicate: step")]
    assert copied == [f"replicate: step {n} of the fake model" for n in (1, 2, 3)]
    assert ctx.steps == [(1, 3), (2, 3), (3, 3)]
    assert fake.cancelled() == []


def test_a_list_of_outputs_is_kept_too(configure: Configure) -> None:
    with fake_replicate([Succeed(polls=1, as_list=True)], token=TOKEN) as fake:
        ctx = FakeContext()
        [output] = run(configure(fake), ctx, params=image_params(256, 512))
    assert (output["width"], output["height"]) == (256, 512)


def test_rate_limit_is_retried_after_the_providers_retry_after(configure: Configure) -> None:
    with fake_replicate([FailCreate(429, "Request was throttled.", retry_after="0.3"), Succeed(polls=1)], token=TOKEN) as fake:
        ctx = FakeContext()
        [output] = run(configure(fake), ctx)
    first, second = [request for request in fake.requests if request.path.endswith("/predictions")]
    assert second.received_at - first.received_at >= 0.3
    assert any("Request was throttled." in line and "retry 1/2" in line for line in ctx.lines)
    assert output["content_type"] == "image/png"


def test_rate_limit_gives_up_after_bounded_retries(configure: Configure) -> None:
    with fake_replicate([FailCreate(429, "Request was throttled.", retry_after="0")], token=TOKEN) as fake:
        with pytest.raises(PlatformError) as raised:
            run(configure(fake), FakeContext())
    assert raised.value.code == "provider_rate_limited"
    assert len(creates(fake)) == 3  # the first try and max_retries=2


def test_repeated_server_errors_fail_with_the_providers_message(configure: Configure) -> None:
    with fake_replicate([FailCreate(500, "The model is overloaded")], token=TOKEN) as fake:
        with pytest.raises(PlatformError) as raised:
            run(configure(fake), FakeContext())
    assert raised.value.code == "provider_error"
    assert "The model is overloaded" in raised.value.message
    assert len(creates(fake)) == 3


def test_a_refused_input_fails_at_once_with_replicates_reason(configure: Configure) -> None:
    with fake_replicate([], token=TOKEN) as fake:
        ctx = FakeContext()
        # kling-v2.1 requires a start image; normalize refuses this at submit, the engine is driven past it here.
        with pytest.raises(PlatformError) as raised:
            run(configure(fake), ctx, KLING, {"prompt": "waves", "seed": 1})
    assert raised.value.code == "provider_error"
    assert "start_image" in raised.value.message
    assert len(creates(fake)) == 1


def test_a_wrong_token_says_which_setting_to_fix(configure: Configure) -> None:
    with fake_replicate([], token="r8_another") as fake:
        with pytest.raises(PlatformError, match="REPLICATE_API_TOKEN") as raised:
            run(configure(fake), FakeContext())
    assert raised.value.code == "provider_error"
    assert len(fake.requests) == 1


def test_a_failed_prediction_fails_with_its_error(configure: Configure) -> None:
    with fake_replicate([FailPrediction("CUDA out of memory", polls=2)], token=TOKEN) as fake:
        ctx = FakeContext()
        with pytest.raises(PlatformError) as raised:
            run(configure(fake), ctx)
    assert raised.value.code == "provider_error"
    assert "CUDA out of memory" in raised.value.message
    assert "replicate: step 2 of the fake model" in ctx.lines
    assert fake.cancelled() == []


def test_the_deadline_cancels_the_prediction_at_replicate(configure: Configure) -> None:
    with fake_replicate([Hang()], token=TOKEN) as fake:
        engine = configure(fake, DDIFFUSION_PROVIDER_REPLICATE_DEADLINE_S="0.3")
        with pytest.raises(PlatformError) as raised:
            run(engine, FakeContext())
    assert raised.value.code == "provider_timeout"
    [prediction] = fake.predictions.values()
    assert fake.cancelled() == [prediction.id]
    assert prediction.status == "canceled"


@pytest.mark.parametrize("stuck", ["create", "poll", "download"])
def test_a_replicate_that_never_answers_fails_within_the_deadline_whatever_the_retries(configure: Configure, stuck: str) -> None:
    # Each attempt alone may take 60s and there are 4 retries: only the 2s deadline can end this.
    with fake_replicate([Succeed(polls=1)], token=TOKEN) as fake:
        fake.hang_on = frozenset({stuck})
        engine = configure(
            fake, DDIFFUSION_PROVIDER_DEADLINE_S="2", DDIFFUSION_PROVIDER_TIMEOUT_S="60", DDIFFUSION_PROVIDER_MAX_RETRIES="4"
        )
        started = time.monotonic()
        ctx = FakeContext()
        with pytest.raises(PlatformError) as raised:
            run(engine, ctx)
        elapsed = time.monotonic() - started
    assert raised.value.code == "provider_timeout"
    assert "did not answer" in raised.value.message or "timed out" in raised.value.message
    assert elapsed < 8 and ctx.saved == []
    if stuck == "poll":  # a prediction we stopped following does not run on at our cost
        [prediction] = fake.predictions.values()
        assert fake.cancelled() == [prediction.id]


def test_cancelling_mid_prediction_cancels_it_at_replicate(configure: Configure) -> None:
    with fake_replicate([Hang()], token=TOKEN) as fake:
        ctx = FakeContext(cancel_checks_after=6)
        with pytest.raises(TaskCancelled):
            run(configure(fake), ctx)
    [prediction] = fake.predictions.values()
    assert prediction.polls >= 1
    assert fake.cancelled() == [prediction.id]
    assert prediction.status == "canceled"
    assert f"cancelled Replicate prediction {prediction.id}" in ctx.lines


def test_image_to_video_uploads_the_start_frame_and_keeps_the_mp4(configure: Configure) -> None:
    start = png_bytes(96, 64)
    with fake_replicate([], token=TOKEN) as fake:
        ctx = FakeContext()
        params = video_params(KLING, ctx, start, num_frames=240, negative_prompt="blur")
        [output] = run(configure(fake), ctx, KLING, params)
    [upload] = [request.body for request in fake.requests if request.path == "/v1/files"]
    assert (upload["content_type"], upload["size"]) == ("image/png", len(start))
    [file_id] = fake.uploads
    assert fake.uploads[file_id][1] == start
    [created] = creates(fake)
    assert created["input"] == {
        "prompt": "waves roll in",
        "negative_prompt": "blur",
        "duration": 10,
        "start_image": f"{fake.base_url}/v1/files/{file_id}/download",
    }
    assert fake.deleted_uploads == [file_id]  # the studio's frame does not stay at Replicate
    assert output["content_type"] == "video/mp4"
    assert ctx.blobs[output["ref"]] == fake.video and fake.video[4:8] == b"ftyp"


def test_text_to_video_sends_the_nearest_aspect_ratio(configure: Configure) -> None:
    with fake_replicate([], token=TOKEN) as fake:
        ctx = FakeContext()
        [output] = run(configure(fake), ctx, KLING_MASTER, video_params(KLING_MASTER, ctx, width=720, height=1280))
    [created] = creates(fake)
    assert created["input"] == {"prompt": "waves roll in", "duration": 5, "aspect_ratio": "9:16"}
    assert output["content_type"] == "video/mp4"


def test_without_a_token_the_model_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    with pytest.raises(ModelUnavailableError, match="REPLICATE_API_TOKEN"):
        run(ReplicateEngine(Settings()), FakeContext())
