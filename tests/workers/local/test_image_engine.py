"""The diffusers engine on every tiny image twin, driven directly (no broker)."""

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from core.catalogue import CATALOGUE, ModelEntry
from core.errors import PlatformError
from core.settings import Settings
from tests.utils.context import FakeContext
from tests.utils.loras import make_lora
from workers.local.images import DiffusersImageEngine

TINY_IMAGE_MODELS = [name for name, entry in CATALOGUE.items() if entry.tiny and entry.engine == "diffusers"]


def make_engine(models_dir: Path, **settings: Any) -> DiffusersImageEngine:
    return DiffusersImageEngine(Settings(models_dir=models_dir, device="cpu", **settings))


@pytest.fixture(scope="module")
def engine(tiny_models: Path) -> DiffusersImageEngine:
    return make_engine(tiny_models, preview_every=0)


def png_input(ctx: FakeContext, color: tuple[int, int, int] | int, size: tuple[int, int] = (64, 64), mode: str = "RGB") -> str:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")
    return ctx.put_input(buffer.getvalue())


def request(entry: ModelEntry, **overrides: Any) -> dict[str, Any]:
    return {"prompt": "a red teapot", **entry.defaults, "seed": 7, "strength": 0.8} | overrides


def run(engine: DiffusersImageEngine, name: str, ctx: FakeContext, **overrides: Any) -> dict[str, Any]:
    entry = CATALOGUE[name]
    [output] = engine.run(entry, request(entry, **overrides), ctx)
    return output


def output_image(ctx: FakeContext, output: dict[str, Any]) -> Image.Image:
    return Image.open(io.BytesIO(ctx.blobs[output["ref"]]))


@pytest.mark.parametrize("name", TINY_IMAGE_MODELS)
def test_every_mode_of_every_twin_makes_an_image_of_the_asked_size(engine: DiffusersImageEngine, name: str) -> None:
    ctx = FakeContext()
    inputs = {"txt2img": {}, "img2img": {"image": png_input(ctx, (200, 40, 40), (80, 48))}}
    inputs["inpaint"] = inputs["img2img"] | {"mask": png_input(ctx, 255, (64, 64), "L")}
    for mode, extra in inputs.items():
        if mode not in CATALOGUE[name].modes:
            continue
        # FLUX.2 takes input images (resized to the output's size) of 64 px a side at least, the api's floor.
        height = 64 if "flux-2" in name else 48 if "sd3" not in name and "flux" not in name else 32
        output = run(engine, name, ctx, width=64, height=height, **extra)
        image = output_image(ctx, output)
        assert image.format == "PNG" and image.size == (output["width"], output["height"]) == (64, output["height"])
        record = output["reproducibility"]
        assert record["mode"] == mode and record["pipeline"] == CATALOGUE[name].modes[mode] and record["seed"] == 7
        assert record["weights_revision"].startswith("sha256:") and record["versions"]["diffusers"] and record["device"] == "cpu"
        assert json.loads(image.text["deferred-diffusion"]) == record
    assert ctx.steps and ctx.steps[-1][0] == ctx.steps[-1][1]


def test_a_seed_reproduces_the_image_and_a_warm_model_loads_nothing(tiny_models: Path) -> None:
    engine = make_engine(tiny_models)
    ctx = FakeContext()
    first = run(engine, "tiny-sd", ctx)
    img2img = run(engine, "tiny-sd", ctx, image=first["ref"])
    second = run(engine, "tiny-sd", ctx)
    assert first["ref"] == second["ref"]  # the same bytes
    assert img2img["reproducibility"]["pipeline"] == "StableDiffusionImg2ImgPipeline"
    assert engine.cache.loads == 1  # img2img was built on the txt2img components


def test_least_recently_used_models_are_evicted_beyond_the_budget(tiny_models: Path) -> None:
    one_model = 1.5 * max(engine_bytes(tiny_models, name) for name in ("tiny-sd", "tiny-sdxl")) / 1024**3
    engine = make_engine(tiny_models, model_memory_gb=one_model)
    ctx = FakeContext()
    assert not engine.cache.would_evict(tiny_models / "tiny-sd")  # nothing warm yet
    run(engine, "tiny-sd", ctx)
    assert not engine.cache.would_evict(tiny_models / "tiny-sd") and engine.cache.would_evict(tiny_models / "tiny-sdxl")
    run(engine, "tiny-sdxl", ctx)
    assert engine.cache.warm_keys() == [str(tiny_models / "tiny-sdxl")] and engine.cache.evictions == 1
    loaded = [line for line in ctx.lines if line.startswith("loaded ")]  # the task log says which runs loaded
    assert [line.split(" in ")[0] for line in loaded] == ["loaded tiny-sd", "loaded tiny-sdxl"]
    run(engine, "tiny-sdxl", ctx)
    assert engine.cache.loads == 2
    run(engine, "tiny-sd", ctx)
    assert engine.cache.loads == 3 and engine.cache.warm_keys() == [str(tiny_models / "tiny-sd")]


