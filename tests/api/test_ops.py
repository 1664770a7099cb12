import json
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.main import create_app
from api.openapi import openapi_document
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_openapi_json_at_the_root_equals_the_app_schema() -> None:
    committed = json.loads((ROOT / "openapi.json").read_text())
    assert committed == openapi_document(), "openapi.json is stale: run `make openapi`"


def test_operation_ids_are_clean() -> None:
    ids = {op["operationId"] for path in openapi_document()["paths"].values() for op in path.values()}
    assert {"create_image", "get_image", "cancel_image", "stream_image_events", "list_image_models", "create_text", "upload_file", "create_key"} <= ids


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_says_which_queue_lacks_a_worker(client: TestClient) -> None:
    response = client.get("/readyz")
    body = response.json()
    assert body["redis"] == "ok"
    assert set(body["workers"]) == {"gpu", "cpu", "comfy"}
    assert response.status_code == (200 if all(body["workers"].values()) else 503)


def test_readyz_is_200_with_workers(platform_client: TestClient) -> None:
    response = platform_client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ready"


def test_metrics_are_prometheus_text(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for name in ("ddiffusion_queue_depth{queue=\"gpu\"}", "ddiffusion_tasks{status=\"queued\"}", "ddiffusion_workers"):
        assert name in response.text


def test_swagger_ui_is_served_from_local_assets(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/docs-assets/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    asset = client.get("/docs-assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000


def test_no_cors_by_default_and_configured_origins_only(client: TestClient, settings: Settings) -> None:
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/api/images", headers=preflight).headers
    with TestClient(create_app(settings.model_copy(update={"cors_origins": ["https://studio.example"]}))) as allowed:
        ok = allowed.options("/api/images", headers=preflight | {"Origin": "https://studio.example"})
        assert ok.headers["access-control-allow-origin"] == "https://studio.example"
        assert "access-control-allow-origin" not in allowed.options("/api/images", headers=preflight).headers


def test_internal_errors_leak_nothing(settings: Settings) -> None:
    app: FastAPI = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret database password is hunter2")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error", "message": "Internal error; it has been logged.", "details": None}}


def test_api_index_needs_no_key_and_every_link_answers(client: TestClient, user: dict[str, str]) -> None:
    response = client.get("/api")
    assert response.status_code == 200, response.text
    index = response.json()
    assert set(index["domains"]) == {"images", "texts", "videos", "workflows"}
    assert index["domains"]["images"] == {"models": "/api/images/models", "submit": "/api/images"}
    for link in (index["docs"], index["openapi"], index["healthz"]):
        assert client.get(link).status_code == 200, link
    assert client.get(index["readyz"]).status_code in (200, 503)
    paths = openapi_document()["paths"]
    for links in index["domains"].values():
        assert client.get(links["models"], headers=user).status_code == 200
        assert "post" in paths[links["submit"]]
    assert "post" in paths[index["files"]]


def test_summaries_are_grammatical() -> None:
    summaries = {op["summary"] for path in openapi_document()["paths"].values() for op in path.values()}
    assert {"Submit an image task", "Get an image task", "Cancel a video task", "Stream a workflow task's changes"} <= summaries
    assert not [summary for summary in summaries if re.search(r"\ba [aeiou]", summary, re.IGNORECASE)]


def test_authorize_shows_the_api_key_first_and_says_how_to_get_one() -> None:
    document = openapi_document()
    schemes = document["components"]["securitySchemes"]
    first, second = schemes
    assert schemes[first] | {"description": ""} == {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": ""}
    assert "POST /api/admin/keys" in schemes[first]["description"] and "data/admin_key" in schemes[first]["description"]
    assert schemes[second]["scheme"] == "bearer" and "same key" in schemes[second]["description"]
    assert document["paths"]["/api/images"]["post"]["security"][0] == {first: []}
    for step in ("POST /api/admin/keys", "GET /api/{domain}/models", "`available`", "POST /api/{domain}", "/events", "`url`"):
        assert step in document["info"]["description"], step

