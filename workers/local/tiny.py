"""The `tiny-*` models: real pipeline classes with small random weights, built and saved here
(no download) and loaded back with the real `from_pretrained`, like any other weights."""

import argparse
import functools
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderKLFlux2,
    AutoencoderKLHunyuanVideo15,
    AutoencoderKLLTXVideo,
    AutoencoderKLQwenImage,
    AutoencoderKLWan,
    ClassifierFreeGuidance,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    Flux2KleinPipeline,
    Flux2Pipeline,
    Flux2Transformer2DModel,
    FluxPipeline,
    FluxTransformer2DModel,
    HunyuanVideo15ImageToVideoPipeline,
    HunyuanVideo15Pipeline,
    HunyuanVideo15Transformer3DModel,
    LTXPipeline,
    LTXVideoTransformer3DModel,
    QwenImagePipeline,
    QwenImageTransformer2DModel,
    SD3Transformer2DModel,
    StableDiffusion3Pipeline,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
    UniPCMultistepScheduler,
    WanPipeline,
    WanTransformer3DModel,
    ZImagePipeline,
    ZImageTransformer2DModel,
)
from tokenizers import Tokenizer, pre_tokenizers, trainers
from transformers import (
    ByT5Tokenizer,
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    DepthAnythingConfig,
    DepthAnythingForDepthEstimation,
    Dinov2Config,
    DPTImageProcessorPil,
    Mistral3Config,
    Mistral3ForConditionalGeneration,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLTextConfig,
    Qwen2_5_VLTextModel,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen2Tokenizer,
    Qwen2VLImageProcessorPil,
    Qwen3Config,
    Qwen3ForCausalLM,
    Qwen3Model,
    Sam2Config,
    Sam2HieraDetConfig,
    Sam2MaskDecoderConfig,
    Sam2Model,
    Sam2PromptEncoderConfig,
    Sam2VisionConfig,
    Sam3Config,
    Sam3DETRDecoderConfig,
    Sam3DETREncoderConfig,
    Sam3GeometryEncoderConfig,
    Sam3MaskDecoderConfig,
    Sam3Model,
    Sam3VisionConfig,
    Sam3ViTConfig,
    SiglipImageProcessorPil,
    SiglipVisionConfig,
    SiglipVisionModel,
    Swin2SRConfig,
    Swin2SRForImageSuperResolution,
    Swin2SRImageProcessorPil,
    T5Config,
    T5EncoderModel,
    T5Tokenizer,
    UMT5Config,
    UMT5EncoderModel,
    ViTImageProcessorPil,
)
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, PILImageResampling

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


def _umt5_encoder(tokenizer: T5Tokenizer) -> UMT5EncoderModel:
    """Wan's text encoder class (UMT5) at 32 dims."""
    return UMT5EncoderModel(
        UMT5Config(
            vocab_size=len(tokenizer), d_model=32, d_ff=64, d_kv=8, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        )
    )  # fmt: skip


def build_tiny_wan(out_dir: Path) -> None:
    """Wan 2.1 text-to-video classes (after diffusers' own Wan tests): a two-layer Wan transformer,
    the Wan video VAE (8x spatial, 4x temporal compression) and a UMT5 encoder with a T5 tokenizer."""
    t5 = _t5_tokenizer()
    torch.manual_seed(0)
    text_encoder = _umt5_encoder(t5)
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


def build_tiny_wan_22(out_dir: Path) -> None:
    """Wan 2.2 TI2V-5B classes (after diffusers' own Wan 2.2 5B tests): the 2.2 VAE (residual blocks,
    2x2 patchify, 48 latent channels: 16x spatial and 4x temporal compression), a two-layer Wan
    transformer on 48 channels without an image encoder, UMT5, and `expand_timesteps`, with which
    the same components serve WanPipeline (text to video) and WanImageToVideoPipeline (the first
    frame's latents kept clean while the rest denoise)."""
    t5 = _t5_tokenizer()
    torch.manual_seed(0)
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=48, in_channels=12, out_channels=12, is_residual=True, patch_size=2, dim_mult=[1, 1, 1, 1],
        num_res_blocks=1, temperal_downsample=[False, True, True], scale_factor_spatial=16, scale_factor_temporal=4,
        latents_mean=[0.0] * 48, latents_std=[1.0] * 48,
    )  # fmt: skip
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=48, out_channels=48, text_dim=32,
        freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
    )  # fmt: skip
    # The checkpoint's scheduler: UniPC on flow-matching sigmas.
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0, num_train_timesteps=1000)
    pipe = WanPipeline(
        transformer=transformer, vae=vae, scheduler=scheduler, text_encoder=_umt5_encoder(t5), tokenizer=t5, expand_timesteps=True
    )
    pipe.save_pretrained(out_dir)


