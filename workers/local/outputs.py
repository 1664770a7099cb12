"""Output files comp can read: 8- and 16-bit PNG, scene-linear float EXR, JPEG and WebP.

The models make display-referred sRGB. An EXR is scene-linear, so its colour is converted with
OpenColorIO into the studio's working space (DDIFFUSION_OCIO_TARGET in DDIFFUSION_OCIO_CONFIG,
ACEScg in OCIO's built-in CG config by default). Mattes and depth maps are data: never
colour-converted, recorded with the colour space "raw".
"""

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import OpenEXR
import png
import PyOpenColorIO as ocio
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from core.settings import Settings

BUILTIN_CONFIG = "ocio://cg-config-latest"
# sRGB-encoded Rec.709: this name (or alias) in the built-in configs and ACES 1.3 studio configs.
SRGB_TEXTURE = "sRGB - Texture"
METADATA_KEY = "deferred-diffusion"
DEFAULT_QUALITY = 90
RAW = "raw"
# EXIF ImageDescription: where JPEG and WebP carry the reproducibility record.
EXIF_IMAGE_DESCRIPTION = 0x010E


@dataclass(frozen=True)
class Encoded:
    data: bytes
    content_type: str  # image/png, image/x-exr, image/jpeg, image/webp
    extension: str  # png, exr, jpg, webp
    colorspace: str  # "sRGB" (8/16-bit colour), the OCIO target space e.g. "ACEScg" (EXR colour), "raw" (data: depth, mattes)


class ImageEncoder:
    """One per engine: the OCIO config is loaded and the sRGB → scene-linear processor built once."""

    def __init__(self, settings: Settings) -> None:
        uri = settings.ocio_config or BUILTIN_CONFIG
        try:
            config = ocio.Config.CreateFromFile(uri)
        except (ocio.Exception, ocio.ExceptionMissingFile) as exc:
            raise RuntimeError(f"DDIFFUSION_OCIO_CONFIG {uri!r} could not be loaded: {exc}") from exc
        target = config.getColorSpace(settings.ocio_target)
        if target is None:
            raise RuntimeError(
                f"DDIFFUSION_OCIO_TARGET {settings.ocio_target!r} is not a colour space of {uri}; "
                f"pick one of: {', '.join(config.getColorSpaceNames())}."
            )
        try:
            source = SRGB_TEXTURE if config.getColorSpace(SRGB_TEXTURE) else ocio.Config.IdentifyBuiltinColorSpace(
                config, ocio.Config.CreateFromFile(BUILTIN_CONFIG), SRGB_TEXTURE
            )  # fmt: skip
        except ocio.Exception as exc:
            raise RuntimeError(
                f"{uri} has no sRGB texture colour space (sRGB-encoded Rec.709) to convert the models' output from: {exc}"
            ) from exc
        self.linear_space = target.getName()
        self._interop_id = target.getInteropID()
        self._to_linear = config.getProcessor(source, self.linear_space).getDefaultCPUProcessor()

    def image(
        self, image: Image.Image | np.ndarray, output_format: str, quality: int | None = None, metadata: dict[str, Any] | None = None
    ) -> Encoded:
        """RGB / RGBA colour images (sRGB from the model; EXR converted to scene-linear with OCIO,
        alpha never colour-converted), and mode "L" mattes written as data (PNG 8-bit single channel;
        EXR float channel "A"; colorspace "raw"). `metadata` (the reproducibility record) goes into
        the PNG text chunk `deferred-diffusion` / an EXR header string attribute. An image may also
        be an array: the decoder's float pixels, (H, W, 3|4) or (H, W) in 0..1 (png16 and exr keep their
        precision), or uint8 ones."""
        text = json.dumps(metadata) if metadata is not None else None
        pixels = float_pixels(image)
        matte, alpha = pixels.ndim == 2, pixels.ndim == 3 and pixels.shape[2] == 4
        colorspace = RAW if matte else "sRGB"
        if output_format == "png":
            info = PngInfo()
            if text is not None:
                info.add_text(METADATA_KEY, text)
            buffer = io.BytesIO()
            eight_bit(pixels).save(buffer, format="PNG", pnginfo=info)
            return Encoded(buffer.getvalue(), "image/png", "png", colorspace)
        if output_format == "png16":
            return Encoded(png16(np.round(pixels * 65535).astype(np.uint16), text), "image/png", "png", colorspace)
        if output_format == "exr":
            if matte:
                return Encoded(self._exr({"A": pixels}, text, linear=False), "image/x-exr", "exr", RAW)
            rgb = np.ascontiguousarray(pixels[..., :3])
            self._to_linear.applyRGB(rgb)  # in place
            channels = {"R": rgb[..., 0], "G": rgb[..., 1], "B": rgb[..., 2]}
            if alpha:
                # EXR colour is premultiplied by alpha (the format's convention, what Nuke expects).
                channels = {name: values * pixels[..., 3] for name, values in channels.items()} | {"A": pixels[..., 3]}
            return Encoded(self._exr(channels, text, linear=True), "image/x-exr", "exr", self.linear_space)
        if output_format in ("jpeg", "webp"):
            return lossy(eight_bit(pixels), output_format, quality, text, colorspace)
        raise ValueError(f"unknown output format {output_format!r}")

    def depth(self, depth: np.ndarray, output_format: str, metadata: dict[str, Any] | None = None) -> Encoded:
        """(H, W) float32 depth: `png16` → 16-bit single-channel PNG normalised to 0..65535 (min..max of
        the map), `exr` → float channel "Z" with the raw values; colorspace "raw". The PNG's record
        gains `depth_range` [min, max], so the normalisation can be undone."""
        depth = np.asarray(depth, np.float32)
        if output_format == "exr":
            text = json.dumps(metadata) if metadata is not None else None
            return Encoded(self._exr({"Z": depth}, text, linear=False), "image/x-exr", "exr", RAW)
        if output_format == "png16":
            low, high = float(depth.min()), float(depth.max())
            scaled = (depth - low) / (high - low) if high > low else np.zeros_like(depth)
            text = json.dumps((metadata or {}) | {"depth_range": [low, high]})
            return Encoded(png16(np.round(scaled * 65535).astype(np.uint16), text), "image/png", "png", RAW)
        raise ValueError(f"a depth map is written as png16 or exr, not {output_format!r}")

    def _exr(self, channels: dict[str, np.ndarray], text: str | None, *, linear: bool) -> bytes:
        header: dict[str, Any] = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        if text is not None:
            header[METADATA_KEY] = text
        if linear and self._interop_id:
            # The Color Interop Forum's attribute: readers that know it pick the colour space themselves.
            header["colorInteropID"] = self._interop_id
        buffer = io.BytesIO()
        OpenEXR.File(header, {name: np.ascontiguousarray(values, np.float32) for name, values in channels.items()}).write(buffer)
        return buffer.getvalue()


