"""Wan 2.2 and HunyuanVideo 1.5 end to end through the api with real gpu workers."""

from typing import Any

from fastapi.testclient import TestClient

from tests.utils.tasks import data_url, png_bytes, wait_for
from tests.utils.video import decode_mp4


def finished(client: TestClient, user: dict[str, str], body: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    response = client.post("/api/videos", json={"prompt": "a red teapot spinning", "seed": 3, "fps": 12, **body}, headers=user)
    assert response.status_code == 202, response.text
    record = wait_for(client, "videos", response.json()["id"], user)
    assert record["status"] == "succeeded", record
    [output] = record["outputs"]
    download = client.get(output["url"])
    assert download.status_code == 200 and download.headers["content-type"] == "video/mp4"
    return record, download.content


def test_wan_22_animates_an_image_at_its_size(platform_client: TestClient, user: dict[str, str]) -> None:
    record, mp4 = finished(platform_client, user, {"model": "tiny-wan-2.2", "image": data_url(png_bytes(128, 64)), "num_frames": 12})
    assert (record["request"]["width"], record["request"]["height"], record["request"]["num_frames"]) == (128, 64, 9)
    assert record["outputs"][0]["reproducibility"]["pipeline"] == "WanImageToVideoPipeline"
    assert decode_mp4(mp4) == (9, (128, 64), 12.0)


def test_the_hunyuan_family_animates_an_image_with_its_image_to_video_checkpoint(platform_client: TestClient, user: dict[str, str]) -> None:
    record, mp4 = finished(platform_client, user, {"model": "tiny-hunyuan-video-1.5", "image": data_url(png_bytes(120, 72))})
    assert record["model"] == "tiny-hunyuan-video-1.5-i2v"
    assert any("tiny-hunyuan-video-1.5 → tiny-hunyuan-video-1.5-i2v" in line for line in record["logs"])
    assert decode_mp4(mp4) == (9, (96, 64), 12.0)  # of its sizes, the nearest the image's 5:3


def test_the_new_video_models_are_listed(client: TestClient, user: dict[str, str]) -> None:
    models = {model["name"]: model for model in client.get("/api/videos/models", headers=user).json()}
    assert {"video", "txt2img", "img2img"} <= set(models["wan-2.2"]["capabilities"]) and models["wan-2.2"]["limits"]["size_multiple"] == 32
    assert set(models["hunyuan-video-1.5"]["capabilities"]) == {"video", "txt2img", "img2img"}
    assert models["hunyuan-video-1.5-i2v"]["limits"]["sizes"][0] == "848x480"
