"""OpenAI image engine: gpt-image-1 generates from a prompt, or edits `image` (inside `mask`)."""

import base64
import binascii
import io
from collections.abc import Callable
from typing import Any

import openai
from openai.types import ImagesResponse
from PIL import Image, ImageOps, UnidentifiedImageError

from core.catalogue import ModelEntry
from core.errors import PlatformError
from core.settings import Settings
from workers.context import TaskContext
from workers.providers.common import call_provider
from workers.providers.openai_client import configured, make_client, mapped_errors, png_bytes, provider_image

# The SDK's file tuple: (file name, bytes, content type).
Upload = tuple[str, bytes, str]
_EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


class OpenAIImageEngine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client = make_client(self.settings)

    def run(self, entry: ModelEntry, params: dict[str, Any], ctx: TaskContext) -> list[dict[str, Any]]:
        client = configured(self._client, entry)
        options: dict[str, Any] = {
            "model": entry.pipeline,
            "prompt": params["prompt"],
            "size": f"{params['width']}x{params['height']}",
            "n": 1,
            "output_format": "png",
        }
        if "image" in params:
            options |= _edit_inputs(params, ctx)
            send: Callable[..., ImagesResponse] = client.images.edit
        else:
            send = client.images.generate
        response = call_provider(self.settings, ctx, lambda timeout_s: _attempt(client, send, options, timeout_s))
        if response.usage is not None:
            ctx.log(f"OpenAI usage: {response.usage.input_tokens} input + {response.usage.output_tokens} output tokens")
            ctx.count("units:input_tokens", response.usage.input_tokens)
            ctx.count("units:output_tokens", response.usage.output_tokens)
        ctx.count("units:images", 1)
        png, width, height = _decoded_png(response)
        # The last place a cancel lands: the provider has answered, nothing is stored yet.
        ctx.progress(1, 1)
        return [ctx.save_output(png, "image/png", width=width, height=height, seed=params["seed"])]


def _attempt(client: openai.OpenAI, send: Callable[..., ImagesResponse], options: dict[str, Any], timeout_s: float) -> ImagesResponse:
    with mapped_errors(client, timeout_s):
        return send(**options, timeout=timeout_s)


def _edit_inputs(params: dict[str, Any], ctx: TaskContext) -> dict[str, Upload]:
    """The image to edit and, when given, the mask, as uploads; read and converted once, not per attempt."""
    data, content_type = provider_image(ctx.read_input(params["image"]))
    image: Upload = ("image" + _EXTENSIONS[content_type], data, content_type)
    if "mask" not in params:
        ctx.log("editing the whole image")
        return {"image": image}
    with Image.open(io.BytesIO(data)) as opened:
        mask: Upload = ("mask.png", _alpha_mask(ctx.read_input(params["mask"]), opened.size), "image/png")
    ctx.log("editing the image where the mask is white")
    return {"image": image, "mask": mask}


def _alpha_mask(data: bytes, size: tuple[int, int]) -> bytes:
    """Our mask (white repainted, black kept) as OpenAI's: transparent where it may paint, the
    size of the image it masks."""
    with Image.open(io.BytesIO(data)) as opened:
        luminance = opened.convert("L").resize(size)
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.putalpha(ImageOps.invert(luminance))
    return png_bytes(mask)


def _decoded_png(response: ImagesResponse) -> tuple[bytes, int, int]:
    """The answer's image as PNG bytes with its size, checked by opening it."""
    encoded = response.data[0].b64_json if response.data else None
    if not encoded:
        raise PlatformError("OpenAI answered without an image.", code="provider_error")
    try:
        data = base64.b64decode(encoded, validate=True)
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            return (data if image.format == "PNG" else png_bytes(image)), width, height
    except (binascii.Error, UnidentifiedImageError, OSError) as exc:
        raise PlatformError("OpenAI answered with an image that could not be read.", code="provider_error") from exc
