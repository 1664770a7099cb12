"""Real-size twins: the large models' published architectures (layer counts and widths, kept as
this project's own config files in `real_size/`) built with random weights, to measure speed on a
GPU where no checkpoint can be downloaded. Speed does not depend on the weights' values: the same
architecture runs the same kernels at the same sizes.

Built on the `meta` device nothing is allocated (how the tests check them on CPU); built on a CUDA
device in its dtype, each parameter is created there, never as an fp32 copy in host memory."""

import importlib
import json
from pathlib import Path
from typing import Any

import torch

SPECS_DIR = Path(__file__).with_name("real_size")


def real_size_models() -> list[str]:
    return sorted(path.stem for path in SPECS_DIR.glob("*.json"))


def spec(model: str) -> dict[str, Any]:
    """The pipeline class, the checkpoint it stands for, and each component's class and config."""
    path = SPECS_DIR / f"{model}.json"
    if not path.is_file():
        raise KeyError(f"No real-size config for {model!r}; there are: {', '.join(real_size_models())}.")
    return json.loads(path.read_text())


def build(model: str, device: str | torch.device = "meta", dtype: torch.dtype = torch.bfloat16) -> dict[str, torch.nn.Module]:
    """Every component of the model's pipeline with random weights, created on `device` in `dtype`."""
    return {name: build_component(part["class"], part["config"], device, dtype) for name, part in spec(model)["components"].items()}


def build_component(qualified_class: str, config: dict[str, Any], device: str | torch.device, dtype: torch.dtype) -> torch.nn.Module:
    library, class_name = qualified_class.split(".")
    model_class = getattr(importlib.import_module(library), class_name)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            if library == "transformers":
                return model_class(model_class.config_class(**config))
            return model_class.from_config(config)
    finally:
        torch.set_default_dtype(previous)


def parameter_count(module: torch.nn.Module, *, buffers: bool = False) -> int:
    """Parameters (and, with `buffers`, the tensors a checkpoint also holds as buffers, such as SD3's
    position embedding)."""
    count = sum(parameter.numel() for parameter in module.parameters())
    return count + (sum(buffer.numel() for buffer in module.buffers()) if buffers else 0)
