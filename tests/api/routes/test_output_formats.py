"""Outputs comp can use, end to end through the api with real workers: EXR, PNG16, JPEG and image sequences."""

import io
import json
import re

import numpy as np
import OpenEXR
import png
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from core.catalogue import CATALOGUE
from tests.utils.tasks import wait_for


def succeeded(client: TestClient, domain: str, body: dict[str, object], user: dict[str, str]) -> dict[str, object]:
    response = client.post(f"/api/{domain}", json=body, headers=user)
    assert response.status_code == 202, response.text
    record = wait_for(client, domain, response.json()["id"], user)
    assert record["status"] == "succeeded", record
    return record


def test_an_exr_image_opens_with_float_rgb_in_the_recorded_colour_space(platform_client: TestClient, user: dict[str, str]) -> None:
    record = succeeded(platform_client, "images", {"model": "tiny-sd", "prompt": "a red teapot", "seed": 3, "output_format": "exr"}, user)
    [output] = record["outputs"]
    assert (output["content_type"], output["colorspace"]) == ("image/x-exr", "ACEScg") and record["request"]["output_format"] == "exr"
    exr = OpenEXR.File(io.BytesIO(platform_client.get(output["url"]).content), separate_channels=True)
    channels = {name: channel.pixels for name, channel in exr.channels().items()}
    assert sorted(channels) == ["B", "G", "R"] and all(values.dtype == np.float32 and values.shape == (64, 64) for values in channels.values())
    assert exr.header()["colorInteropID"] == "lin_ap1_scene"
    assert json.loads(exr.header()["deferred-diffusion"]) == output["reproducibility"]


def test_png16_and_jpeg_images_are_what_they_say(platform_client: TestClient, user: dict[str, str]) -> None:
    body = {"model": "tiny-sd", "prompt": "a red teapot", "seed": 3}
    [as_png16] = succeeded(platform_client, "images", body | {"output_format": "png16"}, user)["outputs"]
    info = png.Reader(bytes=platform_client.get(as_png16["url"]).content).read()[3]
    assert (info["bitdepth"], info["planes"], as_png16["colorspace"]) == (16, 3, "sRGB")
    [as_jpeg] = succeeded(platform_client, "images", body | {"output_format": "jpeg", "quality": 80}, user)["outputs"]
    image = Image.open(io.BytesIO(platform_client.get(as_jpeg["url"]).content))
    assert (image.format, image.size, as_jpeg["content_type"], as_jpeg["colorspace"]) == ("JPEG", (64, 64), "image/jpeg", "sRGB")


def test_a_png_sequence_has_one_output_per_frame_numbered_from_start_frame(platform_client: TestClient, user: dict[str, str]) -> None:
    body = {"model": "tiny-ltx", "prompt": "a paper boat", "seed": 7, "num_frames": 9, "output_format": "png_sequence", "start_frame": 1001}
    record = succeeded(platform_client, "videos", body, user)
    outputs = record["outputs"]
    assert [output["frame"] for output in outputs] == list(range(1001, 1010))
    assert [output["filename"] for output in outputs] == [f"{record['id']}.{frame}.png" for frame in range(1001, 1010)]
    download = platform_client.get(outputs[0]["url"])
    assert download.headers["content-disposition"] == f'inline; filename="{record["id"]}.1001.png"'
    frame = Image.open(io.BytesIO(download.content))
    assert frame.format == "PNG" and frame.size == (64, 64) and outputs[0]["colorspace"] == "sRGB"
    assert json.loads(frame.text["deferred-diffusion"])["frame"] == 1001


def test_an_exr_sequence_starts_where_asked(platform_client: TestClient, user: dict[str, str]) -> None:
    body = {"model": "tiny-ltx", "prompt": "a paper boat", "seed": 7, "num_frames": 9, "output_format": "exr_sequence", "start_frame": 1}
    outputs = succeeded(platform_client, "videos", body, user)["outputs"]
    assert len(outputs) == 9 and re.fullmatch(r"[0-9a-f]+\.0001\.exr", outputs[0]["filename"]) and outputs[-1]["frame"] == 9
    exr = OpenEXR.File(io.BytesIO(platform_client.get(outputs[0]["url"]).content), separate_channels=True)
    assert {name: channel.pixels.dtype for name, channel in exr.channels().items()} == dict.fromkeys("BGR", np.float32)
    assert outputs[0]["colorspace"] == "ACEScg"


def test_variations_get_a_sequence_each(platform_client: TestClient, user: dict[str, str]) -> None:
    body = {"model": "tiny-ltx", "prompt": "a paper boat", "seed": 7, "num_frames": 9, "num_outputs": 2, "output_format": "png_sequence"}
    record = succeeded(platform_client, "videos", body, user)
    names = [output["filename"] for output in record["outputs"]]
    assert names == [f"{record['id']}-{index}.{frame}.png" for index in (0, 1) for frame in range(1001, 1010)]
    assert [output["seed"] for output in record["outputs"]] == [7] * 9 + [8] * 9


def test_a_tampered_filename_is_refused(platform_client: TestClient, user: dict[str, str]) -> None:
    body = {"model": "tiny-ltx", "prompt": "a paper boat", "seed": 7, "num_frames": 9, "output_format": "png_sequence"}
    url = succeeded(platform_client, "videos", body, user)["outputs"][0]["url"]
    assert platform_client.get(url.replace(".1001.png", ".1002.png")).status_code == 403


@pytest.mark.parametrize(
    ("domain", "body", "message"),
    [
        ("images", {"model": "tiny-sd", "quality": 80}, "quality applies to jpeg and webp, not png"),
        ("images", {"model": "gpt-image-1", "output_format": "exr"}, "gpt-image-1 does not write output_format 'exr'; pick one of png."),
        ("videos", {"model": "replicate/kwaivgi/kling-v2.1-master", "output_format": "exr_sequence"}, "pick one of mp4."),
    ],
)
def test_a_format_the_model_cannot_write_is_refused_at_submit(client: TestClient, user: dict[str, str], domain: str, body: dict[str, object], message: str) -> None:
    response = client.post(f"/api/{domain}", json=body | {"prompt": "x"}, headers=user)
    assert response.status_code == 422 and message in response.json()["error"]["message"], response.text


def test_the_listing_names_each_models_formats(client: TestClient, user: dict[str, str]) -> None:
    listed = {model["name"]: model["output_formats"] for model in client.get("/api/images/models", headers=user).json()}
    assert listed["tiny-sd"] == ["png", "png16", "exr", "jpeg", "webp"] and listed["gpt-image-1"] == ["png"]
    assert all(entry.output_formats for entry in CATALOGUE.values() if entry.domain in ("images", "videos"))
