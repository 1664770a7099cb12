"""The tiny-* twins: built here, reloaded with the real `from_pretrained`, and run on CPU."""

from pathlib import Path

import pytest
import torch
from diffusers import (
    DiffusionPipeline,
    QwenImageImg2ImgPipeline,
    QwenImageInpaintPipeline,
    QwenImagePipeline,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionPipeline,
)
from PIL import Image
from transformers import (
    AutoImageProcessor,
    AutoModelForCausalLM,
    AutoTokenizer,
    CLIPTokenizer,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2Tokenizer,
    Qwen2VLImageProcessorPil,
)

from workers.local import tiny
from workers.local.tiny import TINY_BUILDERS, ensure_tiny_models


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models")
    assert ensure_tiny_models(path) == list(TINY_BUILDERS)
    return path


def test_tiny_sd_runs_txt2img_and_img2img_from_the_same_components(models_dir: Path) -> None:
    pipe = StableDiffusionPipeline.from_pretrained(models_dir / "tiny-sd")
    pipe.set_progress_bar_config(disable=True)
    assert pipe.vae_scale_factor == 8 and isinstance(pipe.tokenizer, CLIPTokenizer)
    image = pipe("a red teapot", width=64, height=64, num_inference_steps=2, generator=torch.Generator().manual_seed(1)).images[0]
    assert image.size == (64, 64)

    img2img = StableDiffusionImg2ImgPipeline(**pipe.components, requires_safety_checker=False)
    img2img.set_progress_bar_config(disable=True)
    edited = img2img("a blue teapot", image=image, strength=0.75, num_inference_steps=2, generator=torch.Generator().manual_seed(1)).images[0]
    assert edited.size == (64, 64)


def test_tiny_sd_tokenizer_has_no_unknown_bytes(models_dir: Path) -> None:
    """CLIP's tokenizer is rebuilt from vocab and merges on load; any text must still tokenize."""
    tokenizer = CLIPTokenizer.from_pretrained(models_dir / "tiny-sd" / "tokenizer")
    ids = tokenizer("A Teapot, 42 ünïcode!").input_ids
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.unk_token_id not in ids[1:-1]
    assert tokenizer.model_max_length == 77


def test_tiny_llm_chats_and_generates(models_dir: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(models_dir / "tiny-llm")
    tokenizer = AutoTokenizer.from_pretrained(models_dir / "tiny-llm")
    assert isinstance(tokenizer, Qwen2Tokenizer) and tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "write a haiku"}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    assert tokenizer.decode(inputs["input_ids"][0]).endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert tokenizer.convert_tokens_to_ids("<|im_start|>") in inputs["input_ids"][0].tolist()

    torch.manual_seed(0)
    generated = model.generate(**inputs, max_new_tokens=8, do_sample=True, temperature=0.7)
    new_tokens = generated[0, inputs["input_ids"].shape[-1] :]
    assert 0 < len(new_tokens) <= 8
    assert isinstance(tokenizer.decode(new_tokens, skip_special_tokens=True), str)


