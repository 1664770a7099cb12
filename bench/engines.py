"""Engine figures for `make bench`: per local model, its cold load time and, in every mode it has
(txt2img, img2img, inpaint; t2v, i2v; text, vision), the warm time per step (between step
callbacks) and outputs per second at the model's default size, driven directly (no broker); for
image models also `variations`: images/s of num_outputs 4 in one batched call against 4 runs.
Requests go through the catalogue's `normalize`, so each runs with exactly what a worker would
get; input images and masks are PNGs built here.

Tiny models always; the real `sd-1.5` and `sdxl` too where their weights are present (on a GPU
host with the weights this gives the production figures; elsewhere they are reported skipped).
A model or mode that fails is reported as `{"error": ...}` and the others are still measured.
"""

import io
import statistics
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from bench.context import MemoryContext
from bench.report import attempt
from core.catalogue import CATALOGUE, Capability, ModelEntry, normalize
from core.schemas import ImageRequest, TaskRequest, TextRequest, VideoRequest
from core.settings import Settings
from workers.local.cache import ModelCache
from workers.local.images import DiffusersImageEngine
from workers.local.texts import TransformersTextEngine
from workers.local.videos import DiffusersVideoEngine
from workers.local.weights import find_weights, pick_device

REAL_MODELS = ("sd-1.5", "sdxl")
ENGINES = {"diffusers": DiffusersImageEngine, "diffusers_video": DiffusersVideoEngine, "transformers": TransformersTextEngine}
PROMPT = "a red teapot on a table"
MIN_STEPS = 4  # img2img at strength 0.75 then still runs 3 steps: two intervals to time
VIDEO_MODES = {"txt2img": "t2v", "img2img": "i2v"}  # the catalogue keys video modes like image ones
TEXT_TOKENS = 16
VARIATIONS = 4  # num_outputs of the batched run, against as many tasks of one output
VISION_IMAGE = (64, 64)

Engine = DiffusersImageEngine | TransformersTextEngine


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def picture(width: int, height: int) -> bytes:
    """A smooth colour picture (not noise), like the photos img2img starts from."""
    gradient = Image.linear_gradient("L").resize((width, height))
    return png(Image.merge("RGB", (gradient, gradient.rotate(90), Image.radial_gradient("L").resize((width, height)))))


