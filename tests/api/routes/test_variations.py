"""num_outputs: several variations in one task and one batched pipeline call, output i with seed
seed + i, each with its own reproducibility record."""

import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from core.catalogue import CATALOGUE, normalize
from core.errors import InvalidRequestError
from core.schemas import ImageRequest
from tests.utils.tasks import wait_for
from tests.utils.video import decode_mp4

IMAGE = {"model": "tiny-sd", "prompt": "a red teapot", "width": 64, "height": 64, "steps": 3, "seed": 40}


def run(client: TestClient, headers: dict[str, str], domain: str, body: dict[str, object]) -> dict[str, object]:
    response = client.post(f"/api/{domain}", json=body, headers=headers)
    assert response.status_code == 202, response.text
    record = wait_for(client, domain, response.json()["id"], headers, timeout_s=180)
    assert record["status"] == "succeeded", record
    return record


def pixels(client: TestClient, output: dict[str, object]) -> tuple[bytes, np.ndarray, dict[str, object]]:
    data = client.get(str(output["url"])).content
    image = Image.open(io.BytesIO(data))
    return data, np.asarray(image.convert("RGB"), dtype=int), json.loads(image.text["deferred-diffusion"])


def test_four_variations_in_one_task_each_with_its_seed(platform_client: TestClient, user: dict[str, str]) -> None:
    record = run(platform_client, user, "images", IMAGE | {"num_outputs": 4})
    outputs = record["outputs"]
    assert [output["seed"] for output in outputs] == [40, 41, 42, 43]
    decoded = [pixels(platform_client, output) for output in outputs]
    for index, (output, (_, image, embedded)) in enumerate(zip(outputs, decoded, strict=True)):
        assert image.shape == (64, 64, 3)
        assert output["reproducibility"]["seed"] == embedded["seed"] == 40 + index
        assert (embedded["num_outputs"], embedded["output_index"]) == (4, index)
    assert len({data for data, _, _ in decoded}) == 4, "four different variations"


def test_a_variation_is_reproduced_by_the_same_request_and_alone_by_its_seed(platform_client: TestClient, user: dict[str, str]) -> None:
    batch = run(platform_client, user, "images", IMAGE | {"num_outputs": 3, "seed": 50})
    again = run(platform_client, user, "images", IMAGE | {"num_outputs": 3, "seed": 50})
    first = [pixels(platform_client, output) for output in batch["outputs"]]
    assert [data for data, _, _ in first] == [pixels(platform_client, output)[0] for output in again["outputs"]]
    # Alone with seed + i: the same image; a batched call's arithmetic may differ from a single
    # call's in the last bit, so a pixel may be one level off, no more.
    alone = run(platform_client, user, "images", IMAGE | {"seed": 52})
    _, single, embedded = pixels(platform_client, alone["outputs"][0])
    difference = np.abs(single - first[2][1])
    assert difference.max() <= 1 and difference.mean() < 0.01, (difference.max(), difference.mean())
    assert "num_outputs" not in embedded
    other = np.abs(single - first[0][1]).mean()
    assert other > 5, "another seed is another image"


def test_video_variations(platform_client: TestClient, user: dict[str, str]) -> None:
    body = {"model": "tiny-ltx", "prompt": "waves", "width": 64, "height": 64, "num_frames": 9, "fps": 8, "seed": 3, "num_outputs": 2}
    record = run(platform_client, user, "videos", body)
    assert [output["seed"] for output in record["outputs"]] == [3, 4]
    videos = [platform_client.get(output["url"]).content for output in record["outputs"]]
    assert all(decode_mp4(video) == (9, (64, 64), 8.0) for video in videos)
    assert videos[0] != videos[1]
    assert [output["reproducibility"]["output_index"] for output in record["outputs"]] == [0, 1]


def test_more_outputs_than_a_model_makes_are_refused_at_submit(client: TestClient, user: dict[str, str]) -> None:
    too_many = client.post("/api/images", json=IMAGE | {"num_outputs": 9}, headers=user)
    assert too_many.status_code == 422
    with pytest.raises(InvalidRequestError, match="gpt-image-1 makes one output per task"):
        normalize(CATALOGUE["gpt-image-1"], ImageRequest(model="gpt-image-1", prompt="x", num_outputs=2))
    params, _ = normalize(CATALOGUE["tiny-sd"], ImageRequest(model="tiny-sd", prompt="x"))
    assert "num_outputs" not in params, "one output: the request runs as before"
    listed = {model["name"]: model for model in client.get("/api/images/models", headers=user).json()}
    assert listed["tiny-sd"]["limits"]["max_outputs"] == 8 and listed["gpt-image-1"]["limits"]["max_outputs"] == 1