def test_tiny_vlm_loads_without_torchvision_and_places_image_pads(models_dir: Path) -> None:
    path = models_dir / "tiny-vlm"
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    image_processor = AutoImageProcessor.from_pretrained(path)
    assert isinstance(tokenizer, Qwen2Tokenizer) and isinstance(image_processor, Qwen2VLImageProcessorPil)
    assert tokenizer.convert_ids_to_tokens(model.config.image_token_id) == "<|image_pad|>"
    messages = [{"role": "user", "content": [{"type": "text", "text": "what is this?"}, {"type": "image"}]}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert prompt == "<|im_start|>user\nwhat is this?<|vision_start|><|image_pad|><|vision_end|><|im_end|>\n<|im_start|>assistant\n"

    pixels = image_processor(images=[Image.new("RGB", (64, 64), (200, 40, 40))], return_tensors="pt")
    assert pixels["image_grid_thw"].tolist() == [[1, 4, 4]]  # 56x56: 4x4 patches, 2x2 merges → 4 image tokens
    inputs = tokenizer(prompt.replace("<|image_pad|>", "<|image_pad|>" * 4), return_tensors="pt")
    inputs["mm_token_type_ids"] = (inputs["input_ids"] == model.config.image_token_id).int()
    generated = model.generate(**inputs, **pixels, max_new_tokens=4, do_sample=False)
    assert 0 < generated.shape[-1] - inputs["input_ids"].shape[-1] <= 4


def test_tiny_qwen_image_runs_every_mode_on_the_same_components(models_dir: Path) -> None:
    pipe = QwenImagePipeline.from_pretrained(models_dir / "tiny-qwen-image")
    pipe.set_progress_bar_config(disable=True)
    assert pipe.vae_scale_factor == 8 and isinstance(pipe.text_encoder, Qwen2_5_VLForConditionalGeneration)
    red = Image.new("RGB", (64, 48), (200, 40, 40))
    calls = {
        QwenImagePipeline: {},
        QwenImageImg2ImgPipeline: {"image": red, "strength": 0.8},
        QwenImageInpaintPipeline: {"image": red, "mask_image": Image.new("L", (64, 48), 255), "strength": 0.8},
    }
    for pipeline_class, inputs in calls.items():
        mode = pipe if pipeline_class is QwenImagePipeline else pipeline_class.from_pipe(pipe)
        mode.set_progress_bar_config(disable=True)
        generator = torch.Generator().manual_seed(1)
        image = mode("a red teapot", negative_prompt=" ", true_cfg_scale=4.0, width=64, height=48, num_inference_steps=2, generator=generator, **inputs).images[0]
        assert image.size == (64, 48), pipeline_class


@pytest.mark.parametrize("name", ["tiny-ltx", "tiny-wan"])
def test_tiny_video_twins_run_text_to_video_with_their_real_compression(models_dir: Path, name: str) -> None:
    pipe = DiffusionPipeline.from_pretrained(models_dir / name)
    pipe.set_progress_bar_config(disable=True)
    if name == "tiny-ltx":  # LTX-Video's VAE: 32x in space, 8x in time
        assert (pipe.vae_spatial_compression_ratio, pipe.vae_temporal_compression_ratio) == (32, 8)
    else:  # Wan's VAE: 8x in space, 4x in time
        assert (pipe.vae_scale_factor_spatial, pipe.vae_scale_factor_temporal) == (8, 4)
    video = pipe("a red teapot", width=64, height=64, num_frames=9, num_inference_steps=2, output_type="np").frames
    assert video.shape == (1, 9, 64, 64, 3)


def test_builds_are_deterministic(tmp_path: Path) -> None:
    for name, build in TINY_BUILDERS.items():
        build(tmp_path / "a" / name)
        build(tmp_path / "b" / name)
    files = sorted(path.relative_to(tmp_path / "a") for path in (tmp_path / "a").rglob("*") if path.is_file())
    assert any(path.suffix == ".safetensors" for path in files)
    for path in files:
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes(), path


def test_ensure_skips_what_is_there_and_builds_only_what_is_named(tmp_path: Path) -> None:
    assert ensure_tiny_models(tmp_path, ["tiny-llm"]) == ["tiny-llm"]
    assert ensure_tiny_models(tmp_path, []) == []
    assert ensure_tiny_models(tmp_path) == [name for name in TINY_BUILDERS if name != "tiny-llm"]
    assert ensure_tiny_models(tmp_path) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(TINY_BUILDERS)


def test_a_failed_build_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(out_dir: Path) -> None:
        (out_dir / "model_index.json").write_text("{}")
        raise RuntimeError("killed mid-build")

    monkeypatch.setitem(tiny.TINY_BUILDERS, "tiny-sd", crash)
    with pytest.raises(RuntimeError, match="killed mid-build"):
        ensure_tiny_models(tmp_path, ["tiny-sd"])
    assert list(tmp_path.iterdir()) == []


def test_unknown_names_are_refused_before_building(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tiny-nope"):
        ensure_tiny_models(tmp_path, ["tiny-llm", "tiny-nope"])
    assert list(tmp_path.iterdir()) == []
