"""Diffusers image engine: warm pipelines, every mode on the same components.

A model is loaded once (into the memory-budgeted cache) with its main pipeline class; its other
modes (img2img, inpaint, edit) are built on the same components with `from_pipe`, which costs
no memory. Per request there are only cheap objects: the generator and the call arguments.
"""

from __future__ import annotations

import hashlib
import inspect
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import diffusers
import numpy as np
import safetensors.torch
import torch
from diffusers import DiffusionPipeline
from PIL import Image
from transformers import AutoImageProcessor, AutoTokenizer, BatchFeature
from transformers.utils import is_torchvision_available

from core.catalogue import ModelEntry
from core.errors import InvalidRequestError, PlatformError
from core.settings import Settings
from workers.local.cache import ModelCache, WarmModel, run_guard
from workers.local.calls import (
    LIBRARY_VERSIONS,
    batch_arguments,
    batch_of,
    call_arguments,
    in_batches,
    make_scheduler,
    open_image,
    step_callback,
    steps_for_strength,
)
from workers.local.outputs import ImageEncoder
from workers.local.previews import latents_preview
from workers.local.speedups import Speedups, denoiser_name
from workers.local.weights import Log, pick_device, require_weights, worker_log

if TYPE_CHECKING:  # engines know nothing of Celery or Redis: the context they are given is typed, not imported
    from workers.context import TaskContext

