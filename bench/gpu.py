"""`make bench-gpu`: the large models at their real size on one GPU (issue 16); one JSON object.

Each model runs as its real-size twin (workers.local.real_size: the published architecture with
random weights, made on the device in its dtype) with its tiny twin's tokenizers and scheduler (the
same classes; speed does not depend on a vocabulary's contents). Per model and dtype, at the
catalogue's default size and steps: the time to make the weights, seconds per image or video,
denoising iterations/s and peak device memory; images/s with 1, 2 and 4 images per call; and with
`--vae-tiling`, with the VAE decoding in tiles; with `--vae-slicing`, a batch decoded one image at
a time; with `--speedups`, each fast path the engine has (fused QKV, channels-last, FP8) alone; and
with `--compile`, after torch.compile of the denoiser with those fast paths, its compile time apart.

`--tiny` runs the same code on the tiny twins themselves, at their small sizes: how it is tested on
a CPU (`python -m bench.gpu --tiny --device cpu`).
"""

import argparse
import contextlib
import gc
import importlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from core.catalogue import CATALOGUE, ModelEntry
from core.schemas import Domain
from workers.local import real_size
from workers.local.calls import LIBRARY_VERSIONS, seeded_generator
from workers.local.speedups import Speedups, denoiser_name
from workers.local.tiny import ensure_tiny_models

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
PROMPT = "a lighthouse on a cliff at dusk, film still"
SPEEDUPS = ("fused_qkv", "channels_last", "fp8")