# The tiny HunyuanVideo 1.5's resolution (the real 480p one's is 640): image-to-video makes the
# size of its bucket of about target_size² pixels nearest the image's aspect, here 96x64 or 64x64 among them.
TINY_HUNYUAN_TARGET_SIZE = 78


def _hunyuan_video_15_components() -> dict[str, Any]:
    """What HunyuanVideo 1.5's text-to-video and image-to-video checkpoints share in class and shape
    (after diffusers' own HunyuanVideo 1.5 tests): the tiny Qwen2.5-VL text model with Qwen's
    tokenizer, a ByT5 encoder for quoted text, the video VAE with the real 16x spatial and 4x
    temporal compression, a flow-matching scheduler and the classifier-free guider (which holds
    the guidance scale: the pipelines take none)."""
    tokenizer, byt5 = _qwen_tokenizer(QWEN_VL_TOKENS, VISION_CHAT_TEMPLATE), ByT5Tokenizer()
    torch.manual_seed(0)
    text_encoder = Qwen2_5_VLTextModel(
        Qwen2_5_VLTextConfig(
            vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=2, max_position_embeddings=1200,  # prompts are padded to 1108 tokens
            bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [1, 1, 2]},
        )
    )  # fmt: skip
    byt5_encoder = T5EncoderModel(
        T5Config(
            vocab_size=len(byt5), d_model=16, d_ff=32, d_kv=8, num_layers=1, num_heads=2, relative_attention_num_buckets=8,
            pad_token_id=byt5.pad_token_id, eos_token_id=byt5.eos_token_id,
        )
    )  # fmt: skip
    vae = AutoencoderKLHunyuanVideo15(
        latent_channels=4, block_out_channels=(8, 8, 8, 8, 8), layers_per_block=1, spatial_compression_ratio=16,
        temporal_compression_ratio=4,
    )  # fmt: skip
    return {
        "text_encoder": text_encoder, "tokenizer": tokenizer, "text_encoder_2": byt5_encoder, "tokenizer_2": byt5, "vae": vae,
        "scheduler": FlowMatchEulerDiscreteScheduler(shift=7.0), "guider": ClassifierFreeGuidance(guidance_scale=6.0),
    }  # fmt: skip


def _hunyuan_video_15_transformer(task_type: str) -> HunyuanVideo15Transformer3DModel:
    """One dual-stream layer on the VAE's 4 latent channels (+ 4 of the first frame's and a mask).
    Saved in bfloat16: its ByT5 projection has a fixed 2048-wide layer, 16 MB in float32."""
    transformer = HunyuanVideo15Transformer3DModel(
        in_channels=9, out_channels=4, num_attention_heads=2, attention_head_dim=8, num_layers=1, num_refiner_layers=1,
        mlp_ratio=2.0, text_embed_dim=16, text_embed_2_dim=16, image_embed_dim=16, rope_axes_dim=(2, 2, 4),
        target_size=TINY_HUNYUAN_TARGET_SIZE, task_type=task_type,
    )  # fmt: skip
    return transformer.to(torch.bfloat16)


def build_tiny_hunyuan_video_15_t2v(out_dir: Path) -> None:
    """HunyuanVideo 1.5 text-to-video classes (HunyuanVideo15Pipeline)."""
    components = _hunyuan_video_15_components()
    HunyuanVideo15Pipeline(transformer=_hunyuan_video_15_transformer("t2v"), **components).save_pretrained(out_dir)


def build_tiny_hunyuan_video_15_i2v(out_dir: Path) -> None:
    """HunyuanVideo 1.5 image-to-video classes (HunyuanVideo15ImageToVideoPipeline): the shared
    components, and a SigLIP vision tower (with its PIL image processor) for the first frame."""
    components = _hunyuan_video_15_components()
    image_encoder = SiglipVisionModel(
        SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=28, patch_size=14)
    )
    pipe = HunyuanVideo15ImageToVideoPipeline(
        transformer=_hunyuan_video_15_transformer("i2v"), image_encoder=image_encoder,
        feature_extractor=SiglipImageProcessorPil(size={"height": 28, "width": 28}), **components,
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
    _save_chat_model(model, tokenizer, out_dir)
    _qwen_vl_image_processor().save_pretrained(out_dir)


def _qwen_vl_image_processor() -> Qwen2VLImageProcessorPil:
    # Small images stay small: 2x2 to 4x4 merged patches (4 to 16 image tokens).
    return Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=28 * 28 * 16, patch_size=14, temporal_patch_size=2, merge_size=2)


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
    # The processor files of the real Qwen-Image-Edit checkpoints (tokenizer and image processor):
    # tiny-qwen-image-edit runs QwenImageEditPlusPipeline on these weights.
    tokenizer.save_pretrained(out_dir / "processor")
    _qwen_vl_image_processor().save_pretrained(out_dir / "processor")


