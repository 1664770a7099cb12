"""Cheap previews of a run in progress: latents to RGB without the VAE.

The latent's channels are projected onto their three principal components and stretched to
0-255: a model-agnostic approximation that shows composition and structure, at the cost of a
small SVD, where a VAE decode would cost as much as a denoising step.
"""

import io
from typing import Any

import torch
from PIL import Image

PREVIEW_MAX_SIDE = 256


def latents_preview(pipeline: Any, latents: torch.Tensor, height: int, width: int) -> bytes:
    """A small PNG of the first image of a batch of latents."""
    if latents.ndim == 3 and hasattr(pipeline, "_unpack_latents"):
        # Flux packs 2x2 latent patches into a sequence; unpack to (batch, channels, h, w).
        latents = pipeline._unpack_latents(latents, height, width, pipeline.vae_scale_factor)
    elif latents.ndim == 3:
        # FLUX.2 packs its latents (2x2 patches already folded into channels) as a row-major sequence.
        rows, cols = height // (pipeline.vae_scale_factor * 2), width // (pipeline.vae_scale_factor * 2)
        latents = latents.transpose(1, 2).reshape(latents.shape[0], -1, rows, cols)
    if latents.ndim == 5:
        latents = latents[:, :, latents.shape[2] // 2]  # video: the middle frame
    sample = latents[0].float().cpu()
    channels, rows, cols = sample.shape
    flat = sample.reshape(channels, -1)
    flat = flat - flat.mean(dim=1, keepdim=True)
    basis, _, _ = torch.linalg.svd(flat, full_matrices=False)
    rgb = basis[:, :3].T @ flat
    if rgb.shape[0] < 3:
        rgb = torch.cat([rgb, rgb[:1].expand(3 - rgb.shape[0], -1)])
    low, high = rgb.min(dim=1, keepdim=True).values, rgb.max(dim=1, keepdim=True).values
    rgb = ((rgb - low) / (high - low).clamp(min=1e-6) * 255).round().to(torch.uint8)
    image = Image.fromarray(rgb.reshape(3, rows, cols).permute(1, 2, 0).numpy())
    scale = min(1.0, PREVIEW_MAX_SIDE / max(width, height))
    image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
