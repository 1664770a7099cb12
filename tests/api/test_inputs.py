"""http(s) inputs: fetched only from allowed hosts, without redirects, within size limits; the
platform's own file URLs are read as their refs, never fetched."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.settings import Settings
from tests.fakes.file_server import serve_files
from tests.utils.platform import WorkerFleet
from tests.utils.tasks import new_key, png_bytes, wait_for

PNG = png_bytes(40, 30)


@pytest.fixture
def fetching(settings: Settings) -> Iterator[tuple[TestClient, str]]:
    routes = {
        "/plate.png": (200, {"Content-Type": "image/png"}, PNG),
        "/moved": (302, {"Location": "http://169.254.169.254/"}, b""),
        "/huge.png": (200, {"Content-Type": "image/png"}, b"\0" * (1024 * 1024 + 10)),
        "/text": (200, {"Content-Type": "text/plain"}, b"hello"),
    }
    with serve_files(routes) as base:
        allowed = settings.model_copy(update={"fetch_allowed_hosts": ["127.0.0.1"], "max_upload_mb": 1})
        with TestClient(create_app(allowed)) as client:
            yield client, base


def submit(client: TestClient, headers: dict[str, str], url: str) -> object:
    return client.post("/api/images", json={"model": "tiny-sd", "prompt": "x", "image": url}, headers=headers)


def test_allowed_host_is_fetched_into_the_blob_store(fetching: tuple[TestClient, str]) -> None:
    client, base = fetching
    headers = new_key(client)
    response = submit(client, headers, f"{base}/plate.png")
    assert response.status_code == 202, response.text  # type: ignore[attr-defined]
    record = client.get(f"/api/images/{response.json()['id']}", headers=headers).json()  # type: ignore[attr-defined]
    ref = record["request"]["image"]
    assert ref.startswith("sha256:")
    assert client.app.state.platform.blobs.read(ref) == PNG


@pytest.mark.parametrize(("path", "code"), [("/moved", "fetch_failed"), ("/missing", "fetch_failed"), ("/text", "invalid_image")])
def test_redirects_errors_and_non_images_are_422(fetching: tuple[TestClient, str], path: str, code: str) -> None:
    client, base = fetching
    response = submit(client, new_key(client), f"{base}{path}")
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert response.json()["error"]["code"] == code  # type: ignore[attr-defined]


def test_oversize_fetch_is_413(fetching: tuple[TestClient, str]) -> None:
    client, base = fetching
    response = submit(client, new_key(client), f"{base}/huge.png")
    assert response.status_code == 413  # type: ignore[attr-defined]


def test_other_hosts_stay_refused(fetching: tuple[TestClient, str]) -> None:
    client, base = fetching
    response = submit(client, new_key(client), base.replace("127.0.0.1", "localhost") + "/plate.png")
    assert response.json()["error"]["code"] == "fetch_not_allowed"  # type: ignore[attr-defined]


@pytest.fixture
def public(settings: Settings, workers: WorkerFleet) -> Iterator[tuple[TestClient, dict, str]]:
    """The api with real workers, its public URL a loopback server that fetching is allowed from:
    a fetch of one of its file URLs would get whatever that server answers, not the blob."""
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    with serve_files(routes) as base:
        with TestClient(create_app(settings.model_copy(update={"public_url": base, "fetch_allowed_hosts": ["127.0.0.1"]}))) as client:
            yield client, routes, base


def test_the_platforms_own_file_urls_are_inputs_without_a_fetch(public: tuple[TestClient, dict, str]) -> None:
    client, routes, base = public
    headers = new_key(client)
    body = {"model": "tiny-sd", "prompt": "a plate", "steps": 2, "seed": 3}
    first = client.post("/api/images", json=body | {"width": 96, "height": 64}, headers=headers).json()["id"]
    [output] = wait_for(client, "images", first, headers)["outputs"]
    assert output["url"].startswith(f"{base}/api/files/{output['ref']}?expires=")
    # Were the URL fetched, the api would store this other image instead of the output.
    routes[f"/api/files/{output['ref']}"] = (200, {"Content-Type": "image/png"}, png_bytes(320, 192))
    urls = [output["url"], f"{base}/api/files/{output['ref']}", f"http://elsewhere.example/api/files/{output['ref']}?expires=1&sig=bad"]
    for url in urls:
        response = client.post("/api/images", json=body | {"image": url}, headers=headers)
        assert response.status_code == 202, response.text
        record = wait_for(client, "images", response.json()["id"], headers)
        assert record["status"] == "succeeded", record
        assert record["request"]["image"] == output["ref"]
        assert (record["outputs"][0]["width"], record["outputs"][0]["height"]) == (96, 64)  # the chained output's size


def test_a_file_url_of_an_unknown_ref_says_to_upload(public: tuple[TestClient, dict, str]) -> None:
    client, _, base = public
    response = submit(client, new_key(client), f"{base}/api/files/sha256:{'0' * 64}")
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "upload it with POST /api/files" in response.json()["error"]["message"]  # type: ignore[attr-defined]
