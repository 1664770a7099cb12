"""LoRA files for the tiny models, made here with peft like a trainer would."""

from pathlib import Path

import torch


def make_lora(models_dir: Path, out: Path, model: str = "tiny-sd") -> Path:
    """A LoRA for a tiny model's UNet, with random (non-zero) up-projections so that it shows."""
    from diffusers import DiffusionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = DiffusionPipeline.from_pretrained(models_dir / model)
    torch.manual_seed(3)
    pipe.unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False))
    type(pipe).save_lora_weights(out, unet_lora_layers=get_peft_model_state_dict(pipe.unet))
    return out / "pytorch_lora_weights.safetensors"