# Mistral's chat layout, which FLUX.2's prompt encoder renders from content parts (system and user turns).
MISTRAL_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}[SYSTEM_PROMPT]{% else %}[INST]{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}[IMG]{% else %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{% if message['role'] == 'system' %}[/SYSTEM_PROMPT]{% else %}[/INST]{% endif %}{% endfor %}"
)
MISTRAL_TOKENS = ["[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[INST]", "[/INST]", "[IMG]", "[IMG_BREAK]", "[IMG_END]"]


def _flux2_parts(text_dim: int, guidance_embeds: bool) -> tuple[Flux2Transformer2DModel, AutoencoderKLFlux2]:
    """FLUX.2's transformer and VAE, small: the VAE keeps the real 8x compression (packed in 2x2
    patches, so sizes are multiples of 16), and the transformer reads three of the text
    encoder's hidden layers side by side."""
    torch.manual_seed(0)
    transformer = Flux2Transformer2DModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=3 * text_dim, timestep_guidance_channels=256, axes_dims_rope=[4, 4, 4, 4], guidance_embeds=guidance_embeds,
    )  # fmt: skip
    vae = AutoencoderKLFlux2(block_out_channels=(8, 8, 16, 16), layers_per_block=1, latent_channels=4, norm_num_groups=8, sample_size=64)
    return transformer, vae


def _qwen3_config(tokenizer: Qwen2Tokenizer, num_hidden_layers: int) -> Qwen3Config:
    return Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=num_hidden_layers, num_attention_heads=2,
        num_key_value_heads=1, head_dim=8, max_position_embeddings=512, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip


def build_tiny_flux_2(out_dir: Path) -> None:
    """FLUX.2 [dev] classes: Flux2Transformer2DModel, AutoencoderKLFlux2 and a Mistral3 text encoder
    with 30 narrow layers, since the pipeline reads its hidden layers 10, 20 and 30. The real
    `tokenizer` is a PixtralProcessor, which transformers builds only with torchvision; the prompt
    encoder needs only its tokenizer and chat template, so the twin saves a tokenizer."""
    pad, bos, eos = "<pad>", "<s>", "</s>"
    vocab, merges = _train_bpe(Qwen2Tokenizer().backend_tokenizer, [pad, bos, eos, *MISTRAL_TOKENS])
    tokenizer = Qwen2Tokenizer(
        vocab=vocab, merges=merges, bos_token=bos, eos_token=eos, pad_token=pad, unk_token=None, extra_special_tokens=MISTRAL_TOKENS,
        model_max_length=512, chat_template=MISTRAL_CHAT_TEMPLATE,
    )  # fmt: skip
    transformer, vae = _flux2_parts(text_dim=16, guidance_embeds=True)
    text_encoder = Mistral3ForConditionalGeneration(
        Mistral3Config(
            text_config={
                "model_type": "mistral", "vocab_size": len(tokenizer), "hidden_size": 16, "intermediate_size": 32,
                "num_hidden_layers": 30, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8,
                "max_position_embeddings": 512, "sliding_window": None, "bos_token_id": tokenizer.bos_token_id,
                "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id,
            },
            vision_config={
                "model_type": "pixtral", "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
                "image_size": 64, "patch_size": 16, "head_dim": 8,
            },
            image_token_index=tokenizer.convert_tokens_to_ids("[IMG]"),
        )
    ).eval()  # fmt: skip
    pipe = Flux2Pipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer)
    pipe.save_pretrained(out_dir)


def build_tiny_flux_2_klein(out_dir: Path) -> None:
    """FLUX.2 [klein] classes, step-distilled like the 4B release: the FLUX.2 transformer without
    guidance embeddings, AutoencoderKLFlux2 and a Qwen3 causal LM with 27 narrow layers (the
    pipeline reads hidden layers 9, 18 and 27). The same components serve Flux2KleinInpaintPipeline."""
    tokenizer = _qwen_tokenizer([], CHAT_TEMPLATE)
    transformer, vae = _flux2_parts(text_dim=16, guidance_embeds=False)
    text_encoder = Qwen3ForCausalLM(_qwen3_config(tokenizer, num_hidden_layers=27)).eval()
    pipe = Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer,
        is_distilled=True,
    )  # fmt: skip
    pipe.save_pretrained(out_dir)