def engine_bytes(models_dir: Path, name: str) -> int:
    engine = make_engine(models_dir)
    _, warm = engine.pipeline(CATALOGUE[name], "txt2img")
    return warm.size_bytes


def test_previews_come_every_few_steps(tiny_models: Path) -> None:
    engine = make_engine(tiny_models, preview_every=2)
    ctx = FakeContext()
    run(engine, "tiny-flux", ctx, steps=5)
    assert [step for step, _ in ctx.previews] == [2, 4]
    preview = Image.open(io.BytesIO(ctx.previews[0][1]))
    assert preview.format == "PNG" and preview.size == (64, 64)


def test_a_lora_applies_to_one_request_only(engine: DiffusersImageEngine, tiny_models: Path, tmp_path: Path) -> None:
    ctx = FakeContext()
    lora = ctx.put_input(make_lora(tiny_models, tmp_path).read_bytes())
    before = run(engine, "tiny-sd", ctx)
    with_lora = run(engine, "tiny-sd", ctx, loras=[{"ref": lora, "scale": 1.0}])
    after = run(engine, "tiny-sd", ctx)
    assert with_lora["ref"] != before["ref"]
    assert after["ref"] == before["ref"]  # clean weights again
    assert with_lora["reproducibility"]["loras"] == [{"lora": lora, "sha256": lora.removeprefix("sha256:"), "scale": 1.0}]


def test_a_lora_for_another_model_fails_clearly_and_leaves_the_model_clean(engine: DiffusersImageEngine, tiny_models: Path, tmp_path: Path) -> None:
    ctx = FakeContext()
    before = run(engine, "tiny-sdxl", ctx)
    lora = ctx.put_input(make_lora(tiny_models, tmp_path, "tiny-sd").read_bytes())
    with pytest.raises(PlatformError, match="does not fit tiny-sdxl|no weights for any module") as failure:
        run(engine, "tiny-sdxl", ctx, loras=[{"ref": lora}])
    assert failure.value.code == "lora_mismatch"
    assert run(engine, "tiny-sdxl", ctx)["ref"] == before["ref"]


def test_a_lora_by_name_comes_from_the_lora_dir_only(tiny_models: Path, tmp_path: Path) -> None:
    loras_dir = tmp_path / "loras"
    loras_dir.mkdir()
    make_lora(tiny_models, tmp_path).rename(loras_dir / "teapot.safetensors")
    engine = make_engine(tiny_models, loras_dir=loras_dir)
    ctx = FakeContext()
    assert run(engine, "tiny-sd", ctx, loras=[{"name": "teapot", "scale": 0.5}])["reproducibility"]["loras"][0]["lora"] == "teapot"
    with pytest.raises(PlatformError, match="No LoRA named 'nope'"):
        run(engine, "tiny-sd", ctx, loras=[{"name": "nope"}])


