"""Engine figures for `make bench`: per local image/video model, cold load time, warm time per
denoising step (between step callbacks), and outputs per second at the model's default size
(at least 4 steps), driven directly (no broker).

Tiny models always; the real `sd-1.5` and `sdxl` too where their weights are present (on a GPU
host with the weights this gives the production figures; elsewhere they are reported skipped).
"""

import statistics
import time
from pathlib import Path
from typing import Any

from core.catalogue import CATALOGUE, ModelEntry
from core.settings import Settings
from tests.utils.context import FakeContext
from workers.local.cache import ModelCache
from workers.local.images import DiffusersImageEngine
from workers.local.videos import DiffusersVideoEngine
from workers.local.weights import find_weights, pick_device

REAL_MODELS = ("sd-1.5", "sdxl")
WARM_RUNS = 3
ENGINES = {"diffusers": DiffusersImageEngine, "diffusers_video": DiffusersVideoEngine}


def params(entry: ModelEntry, steps: int, seed: int) -> dict[str, Any]:
    return {"prompt": "a red teapot on a table", **entry.defaults, "steps": steps, "seed": seed, "strength": 0.75}


class TimedContext(FakeContext):
    """Notes when each denoising step ends, so the time per step is measured, not inferred."""

    def __init__(self) -> None:
        super().__init__()
        self.step_times: list[float] = []

    def progress(self, step: int, total: int) -> None:
        self.step_times.append(time.perf_counter())
        super().progress(step, total)


def measure(entry: ModelEntry, settings: Settings) -> dict[str, Any]:
    # A cache of its own per model, with room for everything: each load is cold, none is evicted.
    engine = ENGINES[entry.engine](settings, cache=ModelCache(1 << 62, pick_device(settings.device)[0]))
    started = time.perf_counter()
    engine.pipeline(entry, "txt2img")
    load_s = time.perf_counter() - started
    steps = entry.defaults["steps"]
    engine.run(entry, params(entry, steps, 0), FakeContext())  # warm-up: first-call allocations
    step_s: list[float] = []
    started = time.perf_counter()
    for seed in range(WARM_RUNS):
        ctx = TimedContext()
        engine.run(entry, params(entry, max(steps, 4), seed), ctx)
        step_s += [later - earlier for earlier, later in zip(ctx.step_times, ctx.step_times[1:], strict=False)]
    run_s = (time.perf_counter() - started) / WARM_RUNS
    return {
        "device": engine.device,
        "size": f"{entry.defaults['width']}x{entry.defaults['height']}",
        "steps": max(steps, 4),
        "load_s": round(load_s, 3),
        "step_ms": round(statistics.median(step_s) * 1000, 2),
        "outputs_per_s": round(1 / run_s, 2),
    }


def engine_figures(models_dir: Path) -> dict[str, Any]:
    settings = Settings(models_dir=models_dir, preview_every=0)
    figures: dict[str, Any] = {}
    for entry in CATALOGUE.values():
        if entry.engine not in ENGINES or not (entry.tiny or entry.name in REAL_MODELS):
            continue
        if find_weights(entry, models_dir) is None:
            figures[entry.name] = {"skipped": f"weights for {entry.weights} not present on this machine"}
            continue
        figures[entry.name] = measure(entry, settings)
    return figures
