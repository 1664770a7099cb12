"""The `tiny-*` models: real pipeline classes with small random weights, built and saved here
(no download) and loaded back with the real `from_pretrained`, like any other weights."""

import argparse
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderKLLTXVideo,
    AutoencoderKLQwenImage,
    AutoencoderKLWan,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    FluxPipeline,
    FluxTransformer2DModel,
    LTXPipeline,
    LTXVideoTransformer3DModel,
    QwenImagePipeline,
    QwenImageTransformer2DModel,
    SD3Transformer2DModel,
    StableDiffusion3Pipeline,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
    WanPipeline,
    WanTransformer3DModel,
)
from tokenizers import Tokenizer, pre_tokenizers, trainers
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen2Tokenizer,
    Qwen2VLImageProcessorPil,
    T5Config,
    T5EncoderModel,
    T5Tokenizer,
    UMT5Config,
    UMT5EncoderModel,
)

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
# Qwen2.5-VL's layout: each image part becomes one <|image_pad|> between vision markers, which
# the engine widens to the image's number of merged patches (as Qwen2_5_VLProcessor does).
VISION_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}{% else %}{% for part in message['content'] %}{% if part['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% else %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN_VL_TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]


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


def _clip_tokenizer() -> CLIPTokenizer:
    bos, eos = "<|startoftext|>", "<|endoftext|>"
    vocab, merges = _train_bpe(CLIPTokenizer().backend_tokenizer, [bos, eos])
    return CLIPTokenizer(vocab=vocab, merges=merges, bos_token=bos, eos_token=eos, unk_token=eos, pad_token=eos, model_max_length=77)


def _t5_tokenizer() -> T5Tokenizer:
    """A T5-style tokenizer: a Unigram vocabulary behind T5's own Metaspace pipeline, in T5's
    layout (pad, eos, unk first). Built, not trained (the Unigram trainer is not deterministic):
    CORPUS's words score above single characters, and every printable ASCII character is there,
    so any English text tokenizes without `unk`."""
    words = sorted({"▁" + word for line in CORPUS for word in line.split()})
    characters = sorted({*(chr(code) for code in range(33, 127)), *(f"▁{chr(code)}" for code in range(33, 127))})
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -3.0)]
    pieces += [(word, -1.0) for word in words] + [(char, -5.0) for char in characters if char not in words]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=512)


def _clip_text_config(tokenizer: CLIPTokenizer, projection_dim: int = 32) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        max_position_embeddings=77, projection_dim=projection_dim, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip


def _t5_encoder(tokenizer: T5Tokenizer, d_model: int) -> T5EncoderModel:
    return T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer), d_model=d_model, d_ff=64, d_kv=8, num_layers=2, num_heads=4,
            relative_attention_num_buckets=8, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        )
    )  # fmt: skip


def _vae(latent_channels: int, **flow_matching_scale: float) -> AutoencoderKL:
    return AutoencoderKL(
        block_out_channels=(8, 8, 16, 16),  # four blocks: 8x downsampling, as in the real VAEs
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=latent_channels,
        norm_num_groups=8,
        layers_per_block=1,
        sample_size=64,
        **flow_matching_scale,
    )


def build_tiny_sd(out_dir: Path) -> None:
    """Stable Diffusion 1.x classes: UNet, VAE with 8x downsampling, CLIP text encoder and tokenizer."""
    tokenizer = _clip_tokenizer()
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
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)
    pipe = StableDiffusionPipeline(
        unet=unet, vae=_vae(4), text_encoder=CLIPTextModel(_clip_text_config(tokenizer)), tokenizer=tokenizer,
        scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipe.save_pretrained(out_dir)


def build_tiny_sdxl(out_dir: Path) -> None:
    """SDXL classes: two CLIP text encoders (the second with projection) and a UNet with SDXL's
    added text-time conditioning."""
    tokenizer = _clip_tokenizer()
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=6 * 8 + 32,  # six size/crop numbers + the pooled projection
        cross_attention_dim=64,  # both encoders' hidden states side by side
    )
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)
    pipe = StableDiffusionXLPipeline(
        vae=_vae(4), text_encoder=CLIPTextModel(_clip_text_config(tokenizer)),
        text_encoder_2=CLIPTextModelWithProjection(_clip_text_config(tokenizer)), tokenizer=tokenizer,
        tokenizer_2=tokenizer, unet=unet, scheduler=scheduler, add_watermarker=False,
    )  # fmt: skip
    pipe.save_pretrained(out_dir)