def float_pixels(image: Image.Image | np.ndarray) -> np.ndarray:
    """float32 pixels in 0..1: (H, W) for a matte, (H, W, 3) RGB or (H, W, 4) RGBA."""
    if isinstance(image, np.ndarray):
        return image.astype(np.float32) / 255 if image.dtype == np.uint8 else np.clip(image, 0, 1).astype(np.float32)
    if image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    return np.asarray(image, np.float32) / 255


def eight_bit(pixels: np.ndarray) -> Image.Image:
    """An 8-bit Pillow image (L, RGB or RGBA); exact for pixels that came from one."""
    return Image.fromarray(np.round(pixels * 255).astype(np.uint8))


def png16(pixels: np.ndarray, text: str | None) -> bytes:
    """A 16-bit PNG of (H, W) grey or (H, W, 3|4) RGB(A) uint16 pixels (Pillow writes 16-bit grey
    only), with the record as a text chunk ahead of the pixel data."""
    height, width = pixels.shape[:2]
    planes = 1 if pixels.ndim == 2 else pixels.shape[2]
    writer = png.Writer(width, height, greyscale=planes == 1, alpha=planes == 4, bitdepth=16)
    buffer = io.BytesIO()
    writer.write(buffer, pixels.reshape(height, width * planes))
    if text is None:
        return buffer.getvalue()
    chunks = list(png.Reader(bytes=buffer.getvalue()).chunks())
    first_data = next(index for index, (kind, _) in enumerate(chunks) if kind == b"IDAT")
    chunks.insert(first_data, (b"tEXt", METADATA_KEY.encode() + b"\0" + text.encode("latin-1")))
    out = io.BytesIO()
    png.write_chunks(out, chunks)
    return out.getvalue()


def lossy(image: Image.Image, output_format: str, quality: int | None, text: str | None, colorspace: str) -> Encoded:
    """JPEG or WebP at `quality` (90 when unset), the record in the EXIF ImageDescription."""
    if output_format == "jpeg" and image.mode == "RGBA":
        raise ValueError("JPEG has no alpha channel; an entry whose outputs carry alpha must not list jpeg in its output_formats")
    exif = Image.Exif()
    if text is not None:
        exif[EXIF_IMAGE_DESCRIPTION] = text
    buffer = io.BytesIO()
    # WebP stores no single-channel images: a matte goes in as grey RGB.
    image = image.convert("RGB") if output_format == "webp" and image.mode == "L" else image
    image.save(buffer, format=output_format.upper(), quality=quality or DEFAULT_QUALITY, exif=exif)
    extension = "jpg" if output_format == "jpeg" else "webp"
    return Encoded(buffer.getvalue(), f"image/{output_format}", extension, colorspace)
