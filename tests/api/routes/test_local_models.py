"""Every tiny twin in every mode, end to end through the api with real gpu workers."""

import io
import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.main import create_app
from core.catalogue import CATALOGUE
from tests.utils.loras import make_lora
from tests.utils.platform import RedisServer, make_settings
from tests.utils.tasks import data_url, event_records, new_key, png_bytes, wait_for

TINY_IMAGE_MODES = [
    (name, mode) for name, entry in CATALOGUE.items() if entry.tiny and entry.domain == "images" for mode in entry.modes or entry.routes
]


def mode_inputs(mode: str) -> dict[str, str]:
    inputs = {"image": data_url(png_bytes(96, 64))} if mode != "txt2img" else {}
    if mode == "inpaint":
        inputs["mask"] = data_url(png_bytes(96, 64, (255, 255, 255)))
    return inputs


@pytest.mark.parametrize(("model", "mode"), TINY_IMAGE_MODES)
def test_twin_mode_succeeds_with_a_png_and_its_reproducibility_record(platform_client: TestClient, user: dict[str, str], model: str, mode: str) -> None:
    body = {"model": model, "prompt": "a red teapot", "width": 96, "height": 64, "seed": 11, **mode_inputs(mode)}
    response = platform_client.post("/api/images", json=body, headers=user)
    assert response.status_code == 202, response.text
    record = wait_for(platform_client, "images", response.json()["id"], user)
    assert record["status"] == "succeeded", record
    entry = CATALOGUE[model]
    if entry.routes:
        assert record["model"] == entry.routes[mode]
        assert f"{model} → {entry.routes[mode]} ({mode})" in record["logs"]
    [output] = record["outputs"]
    reproducibility = output["reproducibility"]
    assert reproducibility["model"] == record["model"] and reproducibility["mode"] == mode and reproducibility["seed"] == 11
    assert reproducibility["pipeline"] == CATALOGUE[record["model"]].modes[mode]
    assert (reproducibility["width"], reproducibility["height"]) == (record["request"]["width"], record["request"]["height"])
    image = Image.open(io.BytesIO(platform_client.get(output["url"]).content))
    assert image.format == "PNG" and image.size == (output["width"], output["height"]) == (96, 64)
    assert json.loads(image.text["deferred-diffusion"]) == reproducibility


def test_a_mode_the_model_lacks_is_refused_at_submit(client: TestClient, user: dict[str, str]) -> None:
    body = {"model": "tiny-flux-kontext", "prompt": "x", **mode_inputs("inpaint")}
    response = client.post("/api/images", json=body, headers=user)
    assert response.status_code == 422
    assert "does not do inpaint" in response.json()["error"]["message"]
    response = client.post("/api/images", json={"model": "tiny-sd", "prompt": "x", "mask": data_url(png_bytes())}, headers=user)
    assert response.status_code == 422 and "`mask` needs the `image`" in response.json()["error"]["message"]


def test_previews_and_eta_reach_the_event_stream(platform_client: TestClient, user: dict[str, str]) -> None:
    body = {"model": "tiny-sd", "prompt": "previews", "steps": 12, "seed": 3}
    task_id = platform_client.post("/api/images", json=body, headers=user).json()["id"]
    records = event_records(platform_client, "images", task_id, user)
    assert records[-1]["status"] == "succeeded" and records[-1]["preview"] is None
    previews = [record["preview"] for record in records if record["preview"]]
    assert previews and {preview["step"] for preview in previews} <= {5, 10}
    preview = Image.open(io.BytesIO(platform_client.get(previews[-1]["url"]).content))
    assert preview.format == "PNG" and preview.size == (64, 64)
    assert any(record["progress"]["eta_s"] is not None for record in records if record["status"] == "running")


def test_a_lora_uploaded_as_a_file_applies_to_its_request_only(platform_client: TestClient, user: dict[str, str], tiny_models: Path, tmp_path: Path) -> None:
    lora_file = make_lora(tiny_models, tmp_path)
    uploaded = platform_client.post("/api/files", files={"file": ("teapot.safetensors", lora_file.read_bytes())}, headers=user)
    assert uploaded.status_code == 201, uploaded.text
    lora = uploaded.json()["ref"]

    def image_ref(**fields: object) -> str:
        body = {"model": "tiny-sd", "prompt": "a red teapot", "seed": 5} | fields
        record = wait_for(platform_client, "images", platform_client.post("/api/images", json=body, headers=user).json()["id"], user)
        assert record["status"] == "succeeded", record
        return record["outputs"][0]["ref"]

    plain = image_ref()
    assert image_ref(loras=[{"ref": lora, "scale": 0.8}]) != plain
    assert image_ref() == plain


def test_a_lora_that_is_not_safetensors_is_refused_at_submit(client: TestClient, user: dict[str, str]) -> None:
    ref = client.post("/api/files", files={"file": ("x.png", png_bytes())}, headers=user).json()["ref"]
    response = client.post("/api/images", json={"model": "tiny-sd", "prompt": "x", "loras": [{"ref": ref}]}, headers=user)
    assert response.status_code == 422
    assert "`loras[0].ref`: not a .safetensors file" in response.json()["error"]["message"]


def test_workers_advertise_the_models_they_hold_warm(platform_client: TestClient, user: dict[str, str]) -> None:
    task_id = platform_client.post("/api/images", json={"model": "tiny-sdxl", "prompt": "warm"}, headers=user).json()["id"]
    assert wait_for(platform_client, "images", task_id, user)["status"] == "succeeded"
    deadline = time.monotonic() + 20  # the next heartbeats carry it
    while True:
        listing = {model["name"]: model for model in platform_client.get("/api/images/models", headers=user).json()}
        if listing["tiny-sdxl"]["warm"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert listing["tiny-sdxl"]["warm"] and listing["tiny-sdxl"]["available"]
    assert not listing["sdxl"]["warm"] and not listing["sdxl"]["available"]


def test_a_model_is_accepted_while_no_worker_of_its_queue_is_live(tmp_path: Path, models_dir: Path) -> None:
    # A platform still starting: no heartbeat yet, so a worker with the weights may yet come up.
    server = RedisServer(tmp_path / "redis").start()
    try:
        with TestClient(create_app(make_settings(server.url, tmp_path / "data", models_dir))) as client:
            response = client.post("/api/images", json={"model": "sdxl", "prompt": "x"}, headers=new_key(client))
            assert response.status_code == 202, response.text
    finally:
        server.stop()
