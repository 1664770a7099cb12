"""Signed file URLs and request inputs: every input is in the blob store before enqueueing.

A signature is HMAC-SHA256(secret, "{ref}:{expires}"), checked in constant time. http(s)
inputs are fetched only from allowed hosts, with no redirects, a size cap and a timeout; a URL
of this platform's own files (`…/api/files/sha256:…`) is read as its ref and never fetched.
"""

import asyncio
import base64
import binascii
import hashlib
import hmac
import io
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
INPUT_LISTS = ("references",)  # several images, named `references[i]` in errors
FILES_PATH = re.compile(r"(.*)/api/files/(sha256:[0-9a-f]{64})")


class UrlSigner:
    def __init__(self, secret: str, ttl_s: int) -> None:
        self._secret = secret.encode()
        self.ttl_s = ttl_s

    def _sign(self, ref: str, expires: int, filename: str | None = None) -> str:
        message = f"{ref}:{expires}" + (f":{filename}" if filename is not None else "")
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()

    def url(self, base_url: str, ref: str, filename: str | None = None) -> str:
        """A signed download URL; with `filename` (signed too) the download is saved under that
        name: blobs are stored by content, so the name travels with the URL."""
        # Expiry rounded to the minute, so repeated reads of a record give the same URL.
        expires = (int(time.time()) + self.ttl_s) // 60 * 60 + 60
        named = {"filename": filename} if filename is not None else {}
        query = urlencode({"expires": expires} | named | {"sig": self._sign(ref, expires, filename)})
        return f"{base_url.rstrip('/')}/api/files/{ref}?{query}"

    def check(self, ref: str, expires: int, sig: str, filename: str | None = None) -> None:
        if not hmac.compare_digest(self._sign(ref, expires, filename).encode(), sig.encode()):
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


@dataclass
class ResolvedInputs:
    refs: list[str]
    sizes: dict[str, tuple[int, int]]  # input field (`image`, `mask`, …) → its image's (width, height)


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

    async def store_image(self, data: bytes) -> tuple[str, tuple[int, int]]:
        """Store an image; returns its ref and its (width, height)."""
        content_type, width, height = image_info(data, self.settings.max_image_pixels)
        return (await self.store_bytes(data, content_type)).ref, (width, height)

    async def resolve(self, params: dict[str, Any]) -> ResolvedInputs:
        """Replace every input in params by a blob ref, in place; returns the refs and the
        images' sizes, read from the headers on the way (so the size rules need no second read)."""
        resolved = ResolvedInputs([], {})

        async def resolve_one(field: str, value: str) -> str:
            ref, resolved.sizes[field] = await self._resolve(field, value)
            resolved.refs.append(ref)
            return ref

        await _map_inputs(params, resolve_one)
        for index, lora in enumerate(params.get("loras") or []):
            if lora.get("ref"):
                lora["ref"] = await self._resolve_safetensors(f"loras[{index}].ref", lora["ref"])
                resolved.refs.append(lora["ref"])
        return resolved

    def _own_ref(self, value: str) -> str | None:
        """The ref a value names without a fetch: a ref itself, or a URL of this platform's files
        (`{base}/api/files/{ref}`, signed or not, base the public URL's path or none), from any
        host: nothing is fetched and the ref must be in this blob store, so the URL gives no more
        than sending its ref would; its signature does not matter for the same reason."""
        if BLOB_REF.match(value):
            return value
        if not value.startswith(("http://", "https://")):
            return None
        match = FILES_PATH.fullmatch(urlsplit(value).path)
        prefixes = {"", urlsplit(self.settings.public_url or "").path.rstrip("/")}
        return match.group(2) if match and match.group(1) in prefixes else None

    async def _read_blob(self, field: str, ref: str) -> bytes:
        try:
            return await asyncio.to_thread(self.blobs.read, ref)
        except NotFoundError:
            raise InvalidInputError(f"`{field}`: no file {ref}; upload it with POST /api/files first.") from None

    async def _resolve_safetensors(self, field: str, value: str) -> str:
        """A LoRA file: a stored blob or an allowed URL (fetched once; stored by content)."""
        if value.startswith("data:"):
            raise InvalidInputError(f"`{field}`: upload the LoRA with POST /api/files and use its ref; data URLs are for images.")
        ref = self._own_ref(value)
        data = await self._read_blob(field, ref) if ref else await self._fetch(field, value)
        # A safetensors file opens with its header's length (8 bytes) and then the JSON header.
        if len(data) < 10 or data[8:9] != b"{":
            raise InvalidInputError(f"`{field}`: not a .safetensors file; LoRAs are accepted in safetensors format only.")
        return ref or (await self.store_bytes(data, "application/octet-stream")).ref

    async def _resolve(self, field: str, value: str) -> tuple[str, tuple[int, int]]:
        """An image input as a stored ref, with the image's (width, height)."""
        if ref := self._own_ref(value):
            _, width, height = image_info(await self._read_blob(field, ref), self.settings.max_image_pixels)
            return ref, (width, height)
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
    for field in INPUT_LISTS:
        for index, value in enumerate(params.get(field) or []):
            params[field][index] = await resolve(f"{field}[{index}]", value)
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
