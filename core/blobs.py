"""Content-addressed file store shared by api and workers: a directory, or any S3-compatible bucket.

`DDIFFUSION_BLOB_STORE` picks the backend (`open_blob_store`): unset or `file:///abs/path` is a
directory (the embedded default, `<data dir>/blobs`), `s3://bucket/prefix` a bucket. Both lay a
blob out as `<hex[:2]>/<hex>` under their root. Refs are `sha256:<64 hex>` and are checked against
that pattern before any path or key is built, so no ref can point outside the root or prefix.
A blob, once stored, is never rewritten: its ref is its content.
"""

import hashlib
import json
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from core.errors import NotFoundError, UnavailableError
from core.schemas.common import BLOB_REF
from core.settings import Settings

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class BlobInfo:
    ref: str
    content_type: str
    size: int


def ref_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def missing(ref: str) -> NotFoundError:
    return NotFoundError(f"No file {ref} here; it may have expired.")


class BlobStore(ABC):
    """The one interface api and workers use; backends only say how a relative name is stored."""

    def put(self, data: bytes, content_type: str) -> BlobInfo:
        info = BlobInfo(ref=ref_of(data), content_type=content_type, size=len(data))
        name = self.name_of(info.ref)
        if not self._exists(name):
            self._write(name, data, info)
        return info

    def info(self, ref: str) -> BlobInfo:
        return self._info(ref, self.name_of(ref))

    def read(self, ref: str) -> bytes:
        _, chunks = self.open(ref)
        return b"".join(chunks)

    def open(self, ref: str) -> tuple[BlobInfo, Iterator[bytes]]:
        """The blob's info and its bytes in chunks, for streaming; raises NotFoundError at once
        (not while iterating) when it is missing."""
        return self._open(ref, self.name_of(ref))

    def delete(self, ref: str) -> None:
        self._delete(self.name_of(ref))

    @staticmethod
    def name_of(ref: str) -> str:
        if not BLOB_REF.fullmatch(ref):
            raise NotFoundError(f"{ref!r} is not a file ref; refs look like sha256:<64 hex digits>.")
        digest = ref.removeprefix("sha256:")
        return f"{digest[:2]}/{digest}"

    @abstractmethod
    def _exists(self, name: str) -> bool: ...

    @abstractmethod
    def _write(self, name: str, data: bytes, info: BlobInfo) -> None: ...

    @abstractmethod
    def _info(self, ref: str, name: str) -> BlobInfo: ...

    @abstractmethod
    def _open(self, ref: str, name: str) -> tuple[BlobInfo, Iterator[bytes]]: ...

    @abstractmethod
    def _delete(self, name: str) -> None: ...


class DirectoryBlobStore(BlobStore):
    """A blob at <root>/<hex[:2]>/<hex> with a JSON sidecar for its content type. Writes go to a
    temp file first: a reader never sees half a blob."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _exists(self, name: str) -> bool:
        return (self.root / name).exists()

    def _write(self, name: str, data: bytes, info: BlobInfo) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        # Sidecar first: a blob that exists always has its content type.
        self._write_atomic(path.with_suffix(".json"), json.dumps(asdict(info)).encode())
        self._write_atomic(path, data)

    def _info(self, ref: str, name: str) -> BlobInfo:
        path = self.root / name
        try:
            meta = json.loads(path.with_suffix(".json").read_bytes())
        except FileNotFoundError:
            raise missing(ref) from None
        if not path.exists():
            raise missing(ref)
        return BlobInfo(**meta)

    def _open(self, ref: str, name: str) -> tuple[BlobInfo, Iterator[bytes]]:
        info = self._info(ref, name)
        try:
            handle = (self.root / name).open("rb")
        except FileNotFoundError:
            raise missing(ref) from None
        return info, _chunks(handle)

    def _delete(self, name: str) -> None:
        path = self.root / name
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)

    def _write_atomic(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class S3BlobStore(BlobStore):
    """Objects at s3://<bucket>/<prefix>/<hex[:2]>/<hex>, their content type as the object's
    ContentType. The client has timeouts and bounded retries; a store that does not answer
    raises UnavailableError naming what to check, never hangs."""

    def __init__(self, client: Any, bucket: str, prefix: str, endpoint: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint = endpoint

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _exists(self, name: str) -> bool:
        try:
            self._call("head_object", Key=self.key(name))
        except NotFoundError:
            return False
        return True

    def _write(self, name: str, data: bytes, info: BlobInfo) -> None:
        self._call("put_object", Key=self.key(name), Body=data, ContentType=info.content_type)

    def _info(self, ref: str, name: str) -> BlobInfo:
        head = self._call("head_object", Key=self.key(name), ref=ref)
        return BlobInfo(ref=ref, content_type=head["ContentType"], size=head["ContentLength"])

    def _open(self, ref: str, name: str) -> tuple[BlobInfo, Iterator[bytes]]:
        got = self._call("get_object", Key=self.key(name), ref=ref)
        info = BlobInfo(ref=ref, content_type=got["ContentType"], size=got["ContentLength"])
        return info, _chunks(got["Body"])

    def _delete(self, name: str) -> None:
        self._call("delete_object", Key=self.key(name))

    def _call(self, operation: str, ref: str | None = None, **params: Any) -> Any:
        try:
            return getattr(self.client, operation)(Bucket=self.bucket, **params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"404", "NoSuchKey", "NotFound"}:
                raise missing(ref or params["Key"]) from None
            raise UnavailableError(
                f"The blob store s3://{self.bucket}/{self.prefix} at {self.endpoint} refused {operation}: {code or 'error'}; "
                "check the bucket, DDIFFUSION_BLOB_STORE and the AWS credentials."
            ) from exc
        except BotoCoreError as exc:
            raise UnavailableError(
                f"The blob store s3://{self.bucket}/{self.prefix} at {self.endpoint} does not answer ({type(exc).__name__}); "
                "check DDIFFUSION_S3_ENDPOINT_URL and that the store is up."
            ) from exc


def _chunks(body: IO[bytes]) -> Iterator[bytes]:
    with body:
        while chunk := body.read(CHUNK_BYTES):
            yield chunk


def open_blob_store(settings: Settings) -> BlobStore:
    """The store DDIFFUSION_BLOB_STORE names (the settings have checked its form)."""
    url = urlparse(settings.blob_store or "")
    if url.scheme != "s3":
        return DirectoryBlobStore(Path(url.path).resolve() if url.path else settings.blobs_dir)
    config = Config(
        connect_timeout=settings.s3_connect_timeout_s,
        read_timeout=settings.s3_read_timeout_s,
        retries={"mode": "standard", "max_attempts": settings.s3_retries},
    )
    client = boto3.session.Session().client("s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region, config=config)
    return S3BlobStore(client, url.netloc, url.path, settings.s3_endpoint_url or "AWS")