def build_tiny_z_image(out_dir: Path) -> None:
    """Z-Image classes (after diffusers' own Z-Image tests): a two-layer ZImageTransformer2DModel,
    the Flux-style 16-channel VAE and a Qwen3 text encoder (its second-to-last hidden layer is the
    caption). The same components serve the img2img and inpaint pipelines."""
    tokenizer = _qwen_tokenizer([], CHAT_TEMPLATE)
    torch.manual_seed(0)
    # RoPE tables as long as the real model's: every caption and size the api accepts fits.
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=32, n_layers=2, n_refiner_layers=1, n_heads=2, n_kv_heads=2,
        norm_eps=1e-5, qk_norm=True, cap_feat_dim=16, rope_theta=256.0, t_scale=1000.0, axes_dims=[8, 4, 4], axes_lens=[1536, 512, 512],
    )  # fmt: skip
    with torch.no_grad():  # made with torch.empty: fixed, so that builds are deterministic
        transformer.x_pad_token.copy_(torch.ones_like(transformer.x_pad_token))
        transformer.cap_pad_token.copy_(torch.ones_like(transformer.cap_pad_token))
    pipe = ZImagePipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=_vae(16, shift_factor=0.1159, scaling_factor=0.3611),
        text_encoder=Qwen3Model(_qwen3_config(tokenizer, num_hidden_layers=2)).eval(), tokenizer=tokenizer, transformer=transformer,
    )  # fmt: skip
    pipe.save_pretrained(out_dir)


def build_tiny_depth_anything(out_dir: Path) -> None:
    """Depth Anything V2 classes: a four-layer DINOv2 backbone (14-pixel patches), the DPT neck and
    relative depth head, and the DPT image processor (keeps the aspect, sides in multiples of 14)."""
    torch.manual_seed(0)
    backbone = Dinov2Config(
        image_size=56, patch_size=14, hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32,
        out_features=["stage1", "stage2", "stage3", "stage4"], reshape_hidden_states=False,
    )  # fmt: skip
    config = DepthAnythingConfig(
        backbone_config=backbone, patch_size=14, reassemble_hidden_size=16, reassemble_factors=[4, 2, 1, 0.5],
        neck_hidden_sizes=[8, 16, 16, 16], fusion_hidden_size=16, head_hidden_size=8, depth_estimation_type="relative",
    )  # fmt: skip
    DepthAnythingForDepthEstimation(config).save_pretrained(out_dir)
    DPTImageProcessorPil(
        size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14, resample=PILImageResampling.BICUBIC,
        image_mean=IMAGENET_DEFAULT_MEAN, image_std=IMAGENET_DEFAULT_STD,
    ).save_pretrained(out_dir)  # fmt: skip


def build_tiny_sam2(out_dir: Path) -> None:
    """SAM 2 classes (after transformers' own Sam2Model tests): a Hiera backbone at 12 to 96 channels
    on 128-pixel inputs, the prompt encoder and mask decoder, and the memory modules the class
    always has. Its image processor config is Sam2's resize and ImageNet normalisation, saved by
    ViTImageProcessorPil (Sam2ImageProcessor needs torchvision); the engine reads the real weights'
    config with that class too."""
    torch.manual_seed(0)
    backbone = Sam2HieraDetConfig(
        hidden_size=12, image_size=128, blocks_per_stage=[1, 2, 7, 2], embed_dim_per_stage=[12, 24, 48, 96],
        num_attention_heads_per_stage=[1, 2, 4, 8],
    )  # fmt: skip
    vision = Sam2VisionConfig(
        backbone_config=backbone, backbone_channel_list=[96, 48, 24, 12], backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]],
        fpn_hidden_size=32,
    )  # fmt: skip
    config = Sam2Config(
        vision_config=vision,
        prompt_encoder_config=Sam2PromptEncoderConfig(image_size=128, patch_size=16, mask_input_channels=8, hidden_size=32),
        mask_decoder_config=Sam2MaskDecoderConfig(hidden_size=32, mlp_dim=64, num_attention_heads=4, iou_head_hidden_dim=32),
        memory_attention_hidden_size=12, memory_encoder_hidden_size=32, image_size=128, mask_downsampler_embed_dim=32,
        memory_fuser_embed_dim=32, memory_attention_num_layers=1, memory_attention_feed_forward_hidden_size=32,
    )  # fmt: skip
    Sam2Model(config).save_pretrained(out_dir)
    ViTImageProcessorPil(
        size={"height": 128, "width": 128}, resample=PILImageResampling.BILINEAR, image_mean=IMAGENET_DEFAULT_MEAN, image_std=IMAGENET_DEFAULT_STD
    ).save_pretrained(out_dir)


