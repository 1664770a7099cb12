"""The compositing utilities end to end through the api with real gpu workers, and their refusals at submit."""

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import OpenEXR
import png
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.utils.tasks import data_url, png_bytes, wait_for

IMAGE = data_url(png_bytes(80, 56))


def succeeded(client: TestClient, user: dict[str, str], body: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    response = client.post("/api/images", json=body, headers=user)
    assert response.status_code == 202, response.text
    record = wait_for(client, "images", response.json()["id"], user)
    assert record["status"] == "succeeded", record
    [output] = record["outputs"]
    return record, client.get(output["url"]).content


def test_depth_anything_makes_a_16_bit_depth_map_of_the_input_size(platform_client: TestClient, user: dict[str, str]) -> None:
    record, data = succeeded(platform_client, user, {"model": "tiny-depth-anything-2", "image": IMAGE, "steps": 4})
    width, height, _, info = png.Reader(bytes=data).read()
    assert (width, height) == (80, 56) and info["bitdepth"] == 16 and info["greyscale"]
    [output] = record["outputs"]
    assert output["colorspace"] == "raw" and (output["width"], output["height"]) == (80, 56)
    assert record["request"]["output_format"] == "png16" and "steps" not in record["request"] and "seed" not in record["request"]
    assert "steps ignored: it does not apply to tiny-depth-anything-2" in record["logs"]


@pytest.mark.parametrize("matte", ["mask", "alpha"])
def test_sam2_makes_a_matte_of_the_input_size_from_points_and_boxes(platform_client: TestClient, user: dict[str, str], matte: str) -> None:
    body = {"model": "tiny-sam-2", "image": IMAGE, "points": [{"x": 10, "y": 12}], "boxes": [{"x0": 2, "y0": 2, "x1": 70, "y1": 50}], "matte": matte}
    record, data = succeeded(platform_client, user, body)
    image = Image.open(io.BytesIO(data))
    assert image.size == (80, 56) and image.mode == ("L" if matte == "mask" else "RGBA")
    assert json.loads(image.text["deferred-diffusion"])["boxes"] == [{"x0": 2, "y0": 2, "x1": 70, "y1": 50}]


def test_sam3_makes_a_matte_from_a_text_prompt_as_exr(platform_client: TestClient, user: dict[str, str], tmp_path: Path) -> None:
    record, data = succeeded(platform_client, user, {"model": "tiny-sam-3", "image": IMAGE, "prompt": "the red car", "output_format": "exr"})
    path = tmp_path / "matte.exr"
    path.write_bytes(data)
    with OpenEXR.File(str(path)) as exr:
        alpha = exr.channels()["A"].pixels
    assert alpha.shape == (56, 80) and alpha.dtype == np.float32
    assert record["outputs"][0]["content_type"] == "image/x-exr"


@pytest.mark.parametrize("name", ["tiny-swin2sr-x2", "tiny-swin2sr-x4"])
def test_an_upscale_is_exactly_scale_times_the_input(platform_client: TestClient, user: dict[str, str], name: str) -> None:
    scale = int(name[-1])
    record, data = succeeded(platform_client, user, {"model": name, "image": IMAGE, "scale": scale, "output_format": "jpeg", "quality": 80})
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (80 * scale, 56 * scale)
    assert record["request"]["scale"] == scale


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "tiny-sd"}, "tiny-sd generates from a `prompt`; add one"),
        ({"model": "tiny-depth-anything-2"}, "tiny-depth-anything-2 works on an `image`; add one"),
        ({"model": "tiny-sam-2", "image": IMAGE}, "tiny-sam-2 mattes what `points` or `boxes` pick"),
        ({"model": "tiny-sam-2", "image": IMAGE, "points": [{"x": 1, "y": 1}], "boxes": [{"x0": 0, "y0": 0, "x1": 5, "y1": 5}] * 2},
         "takes points for one object, but there are 2 boxes"),
        ({"model": "tiny-sam-3", "image": IMAGE}, "tiny-sam-3 mattes what `prompt` names; add one"),
        ({"model": "tiny-sam-2", "image": IMAGE, "points": [{"x": 80, "y": 10}]}, "points[0] (80, 10) is outside the 80x56 image"),
        ({"model": "tiny-sam-2", "image": IMAGE, "boxes": [{"x0": 0, "y0": 0, "x1": 20, "y1": 57}]}, "boxes[0] reaches (20, 57), outside"),
        ({"model": "tiny-swin2sr-x2", "image": IMAGE, "scale": 4}, "tiny-swin2sr-x2 upscales ×2; set scale to 2, or pick a ×4 model (tiny-swin2sr-x4)"),
        ({"model": "tiny-depth-anything-2", "image": IMAGE, "output_format": "jpeg"}, "does not write output_format 'jpeg'; pick one of png16, exr"),
        ({"model": "tiny-sam-2", "image": IMAGE, "boxes": [{"x0": 5, "y0": 0, "x1": 5, "y1": 5}]}, "x1 and y1 (bottom-right) must be greater"),
    ],
)  # fmt: skip
def test_what_a_utility_cannot_run_is_refused_at_submit(client: TestClient, user: dict[str, str], body: dict[str, Any], message: str) -> None:
    response = client.post("/api/images", json=body, headers=user)
    assert response.status_code == 422, response.text
    assert message in json.dumps(response.json()["error"], ensure_ascii=False)


def test_the_listing_says_what_each_utility_does_and_writes(client: TestClient, user: dict[str, str]) -> None:
    models = {model["name"]: model for model in client.get("/api/images/models", headers=user).json()}
    assert (models["depth-anything-2"]["capabilities"], models["depth-anything-2"]["output_formats"]) == (["depth"], ["png16", "exr"])
    assert (models["sam-3"]["capabilities"], models["sam-3"]["output_formats"]) == (["matte"], ["png", "exr"])
    assert models["swin2sr-x4"]["capabilities"] == ["upscale"] and models["swin2sr-x4"]["output_formats"][0] == "png"
    assert "NEAR IS LARGE" in models["depth-anything-2"]["description"]