class DiffusersImageEngine:
    def __init__(self, settings: Settings, cache: ModelCache | None = None) -> None:
        self.models_dir = settings.resolved_models_dir
        self.allow_downloads = settings.allow_downloads
        self.loras_dir = settings.resolved_loras_dir
        self.preview_every = settings.preview_every
        self.device, self.dtype = pick_device(settings.device)
        self.cache = cache or ModelCache.for_settings(settings, self.device)
        self.cpu_offload_models = set(settings.cpu_offload_models)
        self.speedups = Speedups.for_settings(settings)
        self.speedups.check(self.device)
        self.encoder = ImageEncoder(settings)
        # One run at a time per process: LoRAs are loaded onto the shared, warm modules.
        self._lock = threading.Lock()

    def pipeline(self, entry: ModelEntry, mode: str, log: Log = worker_log) -> tuple[DiffusionPipeline, WarmModel]:
        """The warm pipeline for a model's mode, loading the model on first use (fetching its
        weights first where downloads are allowed, with progress through `log`)."""
        path = require_weights(entry, self.models_dir, self.allow_downloads, log)
        warm = self.cache.get(path, entry.name, lambda: self._load(entry, path), log)
        class_name = entry.modes[mode]
        if type(warm.model).__name__ == class_name:
            return warm.model, warm
        if class_name not in warm.derived:
            pipe_class = getattr(diffusers, class_name)
            missing = {name: part for name, part in hand_built(pipe_class, path).items() if name not in warm.model.components}
            pipe = pipe_class.from_pipe(warm.model, **missing)
            pipe.set_progress_bar_config(disable=True)
            warm.derived[class_name] = pipe
        return warm.derived[class_name], warm

    def _load(self, entry: ModelEntry, path: Path) -> tuple[DiffusionPipeline, dict[str, Any]]:
        pipe_class = getattr(diffusers, entry.pipeline)
        pipe = pipe_class.from_pretrained(path, dtype=self.dtype, **hand_built(pipe_class, path))
        pipe.set_progress_bar_config(disable=True)
        if entry.name in self.cpu_offload_models and self.device.startswith("cuda"):
            # Each component moves to the GPU only while it runs: slower, but fits far less memory.
            pipe.enable_model_cpu_offload(device=self.device)
        else:
            pipe.to(self.device)
        speedups = self.speedups.apply(entry.name, pipe)
        # Requests build their scheduler from the model's own config, never from another request's.
        return pipe, {"weights_revision": weights_revision(path), "scheduler_config": pipe.scheduler.config, "speedups": speedups}

    def run(self, entry: ModelEntry, params: dict[str, Any], ctx: TaskContext) -> list[dict[str, Any]]:
        mode = "inpaint" if params.get("mask") else "img2img" if params.get("image") else "txt2img"
        with self._lock:
            pipe, warm = self.pipeline(entry, mode, ctx.log)
            ctx.check_cancelled()
            params = self._schedule_for_strength(pipe, mode, params, ctx)
            with run_guard(self.device, f"{entry.name} at {params['width']}x{params['height']}", "size or steps"), \
                    unfused_for_loras(entry, pipe, warm, bool(params.get("loras"))):  # fmt: skip
                loras = self._apply_loras(entry, pipe, params.get("loras") or [], ctx)
                try:
                    if params.get("scheduler"):
                        pipe.scheduler = make_scheduler(params["scheduler"], warm.info["scheduler_config"])
                    images = self._generate(entry, pipe, mode, params, ctx)
                finally:
                    if loras:
                        pipe.unload_lora_weights()
        outputs = []
        for index, image in enumerate(images):
            seed = params["seed"] + index
            height, width = image.shape[:2]
            record = self._record(entry, pipe, warm, mode, params | {"seed": seed}, width, height, loras=bool(loras))
            record |= {"strength": params.get("strength"), "loras": loras} | batch_of(len(images), index)
            encoded = self.encoder.image(image, params.get("output_format", "png"), params.get("quality"), record)
            outputs.append(ctx.save_output(encoded.data, encoded.content_type, colorspace=encoded.colorspace, width=width, height=height,
                                           seed=seed, reproducibility=record))  # fmt: skip
        return outputs

    def _record(self, entry: ModelEntry, pipe: DiffusionPipeline, warm: WarmModel, mode: str, params: dict[str, Any], width: int, height: int,
                loras: bool = False) -> dict[str, Any]:  # fmt: skip
        """The reproducibility record of an output: what every local image or video run shares,
        with the fast paths it ran with (a run with LoRAs runs unfused: see unfused_for_loras)."""
        speedups = {name: value for name, value in warm.info["speedups"].items() if not (loras and name == "fused_qkv")}
        return {
            "model": entry.name,
            "weights": entry.weights,
            "weights_revision": warm.info["weights_revision"],
            "pipeline": type(pipe).__name__,
            "scheduler": type(pipe.scheduler).__name__,
            "mode": mode,
            "seed": params["seed"],
            "steps": params["steps"],
            "guidance": params["guidance"],
            "width": width,
            "height": height,
            "device": self.device,
            "dtype": str(self.dtype).removeprefix("torch."),
            "versions": LIBRARY_VERSIONS,
        } | ({"speedups": speedups} if speedups else {})

    @staticmethod
    def _schedule_for_strength(pipe: DiffusionPipeline, mode: str, params: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        """Params whose steps give a UNet image-to-image run at least one denoising step; the record
        then names the steps that were scheduled, which reproduce the image. Flow-matching pipelines
        (SD3, Flux, Qwen-Image) round steps × strength up, so they always run one."""
        if mode == "txt2img" or getattr(pipe, "unet", None) is None:
            return params
        steps, strength = params["steps"], params["strength"]
        scheduled = steps_for_strength(steps, strength)
        if scheduled == steps:
            return params
        ctx.log(
            f"steps × strength = {steps} × {strength:g} is below one denoising step; ran one step at strength {strength:g} "
            f"on a {scheduled}-step schedule (raise steps or strength for more)"
        )
        return params | {"steps": scheduled}

    def _generate(self, entry: ModelEntry, pipe: DiffusionPipeline, mode: str, params: dict[str, Any], ctx: TaskContext) -> list[np.ndarray]:
        """The decoder's float RGB pixels in 0..1, (height, width, 3) per image: png16 and exr keep their precision."""
        width, height, steps = params["width"], params["height"], params["steps"]
        # Per model: Qwen-Image's classifier-free guidance is true_cfg_scale (on with a negative
        # prompt), while FLUX, whose pipelines take true_cfg_scale too, is guided by guidance_scale.
        guidance = entry.guidance_argument
        wanted: dict[str, Any] = {
            "prompt": params["prompt"],
            "negative_prompt": params.get("negative_prompt") or None,
            "num_inference_steps": steps,
            guidance: params["guidance"],
            "width": width,
            "height": height,
            "max_area": width * height,  # Kontext sizes its output by area and the input's aspect ratio
            **entry.call_defaults,
        }
        if mode != "txt2img":
            init = open_image(ctx, params["image"], "image", "RGB")
            wanted |= {"image": init.resize((width, height), Image.LANCZOS), "strength": params["strength"]}
        if mode == "inpaint":
            mask = open_image(ctx, params["mask"], "mask", "L")
            wanted["mask_image"] = mask.resize((width, height), Image.NEAREST)
        # At the output's size, like `image`: what the pipelines take (FLUX.2: 64 px to 8:1) is then what the request asked.
        references = [
            open_image(ctx, ref, f"references[{index}]", "RGB").resize((width, height), Image.LANCZOS)
            for index, ref in enumerate(params.get("references") or [])
        ]
        if references:
            # An edit takes them after `image` in its list of images; FLUX.2 Klein's inpainting as image_reference.
            wanted |= {"image_reference": references} if mode == "inpaint" else {"image": [wanted["image"], *references]}
        call = call_arguments(pipe, wanted, ctx, optional=("negative_prompt", "strength"))
        started = time.perf_counter()
        on_step_end = step_callback(ctx, steps, self.preview_every, lambda pipeline, latents: latents_preview(pipeline, latents, height, width))


        def generate(first: int, count: int) -> list[np.ndarray]:
            with torch.inference_mode():
                return list(pipe(**call, **batch_arguments("num_images_per_prompt", params["seed"], first, count),
                                 callback_on_step_end=on_step_end, output_type="np").images)  # fmt: skip

        images = in_batches(generate, params.get("num_outputs", 1), ctx)
        ctx.log(f"{type(pipe).__name__}: {steps} steps in {time.perf_counter() - started:.2f}s on {self.device}")
        return images

    def _apply_loras(self, entry: ModelEntry, pipe: DiffusionPipeline, loras: list[dict[str, Any]], ctx: TaskContext) -> list[dict[str, Any]]:
        """Load the request's LoRAs onto the warm pipeline; returns what the record says of them.
        The caller unloads them afterwards, so the next request sees clean weights."""
        applied: list[dict[str, Any]] = []
        for index, spec in enumerate(loras):
            label = spec.get("name") or spec["ref"]
            data = self._lora_bytes(spec, ctx)
            adapter = f"lora{index}"
            try:
                pipe.load_lora_weights(safetensors.torch.load(data), adapter_name=adapter)
            except (ValueError, KeyError, RuntimeError, safetensors.SafetensorError) as exc:
                pipe.unload_lora_weights()
                raise PlatformError(f"LoRA {label} does not fit {entry.name}: {str(exc)[:300]}", code="lora_mismatch") from exc
            if not any(adapter in names for names in pipe.get_list_adapters().values()):
                pipe.unload_lora_weights()
                raise PlatformError(
                    f"LoRA {label} has no weights for any module of {entry.name} ({type(pipe).__name__}); it was made for another model.",
                    code="lora_mismatch",
                )
            applied.append({"lora": label, "sha256": hashlib.sha256(data).hexdigest(), "scale": spec.get("scale", 1.0)})
        if applied:
            pipe.set_adapters([f"lora{i}" for i in range(len(applied))], adapter_weights=[lora["scale"] for lora in applied])
            ctx.log("LoRAs: " + ", ".join(f"{lora['lora']} × {lora['scale']}" for lora in applied))
        return applied

    def _lora_bytes(self, spec: dict[str, Any], ctx: TaskContext) -> bytes:
        if spec.get("ref"):
            return ctx.read_input(spec["ref"])
        path = (self.loras_dir / f"{spec['name']}.safetensors").resolve()
        if path.parent != self.loras_dir or not path.is_file():
            raise InvalidRequestError(f"No LoRA named {spec['name']!r} in {self.loras_dir}; upload it with POST /api/files and use its ref.")
        return path.read_bytes()


class QwenVLPromptProcessor:
    """What Qwen2VLProcessor does for the Qwen-Image-Edit pipelines' prompts, by hand (as the text
    engine does for chat): each <|image_pad|> widened to its image's number of merged patches,
    beside the image processor's pixels and patch grids. transformers builds that processor only
    with torchvision, which the CPU install leaves out; its files (tokenizer, image processor) load alone."""

    def __init__(self, directory: Path) -> None:
        self.tokenizer = AutoTokenizer.from_pretrained(directory)
        self.image_processor = AutoImageProcessor.from_pretrained(directory)

    def __call__(self, text: list[str], images: list[Image.Image] | None = None, padding: bool = True, return_tensors: str = "pt") -> BatchFeature:
        vision: dict[str, Any] = {}
        if images:
            vision = dict(self.image_processor(images=images, return_tensors=return_tensors))
            counts = iter((vision["image_grid_thw"].prod(dim=-1) // self.image_processor.merge_size**2).tolist())
            pad = "<|image_pad|>"

            def widened(line: str) -> str:
                first, *rest = line.split(pad)
                return first + "".join(pad * next(counts) + piece for piece in rest)

            text = [widened(line) for line in text]
        return BatchFeature(dict(self.tokenizer(text, padding=padding, return_tensors=return_tensors)) | vision)


@contextmanager
def unfused_for_loras(entry: ModelEntry, pipe: DiffusionPipeline, warm: WarmModel, loras: bool) -> Iterator[None]:
    """A run with LoRAs on a model whose fast paths allow them: peft wraps the separate Q, K and V
    projections, which a fused denoiser does not call, so it runs unfused and is fused again after."""
    speedups = warm.info["speedups"] if loras else {}
    if "fp8" in speedups:
        raise PlatformError(
            f"{entry.name} runs in FP8 on this worker (DDIFFUSION_FP8_MODELS) and LoRAs cannot be applied to FP8 weights; "
            "submit without loras, or run the model on a worker without FP8.",
            code="lora_unsupported",
        )
    denoiser = getattr(pipe, denoiser_name(pipe))
    if "fused_qkv" in speedups:
        denoiser.unfuse_qkv_projections()
    try:
        yield
    finally:
        if "fused_qkv" in speedups:
            denoiser.fuse_qkv_projections()


def hand_built(pipe_class: type[DiffusionPipeline], path: Path) -> dict[str, Any]:
    """Components that transformers builds only with torchvision, loaded from the same files
    without it: Qwen-Image-Edit's `processor` (always, so every install runs the same code), and
    FLUX.2 [dev]'s PixtralProcessor `tokenizer`, whose prompt encoder needs only the tokenizer
    and its chat template (on installs without torchvision)."""
    if "processor" in inspect.signature(pipe_class.__init__).parameters:
        return {"processor": QwenVLPromptProcessor(path / "processor")}
    if pipe_class is diffusers.Flux2Pipeline and not is_torchvision_available():
        return {"tokenizer": AutoTokenizer.from_pretrained(path / "tokenizer")}
    return {}


def weights_revision(path: Path) -> str:
    """The Hugging Face commit of a cache snapshot, or a digest of a local dir's configs and
    weight file sizes (cheap, and changes whenever the weights are replaced)."""
    if path.parent.name == "snapshots":
        return path.name
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(file.read_bytes() if file.suffix == ".json" else str(file.stat().st_size).encode())
    return "sha256:" + digest.hexdigest()[:16]
