"""Diffusers image engine: warm pipelines shared by txt2img and img2img."""

import io
import threading
from pathlib import Path
from typing import Any

import diffusers
import torch
from diffusers import AutoPipelineForImage2Image, DiffusionPipeline
from PIL import Image

from core.catalogue import ModelEntry
from workers.context import TaskContext
from workers.local.weights import pick_device, require_weights


class DiffusersImageEngine:
    def __init__(self, models_dir: Path, device: str | None = None) -> None:
        self.models_dir = models_dir
        self.device, self.dtype = pick_device(device)
        self._pipelines: dict[tuple[str, str], DiffusionPipeline] = {}
        self._lock = threading.RLock()
        self.loads = 0

    def pipeline(self, entry: ModelEntry, mode: str) -> DiffusionPipeline:
        """The warm pipeline for a model and mode; img2img shares txt2img's components."""
        with self._lock:
            key = (entry.name, mode)
            if key not in self._pipelines:
                if mode == "txt2img":
                    self._pipelines[key] = self._load(entry)
                else:
                    pipe = AutoPipelineForImage2Image.from_pipe(self.pipeline(entry, "txt2img"))
                    pipe.set_progress_bar_config(disable=True)
                    self._pipelines[key] = pipe
            return self._pipelines[key]

    def _load(self, entry: ModelEntry) -> DiffusionPipeline:
        pipeline_class = getattr(diffusers, entry.pipeline)
        pipe = pipeline_class.from_pretrained(require_weights(entry, self.models_dir), dtype=self.dtype)
        pipe.set_progress_bar_config(disable=True)
        self.loads += 1
        return pipe.to(self.device)

    def run(self, entry: ModelEntry, params: dict[str, Any], ctx: TaskContext) -> list[dict[str, Any]]:
        width, height, steps, seed = params["width"], params["height"], params["steps"], params["seed"]
        call: dict[str, Any] = {
            "prompt": params["prompt"],
            "negative_prompt": params.get("negative_prompt") or None,
            "num_inference_steps": steps,
            "guidance_scale": params["guidance"],
        }
        if params.get("image"):
            pipe = self.pipeline(entry, "img2img")
            init = Image.open(io.BytesIO(ctx.read_input(params["image"]))).convert("RGB")
            call |= {"image": init.resize((width, height), Image.LANCZOS), "strength": params["strength"]}
        else:
            pipe = self.pipeline(entry, "txt2img")
            call |= {"width": width, "height": height}
        ctx.check_cancelled()

        def on_step_end(pipeline: DiffusionPipeline, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            ctx.progress(step + 1, getattr(pipeline, "num_timesteps", steps))
            return kwargs

        # Noise from a CPU generator: the same seed means the same noise on any device.
        generator = torch.Generator("cpu").manual_seed(seed)
        with torch.inference_mode():
            image = pipe(**call, generator=generator, callback_on_step_end=on_step_end, output_type="pil").images[0]
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return [ctx.save_output(buffer.getvalue(), "image/png", width=image.width, height=image.height, seed=seed)]
