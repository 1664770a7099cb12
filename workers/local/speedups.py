"""Per-model fast paths on a warm pipeline's denoiser, each a setting naming the models it is for
(DDIFFUSION_FUSED_QKV_MODELS, _CHANNELS_LAST_MODELS, _FP8_MODELS, _COMPILE_MODELS). What was
applied is named in every output's reproducibility record (`speedups`).

Fused QKV and channels-last compute the same image (to rounding); FP8 (torchao, dynamic float8
activations and weights) changes the arithmetic, so it is an opt-in for models where its quality
was judged acceptable; compile changes nothing but the first call's time.
"""

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
import torch

if TYPE_CHECKING:  # bench/gpu.py uses these fast paths where pydantic-settings is not installed
    from core.settings import Settings

log = structlog.get_logger("worker")

DENOISERS = ("transformer", "unet")
# Float8 matrix multiplies need Ada or Hopper (compute capability 8.9 and later).
FP8_CAPABILITY = (8, 9)


def denoiser_name(pipe: Any) -> str:
    return next(name for name in DENOISERS if getattr(pipe, name, None) is not None)


@dataclass(frozen=True)
class Speedups:
    fused_qkv_models: frozenset[str]
    channels_last_models: frozenset[str]
    fp8_models: frozenset[str]
    compile_models: frozenset[str]
    compile_mode: str
    compile_cache_dir: Path

    @classmethod
    def for_settings(cls, settings: "Settings") -> "Speedups":
        return cls(
            frozenset(settings.fused_qkv_models),
            frozenset(settings.channels_last_models),
            frozenset(settings.fp8_models),
            frozenset(settings.compile_models),
            settings.compile_mode,
            settings.resolved_compile_cache_dir,
        )

    def check(self, device: str) -> None:
        """Refuse, when the worker starts, a setting this machine cannot honour."""
        if not self.fp8_models:
            return
        if not device.startswith("cuda") or torch.cuda.get_device_capability(torch.device(device)) < FP8_CAPABILITY:
            raise RuntimeError(
                f"DDIFFUSION_FP8_MODELS ({', '.join(sorted(self.fp8_models))}) needs a CUDA GPU of compute capability "
                f"{FP8_CAPABILITY[0]}.{FP8_CAPABILITY[1]} or later (Ada, Hopper); this worker runs on {device}. Unset it here."
            )
        if importlib.util.find_spec("torchao") is None:
            raise RuntimeError("DDIFFUSION_FP8_MODELS needs torchao in the worker's environment: pip install torchao (a build for its torch).")

    def apply(self, model: str, pipe: Any) -> dict[str, Any]:
        """Apply the fast paths set for `model` to its freshly loaded pipeline; returns what the
        reproducibility record says of them (empty when none)."""
        name = denoiser_name(pipe)
        denoiser = getattr(pipe, name)
        applied: dict[str, Any] = {}
        if model in self.fused_qkv_models:
            try:
                denoiser.fuse_qkv_projections()
                applied["fused_qkv"] = True
            except ValueError as exc:  # e.g. attention with added KV projections
                log.warning("fused QKV does not apply; running without", model=model, reason=str(exc)[:200])
        if model in self.channels_last_models and name == "unet":
            # Convolutions in NHWC: what tensor cores read fastest. Transformers have no convolutions to gain.
            denoiser.to(memory_format=torch.channels_last)
            applied["channels_last"] = True
        if model in self.fp8_models:
            from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, quantize_

            quantize_(denoiser, Float8DynamicActivationFloat8WeightConfig())
            applied["fp8"] = "float8 dynamic activations and weights (torchao)"
        if model in self.compile_models:
            # Inductor's and Triton's caches in the data dir: a restarted worker compiles from them, not from scratch.
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(self.compile_cache_dir))
            os.environ.setdefault("TRITON_CACHE_DIR", str(self.compile_cache_dir / "triton"))
            # Compiled on the first call (minutes for a large model); later calls reuse the graph.
            setattr(pipe, name, torch.compile(denoiser, mode=self.compile_mode))
            applied["compile"] = {"mode": self.compile_mode}
        return applied

