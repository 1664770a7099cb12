import time

from fastapi.testclient import TestClient

from api.main import create_app
from core.settings import Settings
from tests.utils.platform import RedisServer
from tests.utils.tasks import ADMIN


def test_admin_creates_lists_and_revokes_keys(client: TestClient) -> None:
    created = client.post("/api/admin/keys", json={"name": "houdini-fx"}, headers=ADMIN)
    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith(f"dd_{body['id']}_")
    listed = client.get("/api/admin/keys", headers=ADMIN).json()
    assert {"id": body["id"], "name": "houdini-fx"}.items() <= next(k for k in listed if k["id"] == body["id"]).items()
    assert all("key" not in entry for entry in listed)
    headers = {"X-API-Key": body["key"]}
    assert client.get("/api/images/models", headers=headers).status_code == 200
    assert client.delete(f"/api/admin/keys/{body['id']}", headers=ADMIN).status_code == 204
    refused = client.get("/api/images/models", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthenticated"
    assert client.delete(f"/api/admin/keys/{body['id']}", headers=ADMIN).status_code == 404


def test_only_a_salted_hash_is_stored(client: TestClient, redis_server: RedisServer) -> None:
    body = client.post("/api/admin/keys", json={"name": "nuke"}, headers=ADMIN).json()
    secret = body["key"].split("_", 2)[2]
    stored = redis_server.client().hgetall(f"dd:key:{body['id']}")
    assert secret not in str(stored)
    assert set(stored) == {"name", "salt", "hash", "created_at", "max_priority"}


def test_bearer_header_works_too(client: TestClient, user: dict[str, str]) -> None:
    """On the routes that solve the key as FastAPI dependencies and on the submit routes, which read it themselves."""
    bearer = {"Authorization": f"Bearer {user['X-API-Key']}"}
    assert client.get("/api/texts/models", headers=bearer).status_code == 200
    assert client.post("/api/images", json={"model": "tiny-sd", "prompt": "bearer"}, headers=bearer).status_code == 202
    basic = {"Authorization": f"Basic {user['X-API-Key']}"}
    assert client.post("/api/images", json={"model": "tiny-sd", "prompt": "basic"}, headers=basic).status_code == 401


def test_missing_unknown_and_malformed_keys_are_401(client: TestClient) -> None:
    for headers in ({}, {"X-API-Key": "dd_nope_secret"}, {"X-API-Key": "garbage"}, {"X-API-Key": "dd__x"}):
        for response in (client.get("/api/images/models", headers=headers), client.post("/api/videos", json={"model": "tiny-ltx", "prompt": "x"}, headers=headers)):
            assert response.status_code == 401, headers
            assert set(response.json()["error"]) == {"code", "message", "details"}


def test_user_key_on_admin_route_is_403(client: TestClient, user: dict[str, str]) -> None:
    response = client.get("/api/admin/keys", headers=user)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_revocation_reaches_other_api_processes_at_once(client: TestClient, settings: Settings) -> None:
    """Two api instances (as two processes would be): a key revoked on one is refused on the other."""
    with TestClient(create_app(settings)) as other:
        body = client.post("/api/admin/keys", json={"name": "shared"}, headers=ADMIN).json()
        headers = {"X-API-Key": body["key"]}
        assert other.get("/api/images/models", headers=headers).status_code == 200  # now cached there
        assert client.delete(f"/api/admin/keys/{body['id']}", headers=ADMIN).status_code == 204
        deadline = time.monotonic() + 2
        while other.get("/api/images/models", headers=headers).status_code != 401:
            assert time.monotonic() < deadline, "revoked key still accepted by the other api"
            time.sleep(0.01)


def test_wrong_secret_for_a_cached_key_is_401(client: TestClient, user: dict[str, str]) -> None:
    assert client.get("/api/images/models", headers=user).status_code == 200
    forged = user["X-API-Key"][:-4] + "AAAA"
    assert client.get("/api/images/models", headers={"X-API-Key": forged}).status_code == 401
