"""Image-to-video without width/height: the video keeps the first frame's size."""

from fastapi.testclient import TestClient

from tests.utils.tasks import data_url, png_bytes, wait_for
from tests.utils.video import decode_mp4


def test_image_to_video_without_a_size_keeps_the_input_size(platform_client: TestClient, user: dict[str, str]) -> None:
    body = {"model": "tiny-ltx", "prompt": "a plate spinning", "image": data_url(png_bytes(256, 160)), "num_frames": 9, "fps": 8, "seed": 2}
    response = platform_client.post("/api/videos", json=body, headers=user)
    assert response.status_code == 202, response.text
    record = wait_for(platform_client, "videos", response.json()["id"], user)
    assert record["status"] == "succeeded", record
    download = platform_client.get(record["outputs"][0]["url"])
    assert decode_mp4(download.content) == (9, (256, 160), 8.0)
    assert any("width and height from the 256x160 image" in line for line in record["logs"]), record["logs"]
