"""A farm in miniature: the api and a real gpu worker share nothing but Redis and an S3 bucket
(moto's real S3 server on loopback), each with its own data dir."""

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.main import create_app, sweep_expired_blobs
from core.blobs import ref_of
from core.records import BLOB_EXPIRY_KEY
from core.schemas import Queue
from tests.fakes.s3_server import CREDENTIALS, S3Server, serve_s3
from tests.utils.platform import RedisServer, WorkerFleet, make_settings
from tests.utils.tasks import new_key, png_bytes, wait_for

PREFIX = "farm/blobs"


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, tiny_models: Path) -> Iterator[tuple[S3Server, str, RedisServer, Path, Path]]:
    """An S3 server with a bucket, a Redis of this module's own (no other test's worker can take
    these tasks), and one gpu worker whose data dir is not the api's."""
    api_dir, worker_dir = tmp_path_factory.mktemp("api-data"), tmp_path_factory.mktemp("worker-data")
    with serve_s3() as s3, pytest.MonkeyPatch.context() as env:
        for name, value in CREDENTIALS.items():
            env.setenv(name, value)  # the in-process api finds them where boto3 looks
        bucket = s3.new_bucket()
        redis_server = RedisServer(tmp_path_factory.mktemp("s3-redis")).start()
        worker_settings = make_settings(redis_server.url, worker_dir, models_dir, **s3.settings(bucket, PREFIX))
        fleet = WorkerFleet(worker_settings, tmp_path_factory.mktemp("s3-worker-logs"), extra_env=CREDENTIALS)
        try:
            fleet.start(Queue.gpu)
            fleet.wait_ready([Queue.gpu], timeout_s=120)
            yield s3, bucket, redis_server, api_dir, worker_dir
        finally:
            fleet.stop()
            redis_server.stop()


@pytest.fixture(scope="module")
def api(farm: tuple[S3Server, str, RedisServer, Path, Path], models_dir: Path) -> Iterator[TestClient]:
    s3, bucket, redis_server, api_dir, _ = farm
    with TestClient(create_app(make_settings(redis_server.url, api_dir, models_dir, **s3.settings(bucket, PREFIX)))) as client:
        yield client


def blob_files(ref: str, *dirs: Path) -> list[Path]:
    return [path for root in dirs for path in root.rglob(f"*{ref.removeprefix('sha256:')}*")]


def test_a_worker_elsewhere_reads_inputs_and_writes_outputs_through_the_bucket(api: TestClient, farm: tuple[S3Server, str, RedisServer, Path, Path]) -> None:
    s3, bucket, _, api_dir, worker_dir = farm
    headers = new_key(api)
    upload = api.post("/api/files", files={"file": ("in.png", png_bytes(80, 48), "image/png")}, headers=headers)
    assert upload.status_code == 201, upload.text
    ref = upload.json()["ref"]
    body = {"model": "tiny-sd", "prompt": "a plate", "image": ref, "strength": 0.6, "steps": 2, "seed": 1, "width": 96, "height": 64}
    submitted = api.post("/api/images", json=body, headers=headers)
    assert submitted.status_code == 202, submitted.text
    record = wait_for(api, "images", submitted.json()["id"], headers, timeout_s=180)
    assert record["status"] == "succeeded", record
    [output] = record["outputs"]
    download = api.get(output["url"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    assert int(download.headers["content-length"]) == len(download.content)
    assert Image.open(io.BytesIO(download.content)).size == (96, 64)
    assert {f"{PREFIX}/{r[7:9]}/{r[7:]}" for r in (ref, output["ref"])} <= set(s3.keys(bucket))
    assert blob_files(ref, api_dir, worker_dir) == blob_files(output["ref"], api_dir, worker_dir) == []
    assert not (api_dir / "blobs").exists() and not (worker_dir / "blobs").exists()


def test_the_sweeper_deletes_an_expired_object_from_the_bucket(api: TestClient, farm: tuple[S3Server, str, RedisServer, Path, Path]) -> None:
    s3, bucket, redis_server, _, _ = farm
    uploaded = api.post("/api/files", files={"file": ("old.png", png_bytes(7, 7), "image/png")}, headers=new_key(api)).json()
    key = f"{PREFIX}/{uploaded['ref'][7:9]}/{uploaded['ref'][7:]}"
    assert key in s3.keys(bucket)
    redis_server.client().zadd(BLOB_EXPIRY_KEY, {uploaded["ref"]: time.time() - 1})
    assert api.portal.call(sweep_expired_blobs, api.app.state.platform) >= 1  # type: ignore[union-attr]
    assert key not in s3.keys(bucket)
    gone = api.get(uploaded["url"])
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "not_found")


def test_a_signed_url_of_an_object_not_in_the_bucket_is_404(api: TestClient) -> None:
    platform = api.app.state.platform
    response = api.get(platform.signer.url(str(api.base_url), ref_of(b"never stored")))
    assert response.status_code == 404
    assert "may have expired" in response.json()["error"]["message"]
