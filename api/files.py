"""Signed file URLs and request inputs: every input is in the blob store before enqueueing.

A signature is HMAC-SHA256(secret, "{ref}:{expires}"), checked in constant time. http(s)
inputs are fetched only from allowed hosts, with no redirects, a size cap and a timeout.
"""

import asyncio
import base64
import binascii
import hashlib
import hmac
import io
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import redis.asyncio
from PIL import Image, UnidentifiedImageError

from core.blobs import BlobInfo, BlobStore
from core.errors import InvalidInputError, NotFoundError, PayloadTooLargeError, PermissionDeniedError
from core.records import BLOB_EXPIRY_KEY, PROVISIONAL_BLOB_S
from core.schemas.common import BLOB_REF
from core.settings import Settings

# Request fields that carry input files: a single ref, or a mapping of node → ref (workflows);
# chat messages carry them as image parts (see _map_message_images).
INPUT_FIELDS = ("image", "mask")
INPUT_MAPS = ("inputs",)


class UrlSigner:
    def __init__(self, secret: str, ttl_s: int) -> None:
        self._secret = secret.encode()
        self.ttl_s = ttl_s

    def _sign(self, ref: str, expires: int) -> str:
        return hmac.new(self._secret, f"{ref}:{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, base_url: str, ref: str) -> str:
        # Expiry rounded to the minute, so repeated reads of a record give the same URL.
        expires = (int(time.time()) + self.ttl_s) // 60 * 60 + 60
        query = urlencode({"expires": expires, "sig": self._sign(ref, expires)})
        return f"{base_url.rstrip('/')}/api/files/{ref}?{query}"

    def check(self, ref: str, expires: int, sig: str) -> None:
        if not hmac.compare_digest(self._sign(ref, expires).encode(), sig.encode()):
            raise PermissionDeniedError("Invalid file signature; ask the API for a fresh URL.", code="bad_signature")
        if expires < time.time():
            raise PermissionDeniedError("This file URL has expired; read the task again for a fresh one.", code="url_expired")


def image_info(data: bytes, max_pixels: int) -> tuple[str, int, int]:
    """Check that data is a readable image of sane size; returns (content type, width, height).

    Only the header is read before the size check, so a decompression bomb is refused unopened.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise InvalidInputError(
                    f"The image is {width}x{height} ({width * height} pixels), above the limit of {max_pixels}; "
                    "send a smaller image.",
                    code="image_too_large",
                )
            content_type = Image.MIME.get(image.format or "", "")
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidInputError("The input is not a readable image (PNG, JPEG, WebP, TIFF, EXR…).", code="invalid_image") from exc
    return content_type or "application/octet-stream", width, height


class InputStore:
    """Turns every input of a request (ref, data URL, http URL) into a stored blob ref."""

    def __init__(self, blobs: BlobStore, settings: Settings, http: httpx.AsyncClient, client: redis.asyncio.Redis) -> None:
        self.blobs = blobs
        self.settings = settings
        self.http = http
        self.client = client

    async def store_bytes(self, data: bytes, content_type: str) -> BlobInfo:
        """Store a file with a provisional expiry: if the request that brought it is refused,
        the sweeper deletes it; an admitted task (or an upload) keeps it for the result TTL."""
        if len(data) > self.settings.max_upload_bytes:
            raise PayloadTooLargeError(f"The file is {len(data)} bytes, above the limit of {self.settings.max_upload_bytes}.")
        info = await asyncio.to_thread(self.blobs.put, data, content_type)
        await self.client.zadd(BLOB_EXPIRY_KEY, {info.ref: time.time() + PROVISIONAL_BLOB_S}, gt=True)
        return info

    async def store_image(self, data: bytes) -> str:
        content_type, _, _ = image_info(data, self.settings.max_image_pixels)
        return (await self.store_bytes(data, content_type)).ref

    async def resolve(self, params: dict[str, Any]) -> list[str]:
        """Replace every input in params by a blob ref, in place; returns the refs."""
        refs: list[str] = []

        async def resolve_one(field: str, value: str) -> str:
            ref = await self._resolve(field, value)
            refs.append(ref)
            return ref

        await _map_inputs(params, resolve_one)
        for index, lora in enumerate(params.get("loras") or []):
            if lora.get("ref"):
                lora["ref"] = await self._resolve_safetensors(f"loras[{index}].ref", lora["ref"])
                refs.append(lora["ref"])
        return refs

    async def _read_blob(self, field: str, ref: str) -> bytes:
        try:
            return await asyncio.to_thread(self.blobs.read, ref)
        except NotFoundError:
            raise InvalidInputError(f"`{field}`: no file {ref}; upload it with POST /api/files first.") from None

    async def _resolve_safetensors(self, field: str, value: str) -> str:
        """A LoRA file: a stored blob or an allowed URL (fetched once; stored by content)."""
        if value.startswith("data:"):
            raise InvalidInputError(f"`{field}`: upload the LoRA with POST /api/files and use its ref; data URLs are for images.")
        data = await self._read_blob(field, value) if BLOB_REF.match(value) else await self._fetch(field, value)
        # A safetensors file opens with its header's length (8 bytes) and then the JSON header.
        if len(data) < 10 or data[8:9] != b"{":
            raise InvalidInputError(f"`{field}`: not a .safetensors file; LoRAs are accepted in safetensors format only.")
        return value if BLOB_REF.match(value) else (await self.store_bytes(data, "application/octet-stream")).ref

    async def _resolve(self, field: str, value: str) -> str:
        if BLOB_REF.match(value):
            image_info(await self._read_blob(field, value), self.settings.max_image_pixels)
            return value
        if value.startswith("data:"):
            return await self.store_image(decode_data_url(field, value))
        return await self.store_image(await self._fetch(field, value))

    async def _fetch(self, field: str, url: str) -> bytes:
        host = urlsplit(url).hostname or ""
        if host not in self.settings.fetch_allowed_hosts:
            raise InvalidInputError(
                f"`{field}`: fetching from {host!r} is not allowed here; upload the file with POST /api/files, "
                "or ask the admin to add the host to DDIFFUSION_FETCH_ALLOWED_HOSTS.",
                code="fetch_not_allowed",
            )
        limit = self.settings.max_upload_bytes
        try:
            async with self.http.stream("GET", url, timeout=self.settings.fetch_timeout_s, follow_redirects=False) as response:
                if response.status_code != 200:
                    raise InvalidInputError(f"`{field}`: {url} answered HTTP {response.status_code}.", code="fetch_failed")
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise PayloadTooLargeError(f"`{field}`: {url} is larger than {limit} bytes.")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise InvalidInputError(f"`{field}`: could not fetch {url} ({type(exc).__name__}).", code="fetch_failed") from exc
        return b"".join(chunks)


async def _map_inputs(params: dict[str, Any], resolve: Callable[[str, str], Awaitable[str]]) -> None:
    for field in INPUT_FIELDS:
        if isinstance(params.get(field), str):
            params[field] = await resolve(field, params[field])
    for field in INPUT_MAPS:
        for name, value in (params.get(field) or {}).items():
            params[field][name] = await resolve(f"{field}.{name}", value)
    await _map_message_images(params, resolve)


async def _map_message_images(params: dict[str, Any], resolve: Callable[[str, str], Awaitable[str]]) -> None:
    for index, message in enumerate(params.get("messages") or []):
        if isinstance(message["content"], str):
            continue
        for part_index, part in enumerate(message["content"]):
            if part["type"] == "image":
                part["image"] = await resolve(f"messages[{index}].content[{part_index}].image", part["image"])


def decode_data_url(field: str, value: str) -> bytes:
    header, sep, payload = value.partition(",")
    if not sep or not header.endswith(";base64") or not header.startswith("data:image/"):
        raise InvalidInputError(f"`{field}`: expected a data URL like data:image/png;base64,<data>.", code="invalid_data_url")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(f"`{field}`: the data URL's base64 payload is malformed.", code="invalid_data_url") from None