def build_tiny_sd3(out_dir: Path) -> None:
    """Stable Diffusion 3 classes: MMDiT transformer, 16-channel VAE, two CLIP encoders and T5."""
    clip, t5 = _clip_tokenizer(), _t5_tokenizer()
    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(
        sample_size=8, patch_size=2, in_channels=16, out_channels=16, num_layers=2, attention_head_dim=8,
        num_attention_heads=4, caption_projection_dim=32, joint_attention_dim=64, pooled_projection_dim=64,
    )  # fmt: skip
    pipe = StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=_vae(16, shift_factor=0.0609, scaling_factor=1.5035),
        text_encoder=CLIPTextModelWithProjection(_clip_text_config(clip)), tokenizer=clip,
        text_encoder_2=CLIPTextModelWithProjection(_clip_text_config(clip)), tokenizer_2=clip,
        text_encoder_3=_t5_encoder(t5, d_model=64), tokenizer_3=t5,
    )  # fmt: skip
    pipe.save_pretrained(out_dir)


def build_tiny_flux(out_dir: Path) -> None:
    """Flux.1 classes: a two-layer Flux transformer, 16-channel VAE, CLIP and T5 encoders. The
    same components serve FluxPipeline, FluxImg2ImgPipeline, FluxInpaintPipeline and Kontext."""
    clip, t5 = _clip_tokenizer(), _t5_tokenizer()
    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8],
    )  # fmt: skip
    pipe = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=_vae(16, shift_factor=0.1159, scaling_factor=0.3611),
        text_encoder=CLIPTextModel(_clip_text_config(clip)), tokenizer=clip, text_encoder_2=_t5_encoder(t5, d_model=32),
        tokenizer_2=t5, transformer=transformer,
    )  # fmt: skip
    pipe.save_pretrained(out_dir)


def build_tiny_flux_fill(out_dir: Path) -> None:
    """FLUX.1 Fill classes: tiny-flux's components, with a transformer that also takes the masked
    image's latents (16·4 packed) and the mask at latent resolution (8·8 pixels · 4 packed)."""
    build_tiny_flux(out_dir)
    torch.manual_seed(1)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=64 + 64 + 256, out_channels=64, num_layers=1, num_single_layers=1,
        attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8],
    )  # fmt: skip
    transformer.save_pretrained(out_dir / "transformer")
    index = json.loads((out_dir / "model_index.json").read_text())
    (out_dir / "model_index.json").write_text(json.dumps(index | {"_class_name": "FluxFillPipeline"}, indent=2, sort_keys=True) + "\n")


def build_tiny_ltx(out_dir: Path) -> None:
    """LTX-Video classes (after diffusers' own LTX tests): a one-layer LTX transformer, a causal
    video VAE and T5. The same components serve LTXPipeline and LTXImageToVideoPipeline."""
    t5 = _t5_tokenizer()
    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4, attention_head_dim=8,
        cross_attention_dim=32, num_layers=1, caption_channels=32,
    )  # fmt: skip
    # The real VAE's 32x spatial and 8x temporal compression (4x4 patches, three scaling blocks),
    # so the twin has LTX-Video's size and frame rules, on 8 channels throughout.
    vae = AutoencoderKLLTXVideo(
        latent_channels=8, block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False), decoder_spatio_temporal_scaling=(True, True, True, False),
        patch_size=4, patch_size_t=1, encoder_causal=True, decoder_causal=False,
    )  # fmt: skip
    pipe = LTXPipeline(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=_t5_encoder(t5, d_model=32),
        tokenizer=t5,
    )  # fmt: skip
    pipe.save_pretrained(out_dir)


def build_tiny_wan(out_dir: Path) -> None:
    """Wan 2.1 text-to-video classes (after diffusers' own Wan tests): a two-layer Wan transformer,
    the Wan video VAE (8x spatial, 4x temporal compression) and a UMT5 encoder with a T5 tokenizer."""
    t5 = _t5_tokenizer()
    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(
        UMT5Config(
            vocab_size=len(t5), d_model=32, d_ff=64, d_kv=8, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
            pad_token_id=t5.pad_token_id, eos_token_id=t5.eos_token_id,
        )
    )  # fmt: skip
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16, text_dim=32,
        freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
    )  # fmt: skip
    pipe = WanPipeline(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), text_encoder=text_encoder,
        tokenizer=t5,
    )  # fmt: skip
    pipe.save_pretrained(out_dir)


def _qwen_tokenizer(extra_special_tokens: list[str], chat_template: str) -> Qwen2Tokenizer:
    """A Qwen2 tokenizer with Qwen's ChatML tokens (and any others, e.g. the vision markers)."""
    pad, im_start, im_end = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
    specials = [pad, im_start, im_end, *extra_special_tokens]
    vocab, merges = _train_bpe(Qwen2Tokenizer().backend_tokenizer, specials)
    return Qwen2Tokenizer(
        vocab=vocab, merges=merges, eos_token=im_end, pad_token=pad, unk_token=None,
        extra_special_tokens=[im_start, *extra_special_tokens], model_max_length=512, chat_template=chat_template,
    )  # fmt: skip


