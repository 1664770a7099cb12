"""The `tiny-*` models: real pipeline classes with small random weights, built and saved here
(no download) and loaded back with the real `from_pretrained`, like any other weights."""

import argparse
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
from tokenizers import Tokenizer, pre_tokenizers, trainers
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, Qwen2Config, Qwen2ForCausalLM, Qwen2Tokenizer

# Enough English for a byte-level BPE to learn some merges; the weights are random anyway.
CORPUS = (
    "a photo of a red teapot on a wooden table in soft morning light",
    "studio lighting, cinematic, matte painting of a castle on a hill at dusk",
    "concept art, volumetric fog, high detail, portrait of an astronaut",
    "film grain, 35mm, sharp focus, smoke simulation, explosion, water splash",
    "the quick brown fox jumps over the lazy dog in a forest, a city at night",
    "hello world! you are a helpful assistant: answer briefly, count to ten, write a haiku",
)
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _train_bpe(pipeline: Tokenizer, special_tokens: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Vocab and merges of a byte-level BPE trained on CORPUS through a real tokenizer class's own
    normaliser and pre-tokeniser. transformers rebuilds CLIP and Qwen2 tokenizers from vocab and
    merges alone, so these must suit the class's pipeline: every byte is a token, and where the
    model marks word ends (CLIP's `</w>`) every byte and every merge also has a word-final form,
    as in the real vocabularies; otherwise unseen text would come out as `unk`."""
    suffix = pipeline.model.end_of_word_suffix
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    # Trained without the suffix: the trainer numbers suffixed symbols in hash order, so tied
    # merges would come out in a different order on every run; unsuffixed, it is deterministic.
    trainer = trainers.BpeTrainer(vocab_size=1000, special_tokens=special_tokens, initial_alphabet=alphabet, show_progress=False)
    pipeline.train_from_iterator(CORPUS, trainer)
    merges = [(left, right) for left, right in json.loads(pipeline.to_str())["model"]["merges"]]
    if suffix:
        merges = [merge for left, right in merges for merge in ((left, right), (left, right + suffix))]
        alphabet += [byte + suffix for byte in alphabet]
    tokens = dict.fromkeys([*special_tokens, *alphabet, *(left + right for left, right in merges)])
    return {token: index for index, token in enumerate(tokens)}, merges


def build_tiny_sd(out_dir: Path) -> None:
    """Stable Diffusion 1.x classes: UNet, VAE with 8x downsampling, CLIP text encoder and tokenizer."""
    bos, eos = "<|startoftext|>", "<|endoftext|>"
    vocab, merges = _train_bpe(CLIPTokenizer().backend_tokenizer, [bos, eos])
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, bos_token=bos, eos_token=eos, unk_token=eos, pad_token=eos, model_max_length=77)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8,  # latents of a 64x64 image, so the pipeline's default size is 64x64
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 8, 16, 16),  # four blocks: 8x downsampling, as in the real VAE
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        norm_num_groups=8,
        layers_per_block=1,
        sample_size=64,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
            max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )  # fmt: skip
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)
    pipe = StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipe.save_pretrained(out_dir)


def build_tiny_llm(out_dir: Path) -> None:
    """A Qwen2 causal LM with Qwen's ChatML special tokens and chat template."""
    pad, im_start, im_end = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
    vocab, merges = _train_bpe(Qwen2Tokenizer().backend_tokenizer, [pad, im_start, im_end])
    tokenizer = Qwen2Tokenizer(
        vocab=vocab, merges=merges, eos_token=im_end, pad_token=pad, unk_token=None, extra_special_tokens=[im_start],
        model_max_length=512, chat_template=CHAT_TEMPLATE,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=512, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )  # fmt: skip
    # generate() reads its stop and pad tokens from here, not from the tokenizer.
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


TINY_BUILDERS: dict[str, Callable[[Path], None]] = {"tiny-sd": build_tiny_sd, "tiny-llm": build_tiny_llm}


def ensure_tiny_models(models_dir: Path, names: Iterable[str] | None = None) -> list[str]:
    """Build each missing tiny model into models_dir/<name> and return the names built. Each is
    built in a temp dir beside its target and renamed into place, so a crash never leaves half a
    model under the name, and a directory that is there is complete and skipped."""
    wanted = list(TINY_BUILDERS if names is None else names)
    if unknown := [name for name in wanted if name not in TINY_BUILDERS]:
        raise ValueError(f"Unknown tiny models {unknown}; known: {sorted(TINY_BUILDERS)}")
    models_dir.mkdir(parents=True, exist_ok=True)
    built = []
    for name in wanted:
        target = models_dir / name
        if target.exists():
            continue
        with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=models_dir) as staging:
            TINY_BUILDERS[name](Path(staging))
            os.chmod(staging, 0o755)  # mkdtemp makes it owner-only; workers may run as other users
            try:
                os.replace(staging, target)
            except OSError:
                if not target.exists():
                    raise
                continue  # another process built it first; ours is cleaned up with the temp dir
        built.append(name)
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the tiny-* models (small random weights) where missing.")
    parser.add_argument("models_dir", type=Path)
    built = ensure_tiny_models(parser.parse_args().models_dir)
    print(f"built: {', '.join(built)}" if built else "tiny models already present")


if __name__ == "__main__":
    main()
