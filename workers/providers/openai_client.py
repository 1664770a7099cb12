"""What the OpenAI engines (chat, images) share: the client, error mapping and image encoding."""

import io
from collections.abc import Iterator
from contextlib import contextmanager

import openai
from PIL import Image

from core.catalogue import ModelEntry
from core.errors import ModelUnavailableError, PlatformError
from core.settings import Settings
from workers.retry import Retryable, retry_after_s

# Image formats OpenAI reads as-is; anything else (TIFF, EXR, …) is sent as PNG.
ACCEPTED_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


def make_client(settings: Settings) -> openai.OpenAI | None:
    """The SDK client, or None without an API key. SDK retries are off: `call_provider` owns them,
    and each call passes its own timeout, capped by the deadline."""
    if settings.openai_api_key is None:
        return None
    return openai.OpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url,
        timeout=settings.provider_timeout_s,
        max_retries=0,
    )


def configured(client: openai.OpenAI | None, entry: ModelEntry) -> openai.OpenAI:
    """The client, or the task fails saying which variable to set."""
    if client is None:
        raise ModelUnavailableError(f"{entry.name} needs OpenAI, which is not configured on this worker: set OPENAI_API_KEY.")
    return client


@contextmanager
def mapped_errors(client: openai.OpenAI, timeout_s: float) -> Iterator[None]:
    """Turns the SDK's errors into ours: transient ones Retryable, the rest final."""
    try:
        yield
    except openai.APITimeoutError as exc:
        raise Retryable(PlatformError(f"OpenAI did not answer within {timeout_s:.3g}s", code="provider_timeout")) from exc
    except openai.APIConnectionError as exc:
        raise Retryable(PlatformError(f"Could not reach OpenAI at {client.base_url}: {exc.message}", code="provider_error")) from exc
    except openai.RateLimitError as exc:
        error = PlatformError(f"OpenAI rate limit: {exc.message}", code="provider_rate_limited")
        if exc.code == "insufficient_quota":
            raise error from exc  # the account is out of credit: waiting will not help
        raise Retryable(error, retry_after_s(exc.response.headers)) from exc
    except openai.InternalServerError as exc:
        error = PlatformError(f"OpenAI failed: {exc.message}", code="provider_error")
        raise Retryable(error, retry_after_s(exc.response.headers)) from exc
    except openai.APIError as exc:
        # Other 4xx and errors sent inside a stream: the request itself is wrong.
        raise PlatformError(f"OpenAI refused the request: {exc.message}", code="provider_error") from exc


def provider_image(data: bytes) -> tuple[bytes, str]:
    """An input image as OpenAI takes it: (bytes, content type), converted to PNG when needed."""
    with Image.open(io.BytesIO(data)) as image:
        if image.format in ACCEPTED_FORMATS:
            return data, ACCEPTED_FORMATS[image.format]
        # Modes PNG cannot hold (float, CMYK) go to 8-bit RGB(A), which is what OpenAI reads anyway.
        return png_bytes(image.convert("RGBA" if "A" in image.getbands() else "RGB")), "image/png"


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
