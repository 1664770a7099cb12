"""ComfyUI workflows end to end: api → comfy queue → real worker → loopback fake ComfyUI."""

import io

from fastapi.testclient import TestClient
from PIL import Image

from tests.utils.tasks import png_bytes, wait_for


def test_template_with_patches_runs_on_the_sidecar(platform_client: TestClient, user: dict[str, str]) -> None:
    body = {"template": "txt2img", "patches": {"positive": {"text": "a cat"}, "size": {"width": 96, "height": 64}, "sampler": {"steps": 3}}}
    response = platform_client.post("/api/workflows", json=body, headers=user)
    assert response.status_code == 202, response.text
    record = wait_for(platform_client, "workflows", response.json()["id"], user)
    assert record["status"] == "succeeded", record
    assert record["model"] == "comfyui"
    assert record["progress"]["step"] == record["progress"]["total"] == 3
    [output] = record["outputs"]
    image = Image.open(io.BytesIO(platform_client.get(output["url"]).content))
    assert image.size == (96, 64) == (output["width"], output["height"])


def test_img2img_template_gets_its_input_uploaded(platform_client: TestClient, user: dict[str, str]) -> None:
    ref = platform_client.post("/api/files", files={"file": ("plate.png", png_bytes(64, 64), "image/png")}, headers=user).json()["ref"]
    response = platform_client.post("/api/workflows", json={"template": "img2img", "inputs": {"input": ref}}, headers=user)
    assert response.status_code == 202, response.text
    record = wait_for(platform_client, "workflows", response.json()["id"], user)
    assert record["status"] == "succeeded", record
    assert record["request"]["inputs"]["input"] == ref


def test_disallowed_node_fails_naming_it(platform_client: TestClient, user: dict[str, str]) -> None:
    graph = {"1": {"class_type": "SaveLatent", "inputs": {}}}
    response = platform_client.post("/api/workflows", json={"workflow": graph}, headers=user)
    record = wait_for(platform_client, "workflows", response.json()["id"], user)
    assert record["status"] == "failed"
    assert record["error"]["code"] == "comfy_node_not_allowed" and "SaveLatent" in record["error"]["message"]


def test_comfyui_is_listed_available(platform_client: TestClient, user: dict[str, str]) -> None:
    models = {model["name"]: model for model in platform_client.get("/api/workflows/models", headers=user).json()}
    assert models["comfyui"]["available"] is True
    assert models["comfyui"]["queue"] == "comfy"
