"""Records and their files expire after DDIFFUSION_RESULT_TTL."""

import time

from fastapi.testclient import TestClient

from api.main import sweep_expired_blobs
from core.records import BLOB_EXPIRY_KEY
from tests.utils.platform import RedisServer
from tests.utils.tasks import png_bytes, wait_for


def test_expired_blobs_are_deleted_and_fresh_ones_kept(client: TestClient, user: dict[str, str], redis_server: RedisServer) -> None:
    platform = client.app.state.platform
    old = client.post("/api/files", files={"file": ("old.png", png_bytes(9, 9), "image/png")}, headers=user).json()
    fresh = client.post("/api/files", files={"file": ("new.png", png_bytes(10, 10), "image/png")}, headers=user).json()
    store = redis_server.client()
    store.zadd(BLOB_EXPIRY_KEY, {old["ref"]: time.time() - 1, fresh["ref"]: time.time() + 3600})
    deleted = client.portal.call(sweep_expired_blobs, platform)  # type: ignore[union-attr]
    assert deleted >= 1
    assert client.get(old["url"]).status_code == 404
    assert client.get(fresh["url"]).status_code == 200
    assert store.zscore(BLOB_EXPIRY_KEY, old["ref"]) is None


def test_uploads_and_records_carry_the_result_ttl(client: TestClient, user: dict[str, str], redis_server: RedisServer) -> None:
    ttl = client.app.state.platform.settings.result_ttl_s
    uploaded = client.post("/api/files", files={"file": ("a.png", png_bytes(11, 11), "image/png")}, headers=user).json()
    assert store_expiry(redis_server, uploaded["ref"]) > time.time() + ttl - 60
    task_id = client.post("/api/images", json={"model": "tiny-sd", "prompt": "ttl", "image": uploaded["ref"]}, headers=user).json()["id"]
    store = redis_server.client()
    assert store.ttl(f"dd:task:{task_id}") == -1  # the expiry counts from the task's end
    assert store_expiry(redis_server, uploaded["ref"]) > time.time() + ttl - 60
    client.delete(f"/api/images/{task_id}", headers=user)
    wait_for(client, "images", task_id, user)  # cancelled, or done if a worker had it already
    assert ttl - 60 < store.ttl(f"dd:task:{task_id}") <= ttl


def store_expiry(redis_server: RedisServer, ref: str) -> float:
    return redis_server.client().zscore(BLOB_EXPIRY_KEY, ref) or 0.0
