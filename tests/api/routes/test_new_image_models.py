"""The newer generators end to end through the api with real gpu workers: FLUX.2 editing with
`references`, Z-Image text to image, and the submit-time refusals that keep "accepted means it runs"."""

import io
import json

from fastapi.testclient import TestClient
from PIL import Image

from tests.utils.tasks import data_url, png_bytes, wait_for


def output_image(client: TestClient, record: dict[str, object]) -> Image.Image:
    [output] = record["outputs"]  # type: ignore[misc]
    return Image.open(io.BytesIO(client.get(output["url"]).content))


def test_flux_2_edits_an_image_with_references(platform_client: TestClient, user: dict[str, str]) -> None:
    upload = platform_client.post("/api/files", files={"file": ("ref.png", png_bytes(128, 96, (0, 0, 255)))}, headers=user)
    references = [upload.json()["ref"], data_url(png_bytes(64, 200, (0, 200, 0)))]
    body = {"model": "tiny-flux-2", "prompt": "the teapot in the colours of the references", "seed": 4,
            "image": data_url(png_bytes(96, 64)), "references": references}  # fmt: skip
    response = platform_client.post("/api/images", json=body, headers=user)
    assert response.status_code == 202, response.text
    record = wait_for(platform_client, "images", response.json()["id"], user)
    assert record["status"] == "succeeded", record
    # Every input is stored before enqueueing: the data URL became a ref too.
    assert len(record["request"]["references"]) == 2 and all(ref.startswith("sha256:") for ref in record["request"]["references"])
    image = output_image(platform_client, record)
    assert image.format == "PNG" and image.size == (96, 64)  # the size of `image`
    reproducibility = json.loads(image.text["deferred-diffusion"])
    assert reproducibility["pipeline"] == "Flux2Pipeline" and reproducibility["mode"] == "img2img"


def test_z_image_makes_an_image_from_a_prompt(platform_client: TestClient, user: dict[str, str]) -> None:
    body = {"model": "tiny-z-image", "prompt": "a red teapot", "width": 96, "height": 64, "seed": 2}
    record = wait_for(platform_client, "images", platform_client.post("/api/images", json=body, headers=user).json()["id"], user)
    assert record["status"] == "succeeded", record
    image = output_image(platform_client, record)
    assert image.size == (96, 64) and json.loads(image.text["deferred-diffusion"])["pipeline"] == "ZImagePipeline"


def test_references_are_refused_by_models_without_the_capability(client: TestClient, user: dict[str, str]) -> None:
    body = {"model": "tiny-flux-kontext", "prompt": "x", "image": data_url(png_bytes()), "references": [data_url(png_bytes())]}
    response = client.post("/api/images", json=body, headers=user)
    assert response.status_code == 422
    error = response.json()["error"]
    assert "tiny-flux-kontext does not take `references`" in error["message"] and "flux-2" in error["message"]
    assert {"tiny-flux-2", "flux-2", "qwen-image-edit"} <= set(error["details"]["references_models"])


def test_references_need_the_image_they_edit(client: TestClient, user: dict[str, str]) -> None:
    body = {"model": "tiny-flux-2", "prompt": "x", "references": [data_url(png_bytes())]}
    response = client.post("/api/images", json=body, headers=user)
    assert response.status_code == 422 and "add `image`" in response.json()["error"]["message"]


def test_flux_2_refuses_an_aspect_beyond_8_to_1(client: TestClient, user: dict[str, str]) -> None:
    response = client.post("/api/images", json={"model": "tiny-flux-2", "prompt": "x", "width": 576, "height": 64}, headers=user)
    assert response.status_code == 422 and "beyond tiny-flux-2's 8:1" in response.json()["error"]["message"]
    # An image's aspect that its size would follow is refused the same way, before anything runs.
    body = {"model": "tiny-flux-2", "prompt": "x", "image": data_url(png_bytes(900, 100))}
    response = client.post("/api/images", json=body, headers=user)
    assert response.status_code == 422 and "8:1" in response.json()["error"]["message"]


def test_qwen_image_edit_needs_an_image(client: TestClient, user: dict[str, str]) -> None:
    response = client.post("/api/images", json={"model": "tiny-qwen-image-edit", "prompt": "make it blue"}, headers=user)
    assert response.status_code == 422 and "does not do txt2img" in response.json()["error"]["message"]
