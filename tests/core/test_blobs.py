"""Both blob store backends behind the one interface: a directory, and S3 (moto's real S3 server)."""

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.blobs import CHUNK_BYTES, BlobStore, DirectoryBlobStore, open_blob_store, ref_of
from core.errors import NotFoundError, UnavailableError
from core.settings import Settings
from tests.fakes.s3_server import CREDENTIALS, S3Server, serve_s3
from tests.utils.platform import free_port

PREFIX = "farm/blobs"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with serve_s3() as server:
        yield server


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


def settings_for(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "file":
        return open_blob_store(settings_for(blob_store=f"file://{tmp_path / 'blobs'}"))
    request.getfixturevalue("aws_env")
    s3: S3Server = request.getfixturevalue("s3")
    return open_blob_store(settings_for(**s3.settings(s3.new_bucket(), PREFIX)))


def test_put_read_info_delete_round_trip(store: BlobStore) -> None:
    data = b"\x89PNG fake bytes"
    info = store.put(data, "image/png")
    assert (info.ref, info.content_type, info.size) == (ref_of(data), "image/png", len(data))
    assert store.info(info.ref) == info
    assert store.read(info.ref) == data
    store.delete(info.ref)
    with pytest.raises(NotFoundError):
        store.info(info.ref)
    with pytest.raises(NotFoundError):
        store.read(info.ref)
    store.delete(info.ref)  # deleting what is gone is no error: two sweepers may race


def test_an_existing_blob_is_not_rewritten(store: BlobStore) -> None:
    first = store.put(b"same bytes", "image/png")
    again = store.put(b"same bytes", "application/octet-stream")
    assert again.ref == first.ref
    assert store.info(first.ref).content_type == "image/png"


def test_open_streams_in_bounded_chunks(store: BlobStore) -> None:
    data = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 3)
    ref = store.put(data, "application/octet-stream").ref
    info, chunks = store.open(ref)
    parts = list(chunks)
    assert info.size == len(data)
    assert len(parts) == 3 and all(len(part) <= CHUNK_BYTES for part in parts)
    assert b"".join(parts) == data


@pytest.mark.parametrize("ref", ["sha256:../../etc/passwd", "../" + "a" * 64, "sha256:" + "A" * 64, "sha256:" + "a" * 63, "sha256:" + "a" * 64 + "/x", "sha256:" + "a" * 64 + "\n"])
def test_refs_that_are_not_sha256_are_refused_before_any_key(store: BlobStore, ref: str) -> None:
    for operation in (store.info, store.read, store.open, store.delete):
        with pytest.raises(NotFoundError, match="not a file ref"):
            operation(ref)


def test_missing_blob_is_not_found_at_open_not_while_streaming(store: BlobStore) -> None:
    with pytest.raises(NotFoundError, match="may have expired"):
        store.open(ref_of(b"never stored"))


def test_s3_keys_stay_under_the_prefix(s3: S3Server, aws_env: None) -> None:
    bucket = s3.new_bucket()
    store = open_blob_store(settings_for(**s3.settings(bucket, PREFIX)))
    ref = store.put(b"x", "text/plain").ref
    assert s3.keys(bucket) == [f"{PREFIX}/{ref[7:9]}/{ref[7:]}"]
    head = s3.client().head_object(Bucket=bucket, Key=s3.keys(bucket)[0])
    assert head["ContentType"] == "text/plain"


def test_unset_store_is_the_data_dir_directory(tmp_path: Path) -> None:
    store = open_blob_store(settings_for(data_dir=tmp_path))
    assert isinstance(store, DirectoryBlobStore) and store.root == (tmp_path / "blobs").resolve()
    ref = store.put(b"here", "text/plain").ref
    assert (tmp_path / "blobs" / ref[7:9] / ref[7:]).read_bytes() == b"here"


@pytest.mark.parametrize("value", ["/abs/path", "file://relative/path", "s3://", "s3:///prefix", "gs://bucket"])
def test_other_store_urls_are_refused_by_the_settings(value: str) -> None:
    with pytest.raises(ValidationError, match="file:///absolute/path or s3://bucket/prefix"):
        settings_for(blob_store=value)


def test_unreachable_store_fails_clearly_and_quickly(aws_env: None) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = open_blob_store(settings_for(blob_store="s3://bucket/p", s3_endpoint_url=endpoint, s3_connect_timeout_s=1, s3_retries=1))
    started = time.monotonic()
    with pytest.raises(UnavailableError, match="DDIFFUSION_S3_ENDPOINT_URL") as raised:
        store.put(b"x", "text/plain")
    assert endpoint in raised.value.message
    assert time.monotonic() - started < 10


def test_silent_store_times_out_instead_of_hanging(aws_env: None) -> None:
    # The kernel accepts connections on a listening socket; nobody ever answers on it.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        store = open_blob_store(settings_for(blob_store="s3://bucket/p", s3_endpoint_url=endpoint, s3_read_timeout_s=0.5, s3_retries=1))
        started = time.monotonic()
        with pytest.raises(UnavailableError, match="does not answer"):
            store.info(ref_of(b"x"))
        assert time.monotonic() - started < 10


def test_missing_bucket_names_what_to_check(s3: S3Server, aws_env: None) -> None:
    store = open_blob_store(settings_for(**s3.settings("no-such-bucket-here")))
    with pytest.raises(UnavailableError, match="NoSuchBucket"):
        store.put(b"x", "text/plain")