def build_tiny_llm(out_dir: Path) -> None:
    """A Qwen2 causal LM with Qwen's ChatML special tokens and chat template."""
    tokenizer = _qwen_tokenizer([], CHAT_TEMPLATE)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=512, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )  # fmt: skip
    _save_chat_model(model, tokenizer, out_dir)


def _save_chat_model(model: Qwen2ForCausalLM | Qwen2_5_VLForConditionalGeneration, tokenizer: Qwen2Tokenizer, out_dir: Path) -> None:
    # generate() reads its stop and pad tokens from here, not from the tokenizer.
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def _qwen_vl_model(tokenizer: Qwen2Tokenizer, hidden_size: int) -> Qwen2_5_VLForConditionalGeneration:
    """Qwen2.5-VL with two-layer text and vision towers. The vision tower keeps the real patch
    geometry (14-pixel patches, 2x2 merges, 2-frame temporal patches) so the real image processor
    feeds it. Heads have 8 dims on both sides; the text side's multimodal rope splits its 4
    rotary frequencies over time, height and width as [1, 1, 2]."""
    ids = dict(zip(QWEN_VL_TOKENS, tokenizer.convert_tokens_to_ids(QWEN_VL_TOKENS), strict=True))
    return Qwen2_5_VLForConditionalGeneration(
        Qwen2_5_VLConfig(
            text_config={
                "vocab_size": len(tokenizer), "hidden_size": hidden_size, "intermediate_size": 2 * hidden_size,
                "num_hidden_layers": 2, "num_attention_heads": hidden_size // 8, "num_key_value_heads": 2,
                "max_position_embeddings": 512, "bos_token_id": None, "eos_token_id": tokenizer.eos_token_id,
                "pad_token_id": tokenizer.pad_token_id,
                "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [1, 1, 2]},
            },
            vision_config={
                "depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 4, "out_hidden_size": hidden_size,
                "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "fullatt_block_indexes": [1],
            },
            image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
            vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        )
    ).eval()  # fmt: skip


def build_tiny_vlm(out_dir: Path) -> None:
    """Qwen2.5-VL classes: Qwen2_5_VLForConditionalGeneration, a Qwen2 tokenizer with the vision
    markers and a chat template that places image pads, and Qwen2-VL's image processor.

    No processor_config.json: transformers builds Qwen2_5_VLProcessor only with torchvision (its
    video processor needs it), which the CPU install leaves out. The engine loads the tokenizer
    (AutoTokenizer) and the image processor (AutoImageProcessor, which falls back to the PIL-based
    Qwen2VLImageProcessorPil without torchvision) separately, as it does for the real weights."""
    tokenizer = _qwen_tokenizer(QWEN_VL_TOKENS, VISION_CHAT_TEMPLATE)
    torch.manual_seed(0)
    model = _qwen_vl_model(tokenizer, hidden_size=32)
    # Small images stay small: 2x2 to 4x4 merged patches (4 to 16 image tokens).
    image_processor = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=28 * 28 * 16, patch_size=14, temporal_patch_size=2, merge_size=2)
    _save_chat_model(model, tokenizer, out_dir)
    image_processor.save_pretrained(out_dir)


def build_tiny_qwen_image(out_dir: Path) -> None:
    """Qwen-Image classes (after diffusers' own QwenImage tests): a two-layer QwenImage
    transformer, the QwenImage VAE with the real 8x spatial compression, and the tiny Qwen2.5-VL
    as text encoder. The same components serve txt2img, img2img and inpaint."""
    tokenizer = _qwen_tokenizer(QWEN_VL_TOKENS, VISION_CHAT_TEMPLATE)
    torch.manual_seed(0)
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=16, out_channels=4, num_layers=2, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=16, guidance_embeds=False, axes_dims_rope=(8, 4, 4),
    )  # fmt: skip
    vae = AutoencoderKLQwenImage(
        base_dim=8, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True],
        latents_mean=[0.0] * 4, latents_std=[1.0] * 4,
    )  # fmt: skip
    pipe = QwenImagePipeline(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(),
        text_encoder=_qwen_vl_model(tokenizer, hidden_size=16),  # its hidden states are the joint_attention_dim of 16
        tokenizer=tokenizer,
    )  # fmt: skip
    pipe.save_pretrained(out_dir)


TINY_BUILDERS: dict[str, Callable[[Path], None]] = {
    "tiny-sd": build_tiny_sd,
    "tiny-sdxl": build_tiny_sdxl,
    "tiny-sd3": build_tiny_sd3,
    "tiny-flux": build_tiny_flux,
    "tiny-flux-fill": build_tiny_flux_fill,
    "tiny-ltx": build_tiny_ltx,
    "tiny-wan": build_tiny_wan,
    "tiny-llm": build_tiny_llm,
    "tiny-vlm": build_tiny_vlm,
    "tiny-qwen-image": build_tiny_qwen_image,
}


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
