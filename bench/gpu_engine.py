"""The worker's image engine on the GPU (issue 16, points 3 and 4); one JSON object.

The real-size twin of a model (bench.gpu.assemble) is saved with `save_pretrained` where the
engine looks for that model's weights, so the engine loads it like any checkpoint. Then:
- overhead: the engine's run (progress every step, previews, PNG encode and reproducibility
  record, blob write) against the bare pipeline call on the same warm pipeline, same seed and
  size, alternating; the ratio of their medians. The engine runs with an in-memory TaskContext
  (bench.context.MemoryContext): the Redis record writes are not in this figure.
- memory: the cache's size of the loaded model against what torch allocated on the device for it.
- out_of_memory (CUDA only): with the process's share of the card cut to the weights plus a little,
  a run at the model's largest size fails `out_of_memory`; with it restored, the next run succeeds.
- cancel: a run cancelled at step 5 gives its activations back (memory allocated after = before).
- two_warm (with --second): both models warm within DDIFFUSION_MODEL_MEMORY_GB set to their sum.

`--tiny --device cpu` runs the same on the tiny twins (how it is tested).
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from bench.context import MemoryContext
from bench.gpu import DTYPES, PROMPT, assemble, call_arguments, now, twin_weights
from core.catalogue import CATALOGUE, ModelEntry
from core.errors import PlatformError, TaskCancelled
from core.settings import Settings
from workers.local.cache import free_memory, weights_bytes
from workers.local.images import DiffusersImageEngine
from workers.local.tiny import ensure_tiny_models

CANCEL_AT = 5
OOM_HEADROOM = 2**30  # what the cut card leaves beyond the weights: far less than the largest size needs


def allocated(device: torch.device) -> int | None:
    return torch.cuda.memory_allocated(device) if device.type == "cuda" else None


def save_real_size(model: str, models_dir: Path, device: torch.device, dtype: torch.dtype) -> float:
    """Write the model's real-size twin where the engine looks for its weights; seconds taken."""
    started = time.perf_counter()
    pipe = assemble(model, models_dir, device, dtype, tiny=False)
    pipe.save_pretrained(models_dir / CATALOGUE[model].weights)
    del pipe
    free_memory(str(device))
    return round(time.perf_counter() - started, 2)


def request(entry: ModelEntry, steps: int | None, **overrides: Any) -> dict[str, Any]:
    return {"prompt": PROMPT, **entry.defaults, "seed": 1} | ({"steps": steps} if steps else {}) | overrides


def overhead(engine: DiffusersImageEngine, entry: ModelEntry, steps: int | None, rounds: int, device: torch.device) -> dict[str, Any]:
    params = request(entry, steps)
    pipe, _ = engine.pipeline(entry, "txt2img")

    def bare() -> float:
        started = now(device)
        with torch.inference_mode():  # the engine's decoder output too (float pixels), seed 1 as the request's
            pipe(**call_arguments(entry, steps, 1) | {"output_type": "np"})
        return now(device) - started

    def through_engine() -> float:
        started = now(device)
        engine.run(entry, params, MemoryContext())
        return now(device) - started

    bare(), through_engine()  # kernels chosen, memory pools grown
    timings: dict[str, list[float]] = {"bare": [], "engine": []}
    for _ in range(rounds):
        timings["bare"].append(bare())
        timings["engine"].append(through_engine())
    bare_s, engine_s = statistics.median(timings["bare"]), statistics.median(timings["engine"])
    return {"steps": params["steps"], "size": [params["width"], params["height"]], "bare_s": round(bare_s, 3),
            "engine_s": round(engine_s, 3), "ratio": round(engine_s / bare_s, 4), "rounds": rounds}  # fmt: skip


def out_of_memory(engine: DiffusersImageEngine, entry: ModelEntry, steps: int | None, device: torch.device) -> dict[str, Any]:
    if device.type != "cuda":
        return {"skipped": "needs a CUDA device"}
    total = torch.cuda.get_device_properties(device).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, (torch.cuda.memory_allocated(device) + OOM_HEADROOM) / total), device)
    limits = entry.limits
    side = int(limits.max_pixels**0.5) // limits.size_multiple * limits.size_multiple  # the largest square the model takes
    try:
        engine.run(entry, request(entry, steps, width=side, height=side, num_outputs=limits.max_outputs), MemoryContext())
        failed = None
    except PlatformError as exc:
        failed = exc.code
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, device)
    engine.run(entry, request(entry, steps), MemoryContext())  # raises if the next task does not succeed
    return {"size": [side, side], "num_outputs": limits.max_outputs, "code": failed, "next_task": "succeeded"}


def cancel(engine: DiffusersImageEngine, entry: ModelEntry, device: torch.device) -> dict[str, Any]:
    before = allocated(device)
    ctx = MemoryContext(cancel_after=CANCEL_AT)
    try:
        engine.run(entry, request(entry, CANCEL_AT * 2), ctx)
        outcome = "ran to the end"
    except TaskCancelled:
        outcome = "cancelled"
    return {"outcome": outcome, "at_step": len(ctx.steps), "allocated_before": before, "allocated_after": allocated(device)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", default="sdxl")
    parser.add_argument("--second", default="", help="a second model to keep warm beside the first within one budget")
    parser.add_argument("--tiny", action="store_true", help="the tiny twins themselves (the CPU check): nothing is saved")
    parser.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models-dir", type=Path, default=Path("data/bench-models"), help="where the twins are built and saved")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    models = [name for name in (args.model, args.second) if name]
    ensure_tiny_models(args.models_dir, {twin_weights(name, args.tiny) for name in models})
    results: dict[str, Any] = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "model": args.model,
                               "dtype": args.dtype, "tiny": args.tiny}  # fmt: skip
    if not args.tiny:
        results["saved_s"] = {name: save_real_size(name, args.models_dir, device, DTYPES[args.dtype]) for name in models}
    settings = Settings(models_dir=args.models_dir, device=args.device, preview_every=5, data_dir=args.models_dir.parent)
    engine = DiffusersImageEngine(settings)
    engine.dtype = DTYPES[args.dtype]  # the engine's dtype for the device (bf16 on CUDA); fp16 or fp32 when asked
    entry = CATALOGUE[args.model]
    before = allocated(device)
    _, warm = engine.pipeline(entry, "txt2img")
    results["memory"] = {"cache_bytes": warm.size_bytes}
    if before is not None:
        results["memory"]["torch_allocated_bytes"] = allocated(device) - before
    results["overhead"] = overhead(engine, entry, args.steps, args.rounds, device)
    results["out_of_memory"] = out_of_memory(engine, entry, args.steps, device)
    results["cancel"] = cancel(engine, entry, device)
    if args.second:
        del engine, warm
        free_memory(args.device)
        # Room for the two models' weights as saved (in the run's dtype) and a little: a third would not fit.
        budget_gb = sum(weights_bytes(args.models_dir / CATALOGUE[name].weights) for name in models) * 1.1 / 2**30
        both = DiffusersImageEngine(settings.model_copy(update={"model_memory_gb": budget_gb}))
        both.dtype = DTYPES[args.dtype]
        for name in models:
            both.run(CATALOGUE[name], request(CATALOGUE[name], 2), MemoryContext())
        results["two_warm"] = {"budget_gb": round(budget_gb, 2), "warm": both.cache.warm_names(), "evictions": both.cache.evictions}
    text = json.dumps(results, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
