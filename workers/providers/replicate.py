"""Replicate engine: runs a model's prediction on Replicate, follows it, and keeps its outputs.

The prediction is created through the official SDK, then polled until it ends or the deadline
passes; its new log lines go to the task log and tqdm-style progress to the task's progress. A
prediction we stop following (cancel, deadline, error) is cancelled at Replicate, so nothing is
left running at our cost. Outputs are downloaded into the blob store: clients get our signed
URLs, never Replicate's expiring ones.
"""

import io
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import replicate
from PIL import Image, UnidentifiedImageError
from replicate.exceptions import ReplicateError
from replicate.file import File
from replicate.prediction import Prediction

from core.catalogue import ModelEntry
from core.errors import ModelUnavailableError, PlatformError
from core.schemas import Domain
from core.settings import Settings
from workers.context import TaskContext
from workers.providers.common import call_provider
from workers.retry import Retryable, pause, retry_after_s

T = TypeVar("T")

TERMINAL = frozenset({"succeeded", "failed", "canceled"})
MAX_OUTPUT_BYTES = 512 * 1024 * 1024
# Kling's only durations, at its fixed frame rate.
KLING_FPS = 24
KLING_DURATIONS_S = (5, 10)
KLING_ASPECT_RATIOS = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}
# Clean-up calls (cancel a prediction, delete an upload) run after a failure, maybe a hung
# Replicate: they get this long, not a whole provider timeout.
CLEANUP_TIMEOUT_S = 10.0

# The SDK takes no per-call timeout, so `_cap_timeout` gives each of its requests the time the
# current attempt may still take, set here around the call.
_request_timeout_s: ContextVar[float | None] = ContextVar("replicate_request_timeout_s", default=None)


@dataclass
class ReplicateHTTPError(Exception):
    """An error answer from Replicate's API, with the Retry-After that the SDK's own error drops."""

    status: int
    detail: str
    retry_after_s: float | None


def _cap_timeout(request: httpx.Request) -> None:
    """httpx request hook on the SDK's client, run before the request is sent."""
    if (timeout_s := _request_timeout_s.get()) is not None:
        request.extensions["timeout"] = httpx.Timeout(timeout_s).as_dict()


def _raise_for_status(response: httpx.Response) -> None:
    """httpx response hook on the SDK's client, run before the SDK reads the answer."""
    if response.is_error:
        response.read()
        error = ReplicateError.from_response(response)
        raise ReplicateHTTPError(response.status_code, error.detail or error.title or response.text[:300], retry_after_s(response.headers))


