"""ComfyUI workflows end to end: api → comfy queue → real worker → loopback fake ComfyUI."""

import io
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.main import create_app
from core.schemas import Queue
from tests.fakes import FakeServices
from tests.fakes.comfyui_server import unused_url
from tests.utils.platform import RedisServer, WorkerFleet, make_settings
from tests.utils.tasks import new_key, partly_invalid_workflow, png_bytes, wait_for


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


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        ({"template": "txt2imgg"}, "comfy_unknown_template", "one of: img2img, txt2img"),
        ({"workflow": {"1": {"class_type": "SaveLatent", "inputs": {}}}}, "comfy_node_not_allowed", "node 1 (SaveLatent)"),
        ({"template": "txt2img", "patches": {"postive": {"text": "x"}}}, "comfy_unknown_node", "`patches` names node 'postive'"),
        ({"template": "img2img", "inputs": {"plate": "sha256:" + "0" * 64}}, "comfy_unknown_node", "`inputs` names node 'plate'"),
        ({"template": "img2img"}, "comfy_missing_input", "10 (LoadImage 'input')"),
        ({"template": "txt2img", "workflow": {}}, "invalid_request", "exactly one of"),
    ],
)
def test_bad_workflows_are_422_at_submit_and_nothing_is_queued(
    client: TestClient, user: dict[str, str], redis_server: RedisServer, body: dict[str, Any], code: str, says: str
) -> None:
    response = client.post("/api/workflows", json=body, headers=user)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code and says in error["message"]
    key_id = user["X-API-Key"].split("_")[1]
    assert redis_server.client().scard(f"dd:active:{key_id}") == 0


def test_comfyui_is_listed_available_with_its_templates(platform_client: TestClient, user: dict[str, str]) -> None:
    models = {model["name"]: model for model in platform_client.get("/api/workflows/models", headers=user).json()}
    comfyui = models["comfyui"]
    assert comfyui["available"] is True
    assert comfyui["queue"] == "comfy"
    templates = {template["name"]: template for template in comfyui["templates"]}
    assert set(templates) == {"img2img", "txt2img"}
    assert templates["txt2img"]["patchable"]["size"] == ["width", "height", "batch_size"]
    assert templates["txt2img"]["patchable"]["sampler"][:2] == ["seed", "steps"] and templates["txt2img"]["inputs"] == []
    assert templates["img2img"]["inputs"] == ["input"] and "input" not in templates["img2img"]["patchable"]
    assert templates["img2img"]["description"]
    assert all(model["templates"] is None for model in platform_client.get("/api/images/models", headers=user).json())


def test_previews_reach_the_record_as_pngs(platform_client: TestClient, user: dict[str, str], fakes: FakeServices) -> None:
    fakes.comfy.step_delay_s = 0.1  # time to see the run in progress
    try:
        body = {"template": "txt2img", "patches": {"size": {"width": 64, "height": 64}, "sampler": {"steps": 20}}}
        task_id = platform_client.post("/api/workflows", json=body, headers=user).json()["id"]
        deadline = time.monotonic() + 30
        record = wait_for(platform_client, "workflows", task_id, user, statuses=("running",))
        while record["preview"] is None and record["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
            record = platform_client.get(f"/api/workflows/{task_id}", headers=user).json()
        preview = record["preview"]
        assert preview is not None, record
        assert preview["step"] >= 1
        response = platform_client.get(preview["url"])
        assert response.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(response.content)).format == "PNG"
    finally:
        fakes.comfy.step_delay_s = 0.0
    record = wait_for(platform_client, "workflows", task_id, user)
    assert record["status"] == "succeeded" and record["preview"] is None and len(record["outputs"]) == 1


def test_a_workflow_comfyui_accepts_only_in_part_fails_naming_the_node(platform_client: TestClient, user: dict[str, str]) -> None:
    nodes = partly_invalid_workflow()
    response = platform_client.post("/api/workflows", json={"workflow": nodes}, headers=user)
    assert response.status_code == 202, response.text

    record = wait_for(platform_client, "workflows", response.json()["id"], user)

    assert record["status"] == "failed" and record["outputs"] == []
    assert record["error"]["code"] == "comfy_node_errors"
    assert "node 7 (CheckpointLoaderSimple)" in record["error"]["message"] and "not-installed.safetensors" in record["error"]["message"]


def test_a_workflow_is_refused_at_submit_while_no_comfy_worker_reaches_comfyui(tmp_path: Path, tiny_models: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    settings = make_settings(server.url, tmp_path / "data", tiny_models, comfy_url=unused_url())
    fleet = WorkerFleet(settings, tmp_path)
    try:
        fleet.start(Queue.comfy)
        fleet.wait_ready([Queue.comfy])
        with TestClient(create_app(settings)) as client:
            response = client.post("/api/workflows", json={"template": "txt2img"}, headers=new_key(client))
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "comfy_unavailable"
        assert "DDIFFUSION_COMFY_URL" in response.json()["error"]["message"]
        assert server.client().llen("comfy") == 0
    finally:
        fleet.stop()
        server.stop()
