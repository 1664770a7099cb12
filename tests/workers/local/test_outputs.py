"""The output encoder: PNG 8/16-bit, scene-linear EXR through OpenColorIO, JPEG/WebP, depth and mattes."""

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import OpenEXR
import png
import PyOpenColorIO as ocio
import pytest
from PIL import Image

from core.settings import Settings
from workers.local.outputs import ImageEncoder

RECORD = {"model": "tiny-sd", "seed": 7}
# Linear Rec.709 → ACEScg (AP1, D60 via Bradford), as published with the ACES configs; sRGB red is linear (1, 0, 0).
REC709_RED_IN_ACESCG = (0.6131, 0.0702, 0.0206)


@pytest.fixture(scope="module")
def encoder() -> ImageEncoder:
    return ImageEncoder(Settings())


def exr(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    file = OpenEXR.File(io.BytesIO(data), separate_channels=True)
    return file.header(), {name: channel.pixels for name, channel in file.channels().items()}


def test_png16_has_16_bits_per_channel_and_the_record(encoder: ImageEncoder) -> None:
    encoded = encoder.image(Image.new("RGB", (6, 4), (128, 0, 255)), "png16", metadata=RECORD)
    width, height, rows, info = png.Reader(bytes=encoded.data).read()
    assert (width, height, info["bitdepth"], info["planes"]) == (6, 4, 16, 3)
    assert list(next(iter(rows))[:3]) == [128 * 257, 0, 65535]
    assert (encoded.content_type, encoded.extension, encoded.colorspace) == ("image/png", "png", "sRGB")
    assert json.loads(Image.open(io.BytesIO(encoded.data)).text["deferred-diffusion"]) == RECORD


def test_png16_keeps_the_precision_of_float_pixels(encoder: ImageEncoder) -> None:
    pixels = np.full((2, 2, 4), 0.3, np.float32)
    _, _, rows, info = png.Reader(bytes=encoder.image(pixels, "png16").data).read()
    assert info["alpha"] and list(next(iter(rows))[:4]) == [round(0.3 * 65535)] * 4  # 19661, between two 8-bit steps


def test_exr_is_float_scene_linear_in_the_ocio_target(encoder: ImageEncoder) -> None:
    encoded = encoder.image(Image.new("RGB", (5, 3), (255, 0, 0)), "exr", metadata=RECORD)
    header, channels = exr(encoded.data)
    assert sorted(channels) == ["B", "G", "R"] and all(values.dtype == np.float32 and values.shape == (3, 5) for values in channels.values())
    assert [float(channels[name][0, 0]) for name in "RGB"] == pytest.approx(REC709_RED_IN_ACESCG, abs=2e-4)
    assert (encoded.content_type, encoded.extension, encoded.colorspace) == ("image/x-exr", "exr", "ACEScg")
    assert header["colorInteropID"] == "lin_ap1_scene" and json.loads(header["deferred-diffusion"]) == RECORD


def test_exr_in_linear_rec709_undoes_the_srgb_curve() -> None:
    encoder = ImageEncoder(Settings(ocio_target="Linear Rec.709 (sRGB)"))
    _, channels = exr(encoder.image(np.full((2, 2, 3), 0.5, np.float32), "exr").data)
    assert float(channels["G"][1, 1]) == pytest.approx(0.2140, abs=1e-4)  # sRGB 0.5 is 21.4% linear light


def test_exr_alpha_is_never_colour_converted_and_colour_is_premultiplied(encoder: ImageEncoder) -> None:
    _, channels = exr(encoder.image(Image.new("RGBA", (2, 2), (255, 0, 0, 51)), "exr").data)
    assert float(channels["A"][0, 0]) == pytest.approx(0.2)
    assert float(channels["R"][0, 0]) == pytest.approx(REC709_RED_IN_ACESCG[0] * 0.2, abs=1e-4)


def test_a_matte_is_data_one_channel_in_png_and_exr(encoder: ImageEncoder) -> None:
    matte = Image.new("L", (4, 2), 204)
    as_png = encoder.image(matte, "png")
    assert Image.open(io.BytesIO(as_png.data)).mode == "L" and as_png.colorspace == "raw"
    as_exr = encoder.image(matte, "exr")
    _, channels = exr(as_exr.data)
    assert list(channels) == ["A"] and float(channels["A"][1, 3]) == pytest.approx(0.8) and as_exr.colorspace == "raw"


@pytest.mark.parametrize(("output_format", "extension"), [("jpeg", "jpg"), ("webp", "webp")])
def test_jpeg_and_webp_decode_at_their_quality_with_the_record(encoder: ImageEncoder, output_format: str, extension: str) -> None:
    noise = Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    low, high = (encoder.image(noise, output_format, quality, RECORD) for quality in (10, 95))
    decoded = Image.open(io.BytesIO(high.data))
    assert decoded.format == output_format.upper() and decoded.size == (64, 64) and len(low.data) < len(high.data)
    assert (high.content_type, high.extension, high.colorspace) == (f"image/{output_format}", extension, "sRGB")
    assert json.loads(decoded.getexif()[0x010E]) == RECORD


def test_depth_png16_spans_the_range_and_exr_keeps_the_values(encoder: ImageEncoder) -> None:
    depth = np.array([[2.0, 3.0], [4.0, 6.0]], np.float32)
    as_png = encoder.depth(depth, "png16", RECORD)
    image = Image.open(io.BytesIO(as_png.data))
    assert image.mode == "I;16" and [image.getpixel(xy) for xy in ((0, 0), (1, 0), (1, 1))] == [0, round(65535 / 4), 65535]
    assert json.loads(image.text["deferred-diffusion"]) == RECORD | {"depth_range": [2.0, 6.0]} and as_png.colorspace == "raw"
    header, channels = exr(encoder.depth(depth, "exr", RECORD).data)
    assert list(channels) == ["Z"] and channels["Z"].dtype == np.float32 and np.array_equal(channels["Z"], depth)
    assert "colorInteropID" not in header


def test_a_studio_config_file_is_read_and_a_wrong_target_names_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "config.ocio"
    config.write_text(ocio.Config.CreateFromFile("ocio://studio-config-latest").serialize())
    assert ImageEncoder(Settings(ocio_config=str(config))).linear_space == "ACEScg"
    with pytest.raises(RuntimeError, match="DDIFFUSION_OCIO_TARGET 'Linear Rec.709' is not a colour space"):
        ImageEncoder(Settings(ocio_config=str(config), ocio_target="Linear Rec.709"))
    with pytest.raises(RuntimeError, match="DDIFFUSION_OCIO_CONFIG"):
        ImageEncoder(Settings(ocio_config=str(tmp_path / "missing.ocio")))
