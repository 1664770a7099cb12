"""Diffusers video engine: text-to-video and image-to-video, encoded to H.264 MP4 or written as
an image sequence, one output per frame named `<task id>.<frame:04d>.<ext>` (what a Nuke Read
node or a Houdini COP picks up as `<task id>.####.<ext>`).

Loading and warm modes are the image engine's: a model loads once (into the memory-budgeted
cache) with its text-to-video pipeline class, and its image-to-video pipeline is built on the
same components with `from_pipe`. Per request there are only the generator and call arguments.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import imageio_ffmpeg
import numpy as np
import torch
from diffusers import DiffusionPipeline
from PIL import Image

from core.catalogue import ModelEntry
from workers.local.cache import run_guard
from workers.local.calls import batch_arguments, batch_of, call_arguments, in_batches, open_image, step_callback, step_reporting
from workers.local.images import DiffusersImageEngine
from workers.local.previews import latents_preview

if TYPE_CHECKING:  # engines know nothing of Celery or Redis: the context they are given is typed, not imported
    from workers.context import TaskContext


class DiffusersVideoEngine(DiffusersImageEngine):
    def run(self, entry: ModelEntry, params: dict[str, Any], ctx: TaskContext) -> list[dict[str, Any]]:
        mode = "img2img" if params.get("image") else "txt2img"
        with self._lock:
            pipe, warm = self.pipeline(entry, mode, ctx.log)
            ctx.check_cancelled()
            at = f"{entry.name} at {params['width']}x{params['height']}, {params['num_frames']} frames"
            with run_guard(self.device, at, "size, frames or steps"):
                videos = self._generate_frames(entry, pipe, mode, params, ctx)
        outputs = []
        output_format = params.get("output_format", "mp4")
        for index, frames in enumerate(videos):
            count, height, width = frames.shape[:3]
            seed = params["seed"] + index
            record = self._record(entry, pipe, warm, mode, params | {"seed": seed}, width, height)
            record |= {"num_frames": count, "fps": params["fps"]} | batch_of(len(videos), index)
            meta = {"width": width, "height": height, "seed": seed}
            if output_format == "mp4":
                outputs.append(ctx.save_output(encode_mp4(frames, params["fps"]), "video/mp4", reproducibility=record, **meta))
                continue
            # Variations of one task get a sequence each: <task id>-<index>.<frame>.<ext>.
            name = ctx.task_id if len(videos) == 1 else f"{ctx.task_id}-{index}"
            outputs += self._save_sequence(frames, output_format, params["start_frame"], name, record, ctx, meta)
        return outputs

    def _save_sequence(self, frames: np.ndarray, output_format: str, first: int, name: str, record: dict[str, Any], ctx: TaskContext,
                       meta: dict[str, Any]) -> list[dict[str, Any]]:  # fmt: skip
        """One output per frame, numbered from `first`: png_sequence 8-bit sRGB, exr_sequence scene-linear float."""
        file_format = output_format.removesuffix("_sequence")
        outputs = []
        for number, frame in enumerate(frames, start=first):
            frame_record = record | {"frame": number}
            encoded = self.encoder.image(frame, file_format, metadata=frame_record)
            outputs.append(ctx.save_output(encoded.data, encoded.content_type, colorspace=encoded.colorspace, frame=number,
                                           filename=f"{name}.{number:04d}.{encoded.extension}", reproducibility=frame_record, **meta))  # fmt: skip
        return outputs

    def _generate_frames(self, entry: ModelEntry, pipe: DiffusionPipeline, mode: str, params: dict[str, Any], ctx: TaskContext) -> list[np.ndarray]:
        """Each video (num_outputs of them) as RGB frames shaped (frames, height, width, 3): float in 0..1
        for exr_sequence (its precision kept), else uint8 (a quarter of the memory)."""
        width, height, steps, num_frames = params["width"], params["height"], params["steps"], params["num_frames"]
        wanted: dict[str, Any] = {
            "prompt": params["prompt"],
            "negative_prompt": params.get("negative_prompt") or None,
            "num_inference_steps": steps,
            "guidance_scale": params["guidance"],
            "width": width,
            "height": height,
            "num_frames": num_frames,
            "frame_rate": params["fps"],  # LTX scales its positional embeddings in time by it
            **entry.call_defaults,
        }
        if mode == "img2img":
            first = open_image(ctx, params["image"], "image", "RGB")
            wanted["image"] = first.resize((width, height), Image.LANCZOS)
        call = call_arguments(pipe, wanted, ctx, optional=("negative_prompt",))
        if getattr(pipe, "guider", None) is not None:
            # HunyuanVideo 1.5 takes its guidance scale from its guider component, not a call argument.
            pipe.guider = pipe.guider.new(guidance_scale=params["guidance"])
        started = time.perf_counter()

        def preview(pipeline: DiffusionPipeline, latents: torch.Tensor) -> bytes:
            return latents_preview(pipeline, video_latents(pipeline, latents, num_frames, height, width), height, width)

        on_step_end = step_callback(ctx, steps, self.preview_every, preview)
        keep_float = params.get("output_format") == "exr_sequence"

        def generate(first: int, count: int) -> list[np.ndarray]:
            with torch.inference_mode():
                output = pipe(**call, **batch_arguments("num_videos_per_prompt", params["seed"], first, count),
                              **step_reporting(pipe, on_step_end), output_type="np")  # fmt: skip
            return [video if keep_float else (video * 255).round().astype(np.uint8) for video in output.frames]

        videos = in_batches(generate, params.get("num_outputs", 1), ctx)
        ctx.log(f"{type(pipe).__name__}: {num_frames} frames, {steps} steps in {time.perf_counter() - started:.2f}s on {self.device}")
        return videos


def video_latents(pipeline: DiffusionPipeline, latents: torch.Tensor, num_frames: int, height: int, width: int) -> torch.Tensor:
    """Latents as (batch, channels, frames, h, w). LTX packs its latent patches into a sequence
    during denoising; the pipeline's own unpacking restores the grid."""
    if latents.ndim != 3:
        return latents
    spatial = pipeline.vae_spatial_compression_ratio
    return pipeline._unpack_latents(
        latents,
        (num_frames - 1) // pipeline.vae_temporal_compression_ratio + 1,
        height // spatial,
        width // spatial,
        pipeline.transformer_spatial_patch_size,
        pipeline.transformer_temporal_patch_size,
    )


def encode_mp4(frames: np.ndarray, fps: int) -> bytes:
    """H.264 in yuv420p, which every player takes, with the index up front for streaming. Sizes
    are multiples of 16 or 32 (the catalogue snaps them), so ffmpeg's 16-pixel macro blocks never
    resize a frame."""
    height, width = frames.shape[1:3]
    with tempfile.TemporaryDirectory(prefix="ddiffusion-video-") as tmp:
        path = Path(tmp) / "video.mp4"
        writer = imageio_ffmpeg.write_frames(
            str(path), (width, height), fps=fps, codec="libx264", pix_fmt_out="yuv420p", ffmpeg_log_level="error",
            output_params=["-movflags", "+faststart"],
        )  # fmt: skip
        writer.send(None)  # starts ffmpeg
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        return path.read_bytes()
