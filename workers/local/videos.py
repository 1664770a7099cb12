"""Diffusers video engine: text-to-video and image-to-video, encoded to H.264 MP4.

Loading and warm modes are the image engine's: a model loads once (into the memory-budgeted
cache) with its text-to-video pipeline class, and its image-to-video pipeline is built on the
same components with `from_pipe`. Per request there are only the generator and call arguments.
"""

import tempfile
import time
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import numpy as np
import torch
from diffusers import DiffusionPipeline
from PIL import Image

from core.catalogue import ModelEntry
from workers.context import TaskContext
from workers.local.cache import run_guard
from workers.local.calls import batch_arguments, batch_of, call_arguments, in_batches, open_image, step_callback
from workers.local.images import DiffusersImageEngine
from workers.local.previews import latents_preview


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
        for index, frames in enumerate(videos):
            count, height, width = frames.shape[:3]
            seed = params["seed"] + index
            record = self._record(entry, pipe, warm, mode, params | {"seed": seed}, width, height)
            record |= {"num_frames": count, "fps": params["fps"]} | batch_of(len(videos), index)
            mp4 = encode_mp4(frames, params["fps"])
            outputs.append(ctx.save_output(mp4, "video/mp4", width=width, height=height, seed=seed, reproducibility=record))
        return outputs

    def _generate_frames(self, entry: ModelEntry, pipe: DiffusionPipeline, mode: str, params: dict[str, Any], ctx: TaskContext) -> list[np.ndarray]:
        """Each video (num_outputs of them) as uint8 RGB frames, shaped (frames, height, width, 3)."""
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
        started = time.perf_counter()

        def preview(pipeline: DiffusionPipeline, latents: torch.Tensor) -> bytes:
            return latents_preview(pipeline, video_latents(pipeline, latents, num_frames, height, width), height, width)

        on_step_end = step_callback(ctx, steps, self.preview_every, preview)

        def generate(first: int, count: int) -> list[np.ndarray]:
            with torch.inference_mode():
                output = pipe(**call, **batch_arguments("num_videos_per_prompt", params["seed"], first, count),
                              callback_on_step_end=on_step_end, output_type="np")  # fmt: skip
            return [(video * 255).round().astype(np.uint8) for video in output.frames]

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
