"""Backlog limits and idempotency at the api (no workers: tasks stay queued)."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.blobs import ref_of
from core.records import BLOB_EXPIRY_KEY, PROVISIONAL_BLOB_S
from core.settings import Settings
from tests.utils.platform import RedisServer, make_settings
from tests.utils.tasks import data_url, new_key, png_bytes

BODY = {"model": "tiny-sd", "prompt": "admission"}


@pytest.fixture
def limited(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"backlog_per_key": 5, "backlog_total": 10_000}))) as client:
        yield client


def test_per_key_backlog_answers_429_with_retry_after(limited: TestClient) -> None:
    headers = new_key(limited)
    for _ in range(5):
        assert limited.post("/api/images", json=BODY, headers=headers).status_code == 202
    refused = limited.post("/api/images", json=BODY, headers=headers)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert refused.json()["error"]["code"] == "backlog_full"
    other = new_key(limited, "other")
    assert limited.post("/api/images", json=BODY, headers=other).status_code == 202


def test_backlog_holds_exactly_under_concurrent_submits(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"backlog_per_key": 7}))

    async def run() -> list[int]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                key = (await client.post("/api/admin/keys", json={"name": "burst"}, headers={"X-API-Key": settings.admin_key_value()})).json()["key"]
                responses = await asyncio.gather(*(client.post("/api/images", json=BODY, headers={"X-API-Key": key}) for _ in range(40)))
        return [response.status_code for response in responses]

    codes = asyncio.run(run())
    assert codes.count(202) == 7
    assert codes.count(429) == 33


def test_idempotency_key_returns_the_same_task(client: TestClient, user: dict[str, str]) -> None:
    headers = user | {"Idempotency-Key": "render-042"}
    first = client.post("/api/images", json=BODY, headers=headers)
    again = client.post("/api/images", json=BODY, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    conflict = client.post("/api/images", json=BODY | {"prompt": "something else"}, headers=headers)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["details"]["task_id"] == first.json()["id"]
    other = client.post("/api/images", json=BODY, headers=user | {"Idempotency-Key": "render-043"})
    assert other.json()["id"] != first.json()["id"]


def test_submit_headers_are_bounded_and_documented(client: TestClient, user: dict[str, str]) -> None:
    """The submit route reads Idempotency-Key and Prefer itself: the same bounds and documentation as FastAPI's Header()."""
    for name in ("Idempotency-Key", "Prefer"):
        refused = client.post("/api/images", json=BODY, headers=user | {name: "x" * 201})
        assert refused.status_code == 422, name
        assert name in refused.json()["error"]["message"] and "200" in refused.json()["error"]["message"]
        assert client.post("/api/images", json=BODY, headers=user | {name: "x" * 200}).status_code == 202
    operation = client.app.openapi()["paths"]["/api/images"]["post"]  # type: ignore[attr-defined]
    assert [(p["name"], p["in"], p["schema"]["anyOf"][0]["maxLength"]) for p in operation["parameters"]] == [("idempotency-key", "header", 200), ("prefer", "header", 200)]
    assert operation["security"] == [{"ApiKey": []}, {"BearerKey": []}]


def test_hosted_model_without_a_configured_worker_is_422_and_not_enqueued(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()  # no workers here: no provider is configured
    try:
        with TestClient(create_app(make_settings(server.url, tmp_path / "data", tmp_path / "models"))) as client:
            headers = new_key(client)
            listed = {model["name"]: model for model in client.get("/api/texts/models", headers=headers).json()}
            assert listed["gpt-4o-mini"]["available"] is False
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            response = client.post("/api/texts", json=body, headers=headers)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "model_not_configured"
        assert server.client().llen("cpu") == 0
    finally:
        server.stop()


def test_a_refused_submit_leaves_no_key_and_no_blob_kept_for_good(limited: TestClient, redis_server: RedisServer) -> None:
    headers = new_key(limited)
    for _ in range(5):
        assert limited.post("/api/images", json=BODY, headers=headers).status_code == 202
    store = redis_server.client()
    keys_before = set(store.scan_iter("dd:task:*"))
    image = png_bytes(23, 17, (1, 2, 3))
    refused = limited.post("/api/images", json=BODY | {"image": data_url(image)}, headers=headers)
    assert refused.status_code == 429
    # No record, no orphan logs: any new key belongs to a task that exists (other tests' workers run on).
    assert all(store.exists(f"dd:task:{key.split(':')[2]}") for key in set(store.scan_iter("dd:task:*")) - keys_before)
    expiry = store.zscore(BLOB_EXPIRY_KEY, ref_of(image))
    assert expiry is not None and expiry <= time.time() + PROVISIONAL_BLOB_S  # stored, but only provisionally

    # A second input failing validation after the first was stored: the same.
    bad = limited.post("/api/images", json=BODY | {"image": data_url(png_bytes(29, 19)), "mask": "data:image/png;base64,!!"}, headers=new_key(limited, "x"))
    assert bad.status_code == 422
    assert (store.zscore(BLOB_EXPIRY_KEY, ref_of(png_bytes(29, 19))) or 0) <= time.time() + PROVISIONAL_BLOB_S
