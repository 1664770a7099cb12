"""The `tiny-*` models: real pipeline classes with small random weights, built and saved here
(no download) and loaded back with the real `from_pretrained`, like any other weights."""

import argparse
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizerFast, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

# Enough words for a byte-level BPE to learn some merges; the weights are random anyway.
CORPUS = (
    "a photo of a red teapot on a wooden table in soft morning light, studio lighting, cinematic, "
    "matte painting of a castle on a hill at dusk, concept art, volumetric fog, high detail, "
    "portrait of an astronaut, film grain, 35mm, sharp focus, hello world, the quick brown fox "
    "jumps over the lazy dog, smoke simulation, explosion, water splash, forest, city, night, "
    "user assistant system you are a helpful assistant answer briefly count to ten haiku"
).split(", ")
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _byte_level_bpe(vocab_size: int, special_tokens: list[str]) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special_tokens, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(CORPUS * 4, trainer)
    return tokenizer


def build_tiny_sd(out_dir: Path) -> None:
    """Stable Diffusion 1.x classes: UNet, 8x VAE, CLIP text encoder and tokenizer."""
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 8, 16, 16),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        norm_num_groups=8,
        layers_per_block=1,
        sample_size=64,
    )
    bpe = _byte_level_bpe(1000, ["<|startoftext|>", "<|endoftext|>"])
    bos, eos = bpe.token_to_id("<|startoftext|>"), bpe.token_to_id("<|endoftext|>")
    bpe.post_processor = processors.TemplateProcessing(single="<|startoftext|> $A <|endoftext|>", special_tokens=[("<|startoftext|>", bos), ("<|endoftext|>", eos)])
    tokenizer = CLIPTokenizerFast(tokenizer_object=bpe, bos_token="<|startoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>", pad_token="<|endoftext|>", model_max_length=77)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=bpe.get_vocab_size(), hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
            max_position_embeddings=77, bos_token_id=bos, eos_token_id=eos, pad_token_id=eos, projection_dim=32,
        )
    )  # fmt: skip
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000, steps_offset=1)
    pipe = StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipe.save_pretrained(out_dir)


def build_tiny_llm(out_dir: Path) -> None:
    """A Qwen2 causal LM with a ChatML chat template."""
    torch.manual_seed(0)
    bpe = _byte_level_bpe(600, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>", model_max_length=512)
    tokenizer.chat_template = CHAT_TEMPLATE
    model = Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=bpe.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=512, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        )
    )  # fmt: skip
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


TINY_BUILDERS: dict[str, Callable[[Path], None]] = {"tiny-sd": build_tiny_sd, "tiny-llm": build_tiny_llm}


def ensure_tiny_models(models_dir: Path, names: Iterable[str] | None = None) -> list[str]:
    """Build each missing tiny model into models_dir/<name>; returns the names built. Built in a
    temp dir and renamed into place, so a crash never leaves half a model."""
    models_dir.mkdir(parents=True, exist_ok=True)
    built = []
    for name in names or TINY_BUILDERS:
        target = models_dir / name
        if target.exists():
            continue
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=models_dir))
        try:
            TINY_BUILDERS[name](staging)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        built.append(name)
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the tiny-* models (small random weights) once.")
    parser.add_argument("models_dir", type=Path)
    built = ensure_tiny_models(parser.parse_args().models_dir)
    print(f"built: {', '.join(built)}" if built else "tiny models already present")


if __name__ == "__main__":
    main()