def mask(width: int, height: int) -> bytes:
    """White (repainted) in the middle half, black (kept) around it."""
    image = Image.new("L", (width, height), 0)
    ImageDraw.Draw(image).rectangle((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=255)
    return png(image)


def ref(data: bytes) -> str:
    return MemoryContext().put_input(data)


def mode_requests(entry: ModelEntry) -> tuple[dict[str, TaskRequest], list[bytes]]:
    """One request per mode the entry has, and the input files they name by ref."""
    if entry.engine == "transformers":
        image = picture(*VISION_IMAGE)
        parts = [{"type": "image", "image": ref(image)}, {"type": "text", "text": "What is in this picture?"}]
        contents = {"text": PROMPT, "vision": parts} if Capability.vision in entry.capabilities else {"text": PROMPT}
        chats = {mode: TextRequest(model=entry.name, messages=[{"role": "user", "content": content}], max_tokens=TEXT_TOKENS, temperature=0, seed=0)
                 for mode, content in contents.items()}  # fmt: skip
        return chats, [image]
    width, height = entry.defaults["width"], entry.defaults["height"]
    image, white_middle = picture(width, height), mask(width, height)
    base = {"model": entry.name, "prompt": PROMPT, "steps": max(entry.defaults["steps"], MIN_STEPS), "seed": 0}
    if entry.engine == "diffusers_video":
        video_inputs = {"txt2img": {}, "img2img": {"image": ref(image)}}
        return {VIDEO_MODES[mode]: VideoRequest(**base, **video_inputs[mode]) for mode in entry.modes}, [image]
    image_inputs = {"txt2img": {}, "img2img": {"image": ref(image)}, "inpaint": {"image": ref(image), "mask": ref(white_middle)}}
    return {mode: ImageRequest(**base, **image_inputs[mode]) for mode in entry.modes}, [image, white_middle]


def local_models() -> list[ModelEntry]:
    """What the bench measures: every tiny twin a local engine runs, and the real REAL_MODELS."""
    return [entry for entry in CATALOGUE.values() if entry.engine in ENGINES and (entry.tiny or entry.name in REAL_MODELS)]


def run_once(engine: Engine, entry: ModelEntry, params: dict[str, Any], inputs: list[bytes], seed: int) -> tuple[float, list[float]]:
    """Seconds for one run, and the intervals between its step (or token) callbacks."""
    ctx = MemoryContext()
    for data in inputs:
        ctx.put_input(data)
    started = time.perf_counter()
    engine.run(entry, params | {"seed": seed}, ctx)
    return time.perf_counter() - started, [later - earlier for earlier, later in zip(ctx.step_times, ctx.step_times[1:], strict=False)]


def measure_mode(
    engine: Engine, entry: ModelEntry, request: TaskRequest, inputs: list[bytes], warm_runs: int, warm_up: bool
) -> dict[str, Any]:
    params, _ = normalize(entry, request)
    if warm_up:  # first-call allocations and derived pipelines stay out of the warm figures
        run_once(engine, entry, params, inputs, seed=0)
    run_s: list[float] = []
    intervals: list[float] = []
    for seed in range(warm_runs):
        seconds, between = run_once(engine, entry, params, inputs, seed)
        run_s.append(seconds)
        intervals += between
    per_step = round(statistics.median(intervals) * 1000, 2) if intervals else None
    figures = {"outputs_per_s": round(1 / statistics.mean(run_s), 2)}
    if isinstance(request, TextRequest):
        # Random weights may stop early at an end token: the count is what was generated.
        return figures | {"tokens": len(between) + 1, "token_ms": per_step}
    size = f"{params['width']}x{params['height']}" + (f", {params['num_frames']} frames" if "num_frames" in params else "")
    return figures | {"size": size, "steps": params["steps"], "step_ms": per_step}


def variation_figures(engine: Engine, entry: ModelEntry, warm_up: bool) -> dict[str, Any]:
    """Images per second from one run of num_outputs VARIATIONS (one batched call) against
    VARIATIONS runs of one output, txt2img at the model's default size."""
    batched, _ = normalize(entry, ImageRequest(model=entry.name, prompt=PROMPT, num_outputs=VARIATIONS))
    single = {name: value for name, value in batched.items() if name != "num_outputs"}
    if warm_up:
        run_once(engine, entry, batched, [], seed=0)
        run_once(engine, entry, single, [], seed=0)
    batch_s, _ = run_once(engine, entry, batched, [], seed=1)
    separate_s = sum(run_once(engine, entry, single, [], seed=1 + index)[0] for index in range(VARIATIONS))
    return {
        "num_outputs": VARIATIONS,
        "batched_images_per_s": round(VARIATIONS / batch_s, 2),
        "separate_images_per_s": round(VARIATIONS / separate_s, 2),
        "ratio": round(separate_s / batch_s, 2),
    }


def measure(entry: ModelEntry, settings: Settings, warm_runs: int, warm_up: bool) -> dict[str, Any]:
    # A cache of its own per model, with room for everything: each load is cold, none is evicted.
    engine = ENGINES[entry.engine](settings, cache=ModelCache(1 << 62, pick_device(settings.device)[0]))
    started = time.perf_counter()
    if isinstance(engine, TransformersTextEngine):
        engine.model(entry)
    else:
        engine.pipeline(entry, next(iter(entry.modes)))
    figures: dict[str, Any] = {"device": engine.device, "load_s": round(time.perf_counter() - started, 3), "modes": {}}
    requests, inputs = mode_requests(entry)
    for mode, request in requests.items():
        figures["modes"] |= attempt(
            mode, lambda mode=mode, request=request: {mode: measure_mode(engine, entry, request, inputs, warm_runs, warm_up)}
        )
    if entry.engine == "diffusers" and "txt2img" in entry.modes:
        figures |= attempt("variations", lambda: {"variations": variation_figures(engine, entry, warm_up)})
    return figures


def engine_figures(models_dir: Path, warm_runs: int, warm_up: bool) -> dict[str, Any]:
    """Figures per model; without `warm_up` (the quick form) the first run is measured, cold parts and all."""
    settings = Settings(_env_file=None, models_dir=models_dir, preview_every=0)
    figures: dict[str, Any] = {}
    for entry in local_models():
        if find_weights(entry, models_dir) is None:
            figures[entry.name] = {"skipped": f"weights for {entry.weights} not present on this machine"}
            continue
        figures |= attempt(entry.name, lambda entry=entry: {entry.name: measure(entry, settings, warm_runs, warm_up)})
    return figures