def build_tiny_sam3(out_dir: Path) -> None:
    """SAM 3 classes (after transformers' own Sam3Model tests): a two-layer ViT on 112-pixel inputs,
    a CLIP text encoder with the project's CLIP tokenizer, one-layer DETR encoder and decoder with 5
    queries, and the mask decoder. Image processor config as for tiny-sam-2 (mean and std 0.5, as Sam3's)."""
    tokenizer = _clip_tokenizer()
    torch.manual_seed(0)
    backbone = Sam3ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, image_size=112, patch_size=14,
        window_size=4, global_attn_indexes=[1],
    )  # fmt: skip
    text = {
        "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64, "projection_dim": 32, "num_hidden_layers": 2,
        "num_attention_heads": 4, "max_position_embeddings": 32, "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id,
    }  # fmt: skip
    config = Sam3Config(
        vision_config=Sam3VisionConfig(backbone_config=backbone, fpn_hidden_size=32, scale_factors=[2.0, 1.0]), text_config=text,
        geometry_encoder_config=Sam3GeometryEncoderConfig(
            hidden_size=32, num_layers=1, num_attention_heads=4, intermediate_size=64, mask_fuser_hidden_size=32, mask_fuser_num_layers=1
        ),
        detr_encoder_config=Sam3DETREncoderConfig(hidden_size=32, num_layers=1, num_attention_heads=4, intermediate_size=64),
        detr_decoder_config=Sam3DETRDecoderConfig(hidden_size=32, num_layers=1, num_queries=5, num_attention_heads=4, intermediate_size=64),
        mask_decoder_config=Sam3MaskDecoderConfig(hidden_size=32, num_upsampling_stages=2),
    )  # fmt: skip
    Sam3Model(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    ViTImageProcessorPil(
        size={"height": 112, "width": 112}, resample=PILImageResampling.BILINEAR, image_mean=[0.5] * 3, image_std=[0.5] * 3
    ).save_pretrained(out_dir)


def build_tiny_swin2sr(out_dir: Path, scale: int) -> None:
    """Swin2SR classes: a two-stage Swin V2 body with the real 8-pixel windows and the
    pixel-shuffle upsampler at ×scale, and Swin2SR's image processor."""
    torch.manual_seed(0)
    config = Swin2SRConfig(
        image_size=32, patch_size=1, embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=8, upscale=scale,
        upsampler="pixelshuffle", img_range=1.0,
    )  # fmt: skip
    Swin2SRForImageSuperResolution(config).save_pretrained(out_dir)
    Swin2SRImageProcessorPil(do_pad=True, size_divisor=8).save_pretrained(out_dir)


TINY_BUILDERS: dict[str, Callable[[Path], None]] = {
    "tiny-sd": build_tiny_sd,
    "tiny-sdxl": build_tiny_sdxl,
    "tiny-sd3": build_tiny_sd3,
    "tiny-flux": build_tiny_flux,
    "tiny-flux-fill": build_tiny_flux_fill,
    "tiny-ltx": build_tiny_ltx,
    "tiny-wan": build_tiny_wan,
    "tiny-wan-2.2": build_tiny_wan_22,
    "tiny-hunyuan-video-1.5-t2v": build_tiny_hunyuan_video_15_t2v,
    "tiny-hunyuan-video-1.5-i2v": build_tiny_hunyuan_video_15_i2v,
    "tiny-llm": build_tiny_llm,
    "tiny-vlm": build_tiny_vlm,
    "tiny-qwen-image": build_tiny_qwen_image,
    "tiny-flux-2": build_tiny_flux_2,
    "tiny-flux-2-klein": build_tiny_flux_2_klein,
    "tiny-z-image": build_tiny_z_image,
    "tiny-depth-anything-2": build_tiny_depth_anything,
    "tiny-sam-2": build_tiny_sam2,
    "tiny-sam-3": build_tiny_sam3,
    "tiny-swin2sr-x2": functools.partial(build_tiny_swin2sr, scale=2),
    "tiny-swin2sr-x4": functools.partial(build_tiny_swin2sr, scale=4),
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
