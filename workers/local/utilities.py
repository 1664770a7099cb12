"""Compositing utilities on transformers models: depth maps (Depth Anything), mattes (SAM 2 from
points and boxes, SAM 3 from a text prompt) and upscales (Swin2SR, in tiles), warm in the shared
model cache like every local model.

Each output has the input's size (an upscale: exactly scale × it). Only image processors that run
without torchvision are used (the CPU install has none): Depth Anything's and Swin2SR's own, which
AutoImageProcessor falls back to in their PIL versions; for SAM, whose image processors
transformers builds only with torchvision, ViTImageProcessorPil on the model's own preprocessor
config (the same resize and normalisation), with points, boxes and masks scaled here as
Sam2Processor and Sam3Processor do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from PIL import Image
from transformers import AutoImageProcessor, AutoTokenizer, PreTrainedModel, ViTImageProcessorPil

from core.catalogue import Capability, ModelEntry
from core.schemas import EngineOutput
from core.settings import Settings
from workers.local.cache import ModelCache, WarmModel, run_guard
from workers.local.calls import LIBRARY_VERSIONS, open_image
from workers.local.images import weights_revision
from workers.local.outputs import ImageEncoder
from workers.local.weights import Log, pick_device, require_weights, worker_log

if TYPE_CHECKING:  # engines know nothing of Celery or Redis: the context they are given is typed, not imported
    from workers.context import TaskContext

# Upscales run tile by tile: each tile of input pixels is read with this much context around it,
# and only the tile's own part of the result is kept, so the seams do not show and the memory a
# tile needs is the same for a 4K plate as for a thumbnail.
UPSCALE_TILE = 256
UPSCALE_CONTEXT = 16
# SAM 3's text encoder reads prompts padded to this many tokens (as Sam3Processor pads them).
SAM3_TEXT_TOKENS = 32
# SAM 3 keeps the instances it scores above this, and their pixels whose mask probability is above it.
SAM3_THRESHOLD = 0.5


# What a utility made of one image, before it is encoded: a depth map (H, W), or an image (a matte,
# an RGBA cut-out; an upscale, as float pixels for the formats that keep them), and what its
# reproducibility record adds.
Made = tuple[np.ndarray | Image.Image, dict[str, Any]]
# The output formats that keep more than 8 bits: an upscale is handed to them as float pixels.
PRECISE_FORMATS = ("png16", "exr")


class VisionUtilityEngine:
    def __init__(self, settings: Settings, cache: ModelCache | None = None) -> None:
        self.models_dir = settings.resolved_models_dir
        self.allow_downloads = settings.allow_downloads
        self.device = pick_device(settings.device)[0]
        self.cache = cache or ModelCache.for_settings(settings, self.device)
        self.encoder = ImageEncoder(settings)
        # One run at a time per process, as in the other local engines: the warm modules are shared.
        self._lock = threading.Lock()
        self._runs: dict[str, Callable[[WarmModel, Image.Image, dict[str, Any], TaskContext], Made]] = {
            "DepthAnythingForDepthEstimation": self._depth,
            "Sam2Model": self._sam2,
            "Sam3Model": self._sam3,
            "Swin2SRForImageSuperResolution": self._upscale,
        }

    def model(self, entry: ModelEntry, log: Log = worker_log) -> WarmModel:
        """The warm model with its processors, loaded (into the shared cache) on first use."""
        path = require_weights(entry, self.models_dir, self.allow_downloads, log)

        def load() -> tuple[PreTrainedModel, dict[str, Any]]:
            # float32 even on GPUs: bf16 keeps 8 bits of mantissa, too few for a 16-bit depth map
            # or a float EXR, and these models are small.
            model = getattr(transformers, entry.pipeline).from_pretrained(path, dtype=torch.float32).to(self.device).eval()
            return model, {"weights_revision": weights_revision(path)} | _processors(entry, path)

        return self.cache.get(path, entry.name, load, log)

    def run(self, entry: ModelEntry, params: dict[str, Any], ctx: TaskContext) -> list[EngineOutput | dict[str, Any]]:
        with self._lock:
            warm = self.model(entry, ctx.log)
            image = open_image(ctx, params["image"], "image", "RGB")
            ctx.check_cancelled()
            started = time.perf_counter()
            with run_guard(self.device, f"{entry.name} on a {image.width}x{image.height} image", "image's size"), torch.inference_mode():
                made, used = self._runs[entry.pipeline](warm, image, params, ctx)
            ctx.log(f"{entry.pipeline}: {image.width}x{image.height} in {time.perf_counter() - started:.2f}s on {self.device}")
        width, height = made.size if isinstance(made, Image.Image) else (made.shape[1], made.shape[0])
        record = {
            "model": entry.name,
            "weights": entry.weights,
            "weights_revision": warm.info["weights_revision"],
            "pipeline": entry.pipeline,
            "mode": next(iter(entry.capabilities)).value,
            "width": width,
            "height": height,
            "output_format": params["output_format"],
            "device": self.device,
            "dtype": "float32",
            "versions": LIBRARY_VERSIONS,
        } | used
        if Capability.depth in entry.capabilities:
            encoded = self.encoder.depth(made, params["output_format"], metadata=record)
        else:
            encoded = self.encoder.image(made, params["output_format"], quality=params.get("quality"), metadata=record)
        return [
            ctx.save_output(encoded.data, encoded.content_type, colorspace=encoded.colorspace, width=width, height=height, reproducibility=record)
        ]

    def _depth(self, warm: WarmModel, image: Image.Image, params: dict[str, Any], ctx: TaskContext) -> Made:
        processor = warm.info["image_processor"]
        inputs = processor(images=image, return_tensors="pt").to(self.device)
        outputs = warm.model(**inputs)
        ctx.progress(1, 1)
        [depth] = processor.post_process_depth_estimation(outputs, target_sizes=[(image.height, image.width)])
        return depth["predicted_depth"].float().cpu().numpy(), {"depth": "relative inverse depth: near is large"}

    def _sam2(self, warm: WarmModel, image: Image.Image, params: dict[str, Any], ctx: TaskContext) -> Made:
        """The union of the masks of the objects picked: all points (with at most one box) are one
        object; each of several boxes is one. A single click is ambiguous (a shirt, or the person
        wearing it), so then SAM offers three masks and the one it scores best is kept."""
        processor = warm.info["image_processor"]
        points, boxes = params.get("points", []), params.get("boxes", [])
        sx, sy = processor.size["width"] / image.width, processor.size["height"] / image.height
        prompts: dict[str, torch.Tensor] = {}
        if points:
            prompts["input_points"] = torch.tensor([[[[p["x"] * sx, p["y"] * sy] for p in points]]])
            prompts["input_labels"] = torch.tensor([[[p["label"] for p in points]]])
        if boxes:
            prompts["input_boxes"] = torch.tensor([[[b["x0"] * sx, b["y0"] * sy, b["x1"] * sx, b["y1"] * sy] for b in boxes]])
        pixels = processor(images=image, return_tensors="pt")["pixel_values"]
        single_click = len(points) == 1 and not boxes
        outputs = warm.model(pixel_values=pixels.to(self.device), **{k: v.to(self.device) for k, v in prompts.items()}, multimask_output=single_click)
        ctx.progress(1, 1)
        masks = outputs.pred_masks[0]  # (objects, candidates, h, w) logits
        best = outputs.iou_scores[0].argmax(dim=-1)  # per object
        chosen = masks[torch.arange(masks.shape[0]), best]
        matte = _upsampled(chosen, image) > 0
        return _matte_image(matte, image, params["matte"]), {"points": points, "boxes": boxes, "matte": params["matte"]}

    def _sam3(self, warm: WarmModel, image: Image.Image, params: dict[str, Any], ctx: TaskContext) -> Made:
        """The union of every instance of what the prompt names (none found: an empty matte)."""
        processor, tokenizer = warm.info["image_processor"], warm.info["tokenizer"]
        text = tokenizer([params["prompt"]], padding="max_length", max_length=SAM3_TEXT_TOKENS, truncation=True, return_tensors="pt")
        pixels = processor(images=image, return_tensors="pt")["pixel_values"]
        outputs = warm.model(pixel_values=pixels.to(self.device), input_ids=text["input_ids"].to(self.device), attention_mask=text["attention_mask"].to(self.device))
        ctx.progress(1, 1)
        scores = outputs.pred_logits[0].sigmoid() * outputs.presence_logits[0].sigmoid()
        kept = outputs.pred_masks[0][scores > SAM3_THRESHOLD]
        matte = (_upsampled(kept, image).sigmoid() > SAM3_THRESHOLD) if len(kept) else torch.zeros((0, image.height, image.width), dtype=torch.bool)
        ctx.log(f"{len(kept)} instance(s) of {params['prompt']!r} found")
        return _matte_image(matte, image, params["matte"]), {"prompt": params["prompt"], "matte": params["matte"], "instances": len(kept)}

    def _upscale(self, warm: WarmModel, image: Image.Image, params: dict[str, Any], ctx: TaskContext) -> Made:
        pixels = warm.info["image_processor"](images=image, do_pad=False, return_tensors="pt")["pixel_values"]
        config = warm.model.config
        upscaled = upscale_in_tiles(
            lambda tile: warm.model(pixel_values=tile.to(self.device)).reconstruction, pixels, config.upscale, config.window_size, ctx,
            precise=params["output_format"] in PRECISE_FORMATS,
        )
        record = {"scale": config.upscale, "input_width": image.width, "input_height": image.height, "tile": UPSCALE_TILE, "tile_context": UPSCALE_CONTEXT}
        return upscaled, record


def _processors(entry: ModelEntry, path: Path) -> dict[str, Any]:
    """The image processor (and SAM 3's tokenizer) of a utility's weights."""
    if entry.pipeline == "Sam3Model":
        return {"image_processor": ViTImageProcessorPil.from_pretrained(path), "tokenizer": AutoTokenizer.from_pretrained(path)}
    if entry.pipeline == "Sam2Model":
        return {"image_processor": ViTImageProcessorPil.from_pretrained(path)}
    return {"image_processor": AutoImageProcessor.from_pretrained(path)}


def _upsampled(masks: torch.Tensor, image: Image.Image) -> torch.Tensor:
    """(n, h, w) low-resolution mask logits at the image's size, as SAM's post-processing does."""
    return F.interpolate(masks[:, None].float(), size=(image.height, image.width), mode="bilinear", align_corners=False)[:, 0]


def _matte_image(masks: torch.Tensor, image: Image.Image, matte: str) -> Image.Image:
    """The union of (n, H, W) boolean masks: an 8-bit matte (mode L), or with `alpha` the image as RGBA over it."""
    union = Image.fromarray(masks.any(dim=0).cpu().numpy().astype(np.uint8) * 255, "L") if len(masks) else Image.new("L", image.size)
    if matte == "mask":
        return union
    rgba = image.convert("RGBA")
    rgba.putalpha(union)
    return rgba


def upscale_in_tiles(
    run: Callable[[torch.Tensor], torch.Tensor], pixels: torch.Tensor, scale: int, window: int, ctx: TaskContext, precise: bool = False
) -> np.ndarray:
    """(1, 3, H, W) pixels in 0..1 → (scale·H, scale·W, 3) uint8 pixels (`precise`: float32 in
    0..1), UPSCALE_TILE input pixels at a time. Each tile is run with UPSCALE_CONTEXT pixels of its
    neighbours around it (padded at the image's edges, and to the model's window size), and only
    its own part is kept."""
    height, width = pixels.shape[-2:]
    out = np.empty((height * scale, width * scale, 3), np.float32 if precise else np.uint8)
    tiles = [(top, left) for top in range(0, height, UPSCALE_TILE) for left in range(0, width, UPSCALE_TILE)]
    for index, (top, left) in enumerate(tiles):
        bottom, right = min(top + UPSCALE_TILE, height), min(left + UPSCALE_TILE, width)
        y0, x0 = max(top - UPSCALE_CONTEXT, 0), max(left - UPSCALE_CONTEXT, 0)
        patch = pixels[:, :, y0 : min(bottom + UPSCALE_CONTEXT, height), x0 : min(right + UPSCALE_CONTEXT, width)]
        patch = F.pad(patch, (0, -patch.shape[-1] % window, 0, -patch.shape[-2] % window), mode="replicate")
        result = run(patch)[0, :, (top - y0) * scale : (bottom - y0) * scale, (left - x0) * scale : (right - x0) * scale]
        result = result.clamp(0, 1) if precise else (result.clamp(0, 1) * 255).round().byte()
        out[top * scale : bottom * scale, left * scale : right * scale] = result.permute(1, 2, 0).cpu().numpy()
        ctx.progress(index + 1, len(tiles))
    return out
