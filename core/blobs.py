"""Content-addressed file store shared by api and workers (a directory, or a shared volume).

A blob lives at <root>/<hex[:2]>/<hex> with a small JSON sidecar for its content type. Refs
are `sha256:<64 hex>` and are checked against that pattern before any path is built, so no
ref can point outside the root. Writes go to a temp file first: a reader never sees half a blob.
"""

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from core.errors import NotFoundError
from core.schemas.common import BLOB_REF


@dataclass(frozen=True)
class BlobInfo:
    ref: str
    content_type: str
    size: int


def ref_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def file_path(self, ref: str) -> Path:
        if not BLOB_REF.match(ref):
            raise NotFoundError(f"{ref!r} is not a file ref; refs look like sha256:<64 hex digits>.")
        digest = ref.removeprefix("sha256:")
        return self.root / digest[:2] / digest

    def put(self, data: bytes, content_type: str) -> BlobInfo:
        info = BlobInfo(ref=ref_of(data), content_type=content_type, size=len(data))
        path = self.file_path(info.ref)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            self._write_atomic(path.with_suffix(".json"), json.dumps(asdict(info)).encode())
            self._write_atomic(path, data)
        return info

    def info(self, ref: str) -> BlobInfo:
        path = self.file_path(ref)
        try:
            meta = json.loads(path.with_suffix(".json").read_bytes())
        except FileNotFoundError:
            raise NotFoundError(f"No file {ref} here; it may have expired.") from None
        if not path.exists():
            raise NotFoundError(f"No file {ref} here; it may have expired.")
        return BlobInfo(**meta)

    def read(self, ref: str) -> bytes:
        self.info(ref)
        return self.file_path(ref).read_bytes()

    def delete(self, ref: str) -> None:
        path = self.file_path(ref)
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