class ReplicateEngine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        timeout = httpx.Timeout(self.settings.provider_timeout_s)
        self._client: replicate.Client | None = None
        if self.settings.replicate_api_token is not None:
            self._client = replicate.Client(
                api_token=self.settings.replicate_api_token.get_secret_value(),
                base_url=self.settings.replicate_base_url,
                timeout=timeout,
                event_hooks={"request": [_cap_timeout], "response": [_raise_for_status]},
            )
        # Output URLs are public delivery links: fetched without our token.
        self._downloads = httpx.Client(timeout=timeout, follow_redirects=True)

    def run(self, entry: ModelEntry, params: dict[str, Any], ctx: TaskContext) -> list[dict[str, Any]]:
        if self._client is None:
            raise ModelUnavailableError(f"{entry.name} needs Replicate, which is not configured on this worker: set REPLICATE_API_TOKEN.")
        client = self._client
        deadline = time.monotonic() + self.settings.provider_replicate_deadline_s
        uploads: list[File] = []
        try:
            inputs = self._inputs(client, entry, params, ctx, uploads)
            prediction = self._call(
                ctx,
                lambda: client.models.predictions.create(model=entry.pipeline, input=inputs),
                "creating the prediction",
                resend_safe=False,
            )
            ctx.log(f"Replicate prediction {prediction.id} created for {entry.pipeline}")
            prediction = self._follow(client, prediction, ctx, deadline)
        finally:
            self._delete_uploads(client, uploads, ctx)
        if prediction.status == "failed":
            raise PlatformError(
                f"Replicate prediction {prediction.id} failed: {prediction.error or 'no reason given'}", code="provider_error"
            )
        if prediction.status == "canceled":
            raise PlatformError(
                f"Replicate prediction {prediction.id} was cancelled at Replicate, not by this platform.", code="provider_error"
            )
        if (predict_time := (prediction.metrics or {}).get("predict_time")) is not None:
            ctx.log(f"Replicate predict time: {predict_time:.2f}s")
            ctx.count("units:predict_seconds", predict_time)
        return [self._save(url, ctx, params) for url in _output_urls(prediction)]

    def _inputs(
        self, client: replicate.Client, entry: ModelEntry, params: dict[str, Any], ctx: TaskContext, uploads: list[File]
    ) -> dict[str, Any]:
        if entry.domain == Domain.images:
            # black-forest-labs/flux-1.1-pro's input schema; `custom` makes it use width and height.
            return {
                "prompt": params["prompt"],
                "aspect_ratio": "custom",
                "width": params["width"],
                "height": params["height"],
                "seed": params["seed"],
                "output_format": "png",
            }
        # kwaivgi/kling-v2.1(-master)'s input schema.
        inputs: dict[str, Any] = {"prompt": params["prompt"], "duration": _kling_duration(params, ctx)}
        if params.get("negative_prompt"):
            inputs["negative_prompt"] = params["negative_prompt"]
        if "image" in params:
            upload = self._upload(client, ctx.read_input(params["image"]), ctx)
            uploads.append(upload)
            inputs["start_image"] = upload.urls["get"]
        elif "width" in params and "height" in params:
            inputs["aspect_ratio"] = _nearest_aspect_ratio(params["width"], params["height"])
        return inputs

    def _upload(self, client: replicate.Client, data: bytes, ctx: TaskContext) -> File:
        """Upload an input through Replicate's files API: data URLs suit files under 1 MB only."""
        try:
            with Image.open(io.BytesIO(data)) as image:
                content_type = Image.MIME.get(image.format or "", "application/octet-stream")
        except UnidentifiedImageError as exc:
            raise PlatformError("The input `image` is not a readable image; send a PNG, JPEG or WebP.", code="invalid_input") from exc
        name = "start" + {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}.get(content_type, "")
        upload = self._call(
            ctx, lambda: client.files.create(io.BytesIO(data), filename=name, content_type=content_type), "uploading the input image"
        )
        ctx.log(f"uploaded the start image to Replicate ({len(data)} bytes)")
        return upload

    def _delete_uploads(self, client: replicate.Client, uploads: list[File], ctx: TaskContext) -> None:
        """Inputs are the studio's: remove them from Replicate once the prediction is done with them."""
        for upload in uploads:
            try:
                _with_timeout(CLEANUP_TIMEOUT_S, lambda file_id=upload.id: client.files.delete(file_id))
            except (ReplicateHTTPError, httpx.HTTPError) as exc:
                ctx.log(f"could not delete the uploaded input {upload.id} at Replicate ({_reason(exc)}); delete it in Replicate's files API")

    def _follow(self, client: replicate.Client, prediction: Prediction, ctx: TaskContext, deadline: float) -> Prediction:
        """Poll until the prediction ends, copying new logs and progress; cancels it at Replicate
        when we stop following early, whatever the reason."""
        prediction_id = prediction.id
        copied = 0
        try:
            while True:
                finished = prediction.status in TERMINAL
                copied = _copy_new_logs(prediction.logs or "", copied, finished, ctx)
                if (progress := prediction.progress) is not None:
                    ctx.progress(progress.current, progress.total)
                if finished:
                    return prediction
                if time.monotonic() >= deadline:
                    raise PlatformError(
                        f"Replicate prediction {prediction_id} did not finish within {self.settings.provider_replicate_deadline_s:g}s; "
                        "it is cancelled. Raise DDIFFUSION_PROVIDER_REPLICATE_DEADLINE_S (and the cpu time limit) for longer runs.",
                        code="provider_timeout",
                    )
                pause(min(self.settings.provider_replicate_poll_s, max(0.0, deadline - time.monotonic())), ctx.check_cancelled)
                prediction = self._call(ctx, lambda: client.predictions.get(prediction_id), "polling the prediction")
        except BaseException:
            self._cancel(client, prediction_id, ctx)
            raise

    def _cancel(self, client: replicate.Client, prediction_id: str, ctx: TaskContext) -> None:
        try:
            _with_timeout(CLEANUP_TIMEOUT_S, lambda: client.predictions.cancel(prediction_id))
            ctx.log(f"cancelled Replicate prediction {prediction_id}")
        except (ReplicateHTTPError, httpx.HTTPError) as exc:
            ctx.log(
                f"could not cancel Replicate prediction {prediction_id} ({_reason(exc)}); cancel it at https://replicate.com/p/{prediction_id}"
            )

    def _call(self, ctx: TaskContext, call: Callable[[], T], action: str, *, resend_safe: bool = True) -> T:
        """One SDK call with our retries. A request that may have reached Replicate is resent only
        when `resend_safe`: a second create could start a second, paid prediction."""

        def attempt(timeout_s: float) -> T:
            try:
                return _with_timeout(timeout_s, call)
            except ReplicateHTTPError as exc:
                if exc.status == 429:
                    raise Retryable(
                        PlatformError(f"Replicate rate limit while {action}: {exc.detail}", code="provider_rate_limited"), exc.retry_after_s
                    ) from exc
                if exc.status >= 500:
                    raise Retryable(
                        PlatformError(f"Replicate failed while {action} (HTTP {exc.status}): {exc.detail}", code="provider_error"),
                        exc.retry_after_s,
                    ) from exc
                if exc.status == 401:
                    raise PlatformError(
                        "Replicate refused the API token (HTTP 401); check REPLICATE_API_TOKEN on the cpu workers.", code="provider_error"
                    ) from exc
                raise PlatformError(f"Replicate refused {action} (HTTP {exc.status}): {exc.detail}", code="provider_error") from exc
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise Retryable(PlatformError(f"Could not reach Replicate while {action}.", code="provider_error")) from exc
            except httpx.TimeoutException as exc:
                error = PlatformError(f"Replicate did not answer within {timeout_s:.3g}s while {action}", code="provider_timeout")
                raise (Retryable(error) if resend_safe else error) from exc
            except httpx.TransportError as exc:
                error = PlatformError(f"The connection to Replicate broke while {action}.", code="provider_error")
                raise (Retryable(error) if resend_safe else error) from exc

        return call_provider(self.settings, ctx, attempt)

    def _save(self, url: str, ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        data = call_provider(self.settings, ctx, lambda timeout_s: self._download(url, timeout_s))
        if data[4:8] == b"ftyp":
            return ctx.save_output(data, "video/mp4")
        try:
            with Image.open(io.BytesIO(data)) as image:
                content_type, width, height = Image.MIME.get(image.format or "", ""), image.width, image.height
        except UnidentifiedImageError as exc:
            raise PlatformError(
                f"Replicate returned an output that is neither an image nor an MP4 video: {url}", code="provider_error"
            ) from exc
        return ctx.save_output(data, content_type or "application/octet-stream", width=width, height=height, seed=params.get("seed"))

    def _download(self, url: str, timeout_s: float) -> bytes:
        """One attempt at fetching an output, refusing anything above MAX_OUTPUT_BYTES."""
        limit_mb = MAX_OUTPUT_BYTES // 2**20
        try:
            with self._downloads.stream("GET", url, timeout=timeout_s) as response:
                if response.status_code == 429 or response.status_code >= 500:
                    error = PlatformError(
                        f"Downloading the Replicate output failed (HTTP {response.status_code}): {url}", code="provider_error"
                    )
                    raise Retryable(error, retry_after_s(response.headers))
                if response.is_error:
                    raise PlatformError(
                        f"Could not download the Replicate output (HTTP {response.status_code}): {url}", code="provider_error"
                    )
                if int(response.headers.get("content-length") or 0) > MAX_OUTPUT_BYTES:
                    raise PlatformError(f"The Replicate output is larger than {limit_mb} MB: {url}", code="provider_error")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_OUTPUT_BYTES:
                        raise PlatformError(f"The Replicate output is larger than {limit_mb} MB: {url}", code="provider_error")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TimeoutException as exc:
            raise Retryable(
                PlatformError(f"Downloading the Replicate output timed out after {timeout_s:.3g}s: {url}", code="provider_timeout")
            ) from exc
        except httpx.TransportError as exc:
            raise Retryable(PlatformError(f"Downloading the Replicate output failed ({_reason(exc)}): {url}", code="provider_error")) from exc


def _with_timeout(timeout_s: float, call: Callable[[], T]) -> T:
    """Run an SDK call whose every request gets at most `timeout_s`."""
    token = _request_timeout_s.set(timeout_s)
    try:
        return call()
    finally:
        _request_timeout_s.reset(token)


def _reason(exc: Exception) -> str:
    """What went wrong, in words rather than an exception's text."""
    if isinstance(exc, ReplicateHTTPError):
        return f"HTTP {exc.status}: {exc.detail}"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    return "the connection broke"


def _copy_new_logs(logs: str, copied: int, finished: bool, ctx: TaskContext) -> int:
    """Copy the log's new complete lines (all of it once finished) to the task log; returns how
    many characters are copied by now."""
    end = len(logs) if finished else logs.rfind("\n") + 1
    for line in logs[copied:end].splitlines():
        if line.strip():
            ctx.log(f"replicate: {line.rstrip()}")
    return max(copied, end)


def _kling_duration(params: dict[str, Any], ctx: TaskContext) -> int:
    """The shortest Kling duration that holds the asked frames (5 s unless num_frames says more)."""
    asked_s = params.get("num_frames", KLING_FPS * KLING_DURATIONS_S[0]) / KLING_FPS
    duration = next((d for d in KLING_DURATIONS_S if d >= asked_s), KLING_DURATIONS_S[-1])
    ctx.log(f"Kling makes {' or '.join(map(str, KLING_DURATIONS_S))} s clips at {KLING_FPS} fps: {duration} s for {asked_s:g} s asked")
    return duration


def _nearest_aspect_ratio(width: int, height: int) -> str:
    ratio = width / height
    return min(KLING_ASPECT_RATIOS, key=lambda name: abs(KLING_ASPECT_RATIOS[name] - ratio))


def _output_urls(prediction: Prediction) -> list[str]:
    """A model's output is one file URL or a list of them."""
    output = prediction.output
    urls = [output] if isinstance(output, str) else output if isinstance(output, list) else None
    if not urls or not all(isinstance(url, str) for url in urls):
        raise PlatformError(
            f"Replicate prediction {prediction.id} succeeded without file URLs to fetch (output: {str(output)[:200]}).",
            code="provider_error",
        )
    return urls
