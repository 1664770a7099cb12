"""http(s) inputs: fetched only from allowed hosts, without redirects, within size limits."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.settings import Settings
from tests.fakes.file_server import serve_files
from tests.utils.tasks import new_key, png_bytes

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
