"""Replicate models end to end: api → cpu worker → real replicate SDK → the session's fake Replicate."""

import io

from fastapi.testclient import TestClient
from PIL import Image

from tests.fakes import FakeServices
from tests.utils.tasks import png_bytes, wait_for

FLUX = "replicate/black-forest-labs/flux-1.1-pro"
KLING = "replicate/kwaivgi/kling-v2.1"
KLING_MASTER = "replicate/kwaivgi/kling-v2.1-master"


def submit(client: TestClient, domain: str, headers: dict[str, str], body: dict[str, object]) -> dict[str, object]:
    response = client.post(f"/api/{domain}", json=body, headers=headers)
    assert response.status_code == 202, response.text
    record = wait_for(client, domain, response.json()["id"], headers)
    assert record["status"] == "succeeded", record
    return record


def download(client: TestClient, url: str) -> bytes:
    response = client.get(url)  # no API key: the signature is the permission
    assert response.status_code == 200, response.text
    return response.content


def test_replicate_models_are_listed_as_available(platform_client: TestClient, user: dict[str, str]) -> None:
    images = {model["name"]: model for model in platform_client.get("/api/images/models", headers=user).json()}
    videos = {model["name"]: model for model in platform_client.get("/api/videos/models", headers=user).json()}
    assert images[FLUX]["available"] is True and images[FLUX]["queue"] == "cpu"
    assert videos[KLING]["available"] is True and videos[KLING_MASTER]["available"] is True


def test_flux_image_comes_back_through_our_signed_url(platform_client: TestClient, user: dict[str, str], fakes: FakeServices) -> None:
    record = submit(
        platform_client, "images", user, {"model": FLUX, "prompt": "a lighthouse at dusk", "width": 330, "height": 260, "seed": 11}
    )
    assert (record["request"]["width"], record["request"]["height"]) == (320, 256)  # snapped to multiples of 32
    [output] = record["outputs"]
    assert output["url"].startswith("http://testserver/api/files/") and fakes.replicate.base_url not in output["url"]
    with Image.open(io.BytesIO(download(platform_client, output["url"]))) as image:
        assert (image.format, image.size) == ("PNG", (320, 256))
    assert (output["width"], output["height"], output["content_type"]) == (320, 256, "image/png")
    assert any(line.startswith("replicate: step") for line in record["logs"])
    assert record["progress"]["fraction"] == 1.0


def test_kling_text_to_video_returns_an_mp4(platform_client: TestClient, user: dict[str, str], fakes: FakeServices) -> None:
    record = submit(platform_client, "videos", user, {"model": KLING_MASTER, "prompt": "waves roll in", "width": 1280, "height": 720})
    [output] = record["outputs"]
    assert output["content_type"] == "video/mp4"
    assert download(platform_client, output["url"]) == fakes.replicate.video
    inputs = [request.body["input"] for request in fakes.replicate.requests if request.path.endswith("/kling-v2.1-master/predictions")]
    assert {"prompt": "waves roll in", "duration": 5, "aspect_ratio": "16:9"} in inputs


def test_kling_animates_an_uploaded_image(platform_client: TestClient, user: dict[str, str], fakes: FakeServices) -> None:
    start = png_bytes(120, 80, (10, 200, 90))
    uploaded = platform_client.post("/api/files", files={"file": ("plate.png", start, "image/png")}, headers=user)
    assert uploaded.status_code == 201, uploaded.text
    record = submit(platform_client, "videos", user, {"model": KLING, "prompt": "the plate comes alive", "image": uploaded.json()["ref"]})
    [output] = record["outputs"]
    assert output["content_type"] == "video/mp4"
    assert download(platform_client, output["url"])[4:8] == b"ftyp"
    # The start frame reached Replicate byte for byte, through its files API, and was removed after.
    sent = [content for content_type, content in fakes.replicate.uploads.values() if content == start]
    assert sent == [start]
    [file_id] = [file_id for file_id, (_, content) in fakes.replicate.uploads.items() if content == start]
    assert file_id in fakes.replicate.deleted_uploads


def test_kling_v2_1_without_an_image_is_422(platform_client: TestClient, user: dict[str, str]) -> None:
    response = platform_client.post("/api/videos", json={"model": KLING, "prompt": "waves"}, headers=user)
    assert response.status_code == 422
    error = response.json()["error"]
    assert "add `image`" in error["message"] and KLING_MASTER in error["details"]["models"]