def now(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def twin_weights(model: str, tiny: bool) -> str:
    """The tiny model whose files a run reads: the model itself with --tiny, else its twin."""
    entry = CATALOGUE[model]
    return entry.weights if tiny else CATALOGUE[entry.twin or ""].weights


def assemble(model: str, models_dir: Path, device: torch.device, dtype: torch.dtype, tiny: bool) -> Any:
    """The model's text-to-image (or -video) pipeline on `device` in `dtype`."""
    pipeline_class = getattr(importlib.import_module("diffusers"), CATALOGUE[model].pipeline)
    twin_dir = models_dir / twin_weights(model, tiny)
    if tiny:
        return pipeline_class.from_pretrained(twin_dir, dtype=dtype).to(device)
    parts: dict[str, Any] = real_size.build(model, device, dtype)
    index = json.loads((twin_dir / "model_index.json").read_text())
    for name, value in index.items():
        if name.startswith("_") or name in parts or not isinstance(value, list):
            continue
        library, class_name = value
        parts[name] = None if class_name is None else getattr(importlib.import_module(library), class_name).from_pretrained(twin_dir / name)
    return pipeline_class(**parts)


def call_arguments(entry: ModelEntry, steps: int | None, outputs: int) -> dict[str, Any]:
    defaults = entry.defaults
    arguments = {
        "prompt": PROMPT,
        "width": defaults["width"],
        "height": defaults["height"],
        "num_inference_steps": steps or defaults["steps"],
        entry.guidance_argument: defaults["guidance"],  # what the engine passes it as (Qwen-Image: true_cfg_scale)
        "generator": seeded_generator(1),
    } | entry.call_defaults
    if entry.domain == Domain.videos:
        return arguments | {"num_frames": defaults["num_frames"], "output_type": "np"}
    return arguments | {"num_images_per_prompt": outputs, "output_type": "pil"}


def timed_call(pipe: Any, arguments: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """One call: seconds end to end (text encoding and decoding included), denoising iterations/s
    between the first and last step, peak device memory."""
    steps: list[float] = []

    def on_step_end(pipeline: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        steps.append(now(device))
        return callback_kwargs

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = now(device)
    with torch.inference_mode():
        pipe(**arguments, callback_on_step_end=on_step_end)
    seconds = now(device) - started
    figures: dict[str, Any] = {"seconds": round(seconds, 3), "steps": len(steps)}
    if len(steps) > 1:
        figures["iterations_per_s"] = round((len(steps) - 1) / (steps[-1] - steps[0]), 2)
    if device.type == "cuda":
        figures["peak_memory_gb"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return figures


def speedups_for(model: str, wanted: set[str], args: argparse.Namespace) -> Speedups:
    """The engine's fast paths, `wanted` of them for `model` (the setting a worker would have)."""
    only = {speedup: frozenset({model} if speedup in wanted else ()) for speedup in SPEEDUPS + ("compile",)}
    return Speedups(only["fused_qkv"], only["channels_last"], only["fp8"], only["compile"], args.compile_mode, args.compile_cache_dir)


def undo(pipe: Any, speedup: str) -> None:
    denoiser = getattr(pipe, denoiser_name(pipe))
    if speedup == "fused_qkv":
        denoiser.unfuse_qkv_projections()
    elif speedup == "channels_last":
        denoiser.to(memory_format=torch.contiguous_format)


def attention(pipe: Any) -> str:
    """The attention the denoiser runs: diffusers' default processors call PyTorch's SDPA."""
    processors = getattr(getattr(pipe, denoiser_name(pipe)), "attn_processors", {})
    return ",".join(sorted({type(processor).__name__ for processor in processors.values()})) or "unknown"


@contextlib.contextmanager
def released(device: torch.device) -> Iterator[None]:
    try:
        yield
    finally:
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()


def bench_model(model: str, models_dir: Path, device: torch.device, dtypes: list[str], args: argparse.Namespace) -> dict[str, Any]:
    entry = CATALOGUE[model]
    figures: dict[str, Any] = {"pipeline": entry.pipeline, "size": [entry.defaults["width"], entry.defaults["height"]]}
    for dtype_name in dtypes:
        with released(device):
            started = now(device)
            pipe = assemble(model, models_dir, device, DTYPES[dtype_name], args.tiny)
            run: dict[str, Any] = {"materialise_s": round(now(device) - started, 3), "attention": attention(pipe)}
            pipe.set_progress_bar_config(disable=True)
            warm_up = call_arguments(entry, 1, 1)
            timed_call(pipe, warm_up, device)  # kernels chosen, memory pools grown
            run["one"] = timed_call(pipe, call_arguments(entry, args.steps, 1), device)
            if entry.domain == Domain.images:
                run["images_per_s"] = {
                    str(n): round(n / timed_call(pipe, call_arguments(entry, args.steps, n), device)["seconds"], 3) for n in args.outputs
                }
            vae = getattr(pipe, "vae", None)
            if args.vae_tiling and hasattr(vae, "enable_tiling"):
                vae.enable_tiling()  # decodes in tiles: less peak memory at large sizes, some time
                run["vae_tiling"] = timed_call(pipe, call_arguments(entry, args.steps, 1), device)
                vae.disable_tiling()
            if args.vae_slicing and hasattr(vae, "enable_slicing") and entry.domain == Domain.images:
                vae.enable_slicing()  # decodes a batch one image at a time: less peak memory for num_outputs > 1
                run["vae_slicing"] = timed_call(pipe, call_arguments(entry, args.steps, max(args.outputs)), device)
                vae.disable_slicing()
            # Each fast path alone, with the engine's own code (workers.local.speedups), undone after; FP8 last (it stays).
            for speedup in sorted(args.speedups, key=lambda name: name == "fp8"):
                try:
                    applied = speedups_for(model, {speedup}, args).apply(model, pipe)
                    run[speedup] = timed_call(pipe, call_arguments(entry, args.steps, 1), device) | {"applied": applied}
                    undo(pipe, speedup)
                except Exception as exc:  # e.g. no torchao build for this torch: the other figures stand
                    run[speedup] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            if args.compile:
                # Compiled with every fast path asked for: the fastest this model runs on the platform.
                applied = speedups_for(model, {*args.speedups, "compile"}, args).apply(model, pipe)
                first = timed_call(pipe, call_arguments(entry, args.steps, 1), device)
                compiled = timed_call(pipe, call_arguments(entry, args.steps, 1), device)
                run["compiled"] = compiled | {"compile_s": round(first["seconds"] - compiled["seconds"], 2), "applied": applied}
            figures[dtype_name] = run
            del pipe
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", default="", help="comma-separated catalogue names; default every real-size model (with --tiny, their twins)")
    parser.add_argument("--tiny", action="store_true", help="run the tiny twins themselves (the CPU check)")
    parser.add_argument("--dtypes", default="bf16,fp16")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps instead of each model's default")
    parser.add_argument("--outputs", default="1,2,4", help="images per call to measure images/s with")
    parser.add_argument("--vae-tiling", action="store_true", help="also measure with the VAE decoding in tiles")
    parser.add_argument("--compile", action="store_true", help="also measure with torch.compile of the denoiser")
    parser.add_argument("--vae-slicing", action="store_true", help="also measure the largest --outputs batch with the VAE decoding one image at a time")
    parser.add_argument("--speedups", default="", help=f"also measure each of these fast paths alone: {','.join(SPEEDUPS)} (fp8 needs torchao, CUDA 8.9+)")
    parser.add_argument("--compile-mode", default="max-autotune-no-cudagraphs")
    parser.add_argument("--compile-cache-dir", type=Path, default=Path("data/compile-cache"), help="torch.compile's caches (a rerun compiles from them)")
    parser.add_argument("--models-dir", type=Path, default=Path("data/models"), help="where the tiny twins are (built there when missing)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here (e.g. bench/results/h200.json)")
    args = parser.parse_args(argv)
    args.outputs = [int(n) for n in args.outputs.split(",") if n]
    args.speedups = [name for name in args.speedups.split(",") if name]
    if unknown := set(args.speedups) - set(SPEEDUPS):
        parser.error(f"unknown --speedups {', '.join(sorted(unknown))}; choose from {', '.join(SPEEDUPS)}")
    device = torch.device(args.device)
    models = [name for name in args.models.split(",") if name] or [
        CATALOGUE[name].twin or name if args.tiny else name for name in real_size.real_size_models()
    ]
    models = list(dict.fromkeys(models))
    ensure_tiny_models(args.models_dir, {twin_weights(name, args.tiny) for name in models})
    results: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "versions": LIBRARY_VERSIONS,  # the GPU machine's own torch and transformers
        "tiny": args.tiny,
        "models": {},
    }
    for model in models:
        print(f"bench-gpu: {model}…", file=sys.stderr, flush=True)
        try:
            results["models"][model] = bench_model(model, args.models_dir, device, args.dtypes.split(","), args)
        except Exception as exc:  # one model's failure is a figure, not the end of the run
            results["models"][model] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    text = json.dumps(results, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 1 if any("error" in figures for figures in results["models"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
