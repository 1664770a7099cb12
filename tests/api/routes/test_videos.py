"""Local video models end to end through the api with real gpu workers."""

import pytest
from fastapi.testclient import TestClient

from core.catalogue import CATALOGUE
from tests.utils.tasks import data_url, png_bytes, wait_for
from tests.utils.video import decode_mp4

TINY_VIDEO_MODES = [(name, mode) for name, entry in CATALOGUE.items() if entry.tiny and entry.engine == "diffusers_video" for mode in entry.modes]


@pytest.mark.parametrize(("model", "mode"), TINY_VIDEO_MODES)
def test_twin_mode_succeeds_with_an_mp4_of_the_asked_frames(platform_client: TestClient, user: dict[str, str], model: str, mode: str) -> None:
    body = {"model": model, "prompt": "a red teapot spinning", "width": 96, "height": 64, "num_frames": 10, "fps": 12, "seed": 11}
    if mode == "img2img":
        body["image"] = data_url(png_bytes(96, 64))
    response = platform_client.post("/api/videos", json=body, headers=user)
    assert response.status_code == 202, response.text
    record = wait_for(platform_client, "videos", response.json()["id"], user)
    assert record["status"] == "succeeded", record
    assert record["request"]["num_frames"] == 9
    assert any(line.startswith("num_frames snapped from 10 to 9") for line in record["logs"])
    [output] = record["outputs"]
    assert output["content_type"] == "video/mp4" and (output["width"], output["height"]) == (96, 64)
    assert output["reproducibility"]["mode"] == mode and output["reproducibility"]["pipeline"] == CATALOGUE[model].modes[mode]
    download = platform_client.get(output["url"])
    assert download.status_code == 200 and download.headers["content-type"] == "video/mp4"
    assert decode_mp4(download.content) == (9, (96, 64), 12.0)


def test_local_video_models_are_listed_with_their_defaults(client: TestClient, user: dict[str, str]) -> None:
    models = {model["name"]: model for model in client.get("/api/videos/models", headers=user).json()}
    assert models["ltx-video"]["defaults"]["num_frames"] == 121 and models["ltx-video"]["limits"]["frame_multiple"] == 8
    assert {"video", "txt2img", "img2img"} <= set(models["tiny-ltx"]["capabilities"])
    assert "img2img" not in models["wan-2.1"]["capabilities"]


def test_what_a_local_video_model_cannot_make_is_refused_at_submit(client: TestClient, user: dict[str, str]) -> None:
    response = client.post("/api/videos", json={"model": "tiny-wan", "prompt": "x", "image": data_url(png_bytes())}, headers=user)
    assert response.status_code == 422 and "does not do image-to-video" in response.json()["error"]["message"]
    response = client.post("/api/videos", json={"model": "tiny-ltx", "prompt": "x", "num_frames": 41}, headers=user)
    assert response.status_code == 422 and "num_frames=41 is above tiny-ltx's limit of 33" in response.json()["error"]["message"]
