"""Where weights come from: the local models dir first, then the Hugging Face cache. Never
downloaded implicitly; a miss names every place that was looked in."""

from pathlib import Path

import torch

from core.catalogue import ModelEntry
from core.errors import ModelUnavailableError


def local_path(entry: ModelEntry, models_dir: Path) -> Path:
    return models_dir / entry.weights


def hf_cache_path(entry: ModelEntry) -> Path | None:
    if entry.tiny or "/" not in entry.weights:
        return None
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(entry.weights, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None


def find_weights(entry: ModelEntry, models_dir: Path) -> Path | None:
    local = local_path(entry, models_dir)
    if (local / "model_index.json").exists() or (local / "config.json").exists():
        return local
    return hf_cache_path(entry)


def require_weights(entry: ModelEntry, models_dir: Path) -> Path:
    path = find_weights(entry, models_dir)
    if path is None:
        from huggingface_hub.constants import HF_HUB_CACHE

        hint = "run `ddiffusion serve` once to build it" if entry.tiny else f"copy the {entry.weights} weights there"
        raise ModelUnavailableError(
            f"Weights for {entry.name} not found: looked in {local_path(entry, models_dir)} and the Hugging Face "
            f"cache {HF_HUB_CACHE}; {hint}."
        )
    return path


def pick_device(preferred: str | None) -> tuple[str, torch.dtype]:
    """cuda → mps → cpu unless set; half precision on GPUs, fp32 on CPU."""
    if preferred:
        device = preferred
    elif torch.cuda.is_available():
        device = "cuda"
    elif torch.backends.mps.is_available():
        device = "mps"
    else:
        device = "cpu"
    if device.startswith("cuda"):
        return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return device, torch.float16 if device == "mps" else torch.float32