def test_out_of_memory_fails_the_task_and_the_engine_runs_the_next_one(engine: DiffusersImageEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = FakeContext()
    real_attention = torch.nn.functional.scaled_dot_product_attention

    def out_of_memory(*args: Any, **kwargs: Any) -> torch.Tensor:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", out_of_memory)
    with pytest.raises(PlatformError, match="Out of cpu memory running tiny-sd") as failure:
        run(engine, "tiny-sd", ctx)
    assert failure.value.code == "out_of_memory"
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", real_attention)
    assert output_image(ctx, run(engine, "tiny-sd", ctx)).size == (64, 64)


def test_weights_revision_changes_with_the_weights(tiny_models: Path, tmp_path: Path) -> None:
    from workers.local.images import weights_revision

    first = weights_revision(tiny_models / "tiny-sd")
    assert first == weights_revision(tiny_models / "tiny-sd")
    snapshot = tmp_path / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    assert weights_revision(snapshot) == "0123abcd"


def test_local_engines_of_a_process_share_one_budget(tiny_models: Path) -> None:
    from workers.local.cache import ModelCache
    from workers.local.texts import TransformersTextEngine

    settings = Settings(models_dir=tiny_models, device="cpu")
    cache = ModelCache(engine_bytes(tiny_models, "tiny-sd") + 1, "cpu")  # room for tiny-sd alone
    images, texts = DiffusersImageEngine(settings, cache=cache), TransformersTextEngine(settings, cache=cache)
    ctx = FakeContext()
    run(images, "tiny-sd", ctx)
    texts.run(CATALOGUE["tiny-llm"], {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "temperature": 0, "seed": 1}, ctx)
    assert cache.warm_names() == ["tiny-llm"] and cache.evictions == 1


def test_compile_and_offload_flags_are_per_model(tiny_models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for cache in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"):
        monkeypatch.setenv(cache, "")  # restored to what it was after the test
        monkeypatch.delenv(cache)
    engine = make_engine(tiny_models, compile_models=["tiny-sd"], cpu_offload_models=["tiny-sd"], compile_mode="default")
    compiled, warm = engine.pipeline(CATALOGUE["tiny-sd"], "txt2img")
    assert isinstance(compiled.unet, torch._dynamo.eval_frame.OptimizedModule)  # compiled lazily, on first call
    assert warm.info["speedups"] == {"compile": {"mode": "default"}}  # what each output's record names
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(engine.speedups.compile_cache_dir)  # in the data dir: kept across restarts
    assert not hasattr(compiled.unet, "_hf_hook")  # offloading is for GPUs: on CPU the model simply stays put
    plain, _ = engine.pipeline(CATALOGUE["tiny-sdxl"], "txt2img")
    assert not isinstance(plain.unet, torch._dynamo.eval_frame.OptimizedModule)


def test_qwen_image_guidance_is_true_cfg_on_with_a_negative_prompt(engine: DiffusersImageEngine) -> None:
    ctx = FakeContext()
    pixels = {
        (guidance, negative): output_image(ctx, run(engine, "tiny-qwen-image", ctx, guidance=guidance, negative_prompt=negative)).tobytes()
        for guidance in (1.0, 6.0)
        for negative in (None, "blurry")
    }
    assert pixels[1.0, None] == pixels[6.0, None]  # no negative prompt: no classifier-free guidance to scale
    assert pixels[1.0, "blurry"] != pixels[6.0, "blurry"]
    assert not any("does not take" in line for line in ctx.lines)


def test_flux_guidance_is_its_distilled_guidance_never_true_cfg(engine: DiffusersImageEngine) -> None:
    """FLUX pipelines take true_cfg_scale too, but FLUX is guided by guidance_scale: a negative
    prompt must not switch on true classifier-free guidance (twice the work, another image)."""
    ctx = FakeContext()
    pixels = {guidance: output_image(ctx, run(engine, "tiny-flux", ctx, guidance=guidance, negative_prompt="blurry")).tobytes() for guidance in (1.0, 6.0)}
    # The tiny twin has no guidance embedding (like schnell), so its distilled guidance changes nothing.
    assert pixels[1.0] == pixels[6.0]


def test_a_request_picks_its_scheduler_and_the_next_gets_the_default(engine: DiffusersImageEngine) -> None:
    ctx = FakeContext()
    default = run(engine, "tiny-sd", ctx, scheduler="euler")
    karras = run(engine, "tiny-sd", ctx, scheduler="dpmpp_2m_karras")
    assert karras["reproducibility"]["scheduler"] == "DPMSolverMultistepScheduler" and karras["ref"] != default["ref"]
    plain = run(engine, "tiny-sd", ctx, scheduler="dpmpp_2m")
    assert plain["ref"] != karras["ref"]  # Karras sigmas did not stick to the model
    assert run(engine, "tiny-sd", ctx, scheduler="euler")["ref"] == default["ref"]


@pytest.mark.parametrize("name", ["tiny-sd", "tiny-sdxl"])
@pytest.mark.parametrize(("steps", "strength"), [(1, 0.5), (2, 0.3), (3, 0.01)])
def test_below_one_step_of_strength_a_unet_repaint_runs_one_step_and_says_so(engine: DiffusersImageEngine, name: str, steps: int, strength: float) -> None:
    ctx = FakeContext()
    init = png_input(ctx, (200, 40, 40))
    for extra in ({}, {"mask": png_input(ctx, 255, mode="L")}):
        output = run(engine, name, ctx, image=init, steps=steps, strength=strength, **extra)
        assert output_image(ctx, output).size == (64, 64)
        assert ctx.steps[-1] == (1, 1)  # one denoising step ran
        scheduled = output["reproducibility"]["steps"]  # the schedule that reproduces it
        assert int(scheduled * strength) == 1 and scheduled > steps
        assert f"steps × strength = {steps} × {strength:g} is below one denoising step" in ctx.lines[-2]


def test_a_damaged_input_image_fails_naming_the_field_without_exception_text(engine: DiffusersImageEngine) -> None:
    ctx = FakeContext()
    whole = io.BytesIO()
    Image.effect_noise((64, 64), 40).save(whole, format="JPEG")
    truncated = ctx.put_input(whole.getvalue()[: len(whole.getvalue()) // 2])
    with pytest.raises(PlatformError) as failure:
        run(engine, "tiny-sd", ctx, image=truncated)
    assert failure.value.code == "invalid_image"
    assert failure.value.message.startswith("`image` could not be decoded") and "truncated" not in failure.value.message
