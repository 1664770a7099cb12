"""What image and video engines share around a pipeline call: arguments the pipeline takes,
input images, per-step progress and previews, and seeded noise."""

from __future__ import annotations

import inspect
import io
import itertools
from collections.abc import Callable
from importlib.metadata import version
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from diffusers import (
    DDIMScheduler,
    DiffusionPipeline,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    UniPCMultistepScheduler,
)
from diffusers.configuration_utils import FrozenDict
from PIL import Image

from core.errors import InvalidInputError

if TYPE_CHECKING:  # engines know nothing of Celery or Redis: the context they are given is typed, not imported
    from workers.context import TaskContext

# What each output's reproducibility record names it was made with (and the GPU benches, what they measured).
LIBRARY_VERSIONS = {name: version(name) for name in ("torch", "diffusers", "transformers", "peft")}

# The request's scheduler names (core.schemas.images.SchedulerName) → class and config overrides.
SCHEDULERS: dict[str, tuple[Any, dict[str, Any]]] = {
    "euler": (EulerDiscreteScheduler, {}),
    "euler_a": (EulerAncestralDiscreteScheduler, {}),
    "dpmpp_2m": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpmpp_2m_karras": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True}),
    "ddim": (DDIMScheduler, {}),
    "unipc": (UniPCMultistepScheduler, {}),
}

StepCallback = Callable[[DiffusionPipeline, int, Any, dict[str, Any]], dict[str, Any]]
T = TypeVar("T")


def call_arguments(pipe: DiffusionPipeline, wanted: dict[str, Any], ctx: TaskContext, optional: tuple[str, ...]) -> dict[str, Any]:
    """The wanted arguments this pipeline's __call__ takes (None dropped); logs the `optional`
    request fields that were set but do not apply to it."""
    accepted = inspect.signature(pipe.__call__).parameters
    if ignored := sorted(name for name in optional if wanted.get(name) and name not in accepted):
        ctx.log(f"{type(pipe).__name__} does not take {', '.join(ignored)}; ignored")
    return {name: value for name, value in wanted.items() if name in accepted and value is not None}


def step_callback(ctx: TaskContext, steps: int, preview_every: int, preview: Callable[[DiffusionPipeline, torch.Tensor], bytes]) -> StepCallback:
    """A callback_on_step_end that records progress (which raises TaskCancelled on a cancel) and,
    every `preview_every` steps but the last, a preview of the latents."""

    def on_step_end(pipeline: DiffusionPipeline, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        total = getattr(pipeline, "num_timesteps", steps)
        done = step + 1
        if preview_every and done % preview_every == 0 and done < total:
            ctx.preview(preview(pipeline, kwargs["latents"]), done)
        ctx.progress(done, total)
        return kwargs

    return on_step_end


def step_reporting(pipe: DiffusionPipeline, on_step_end: StepCallback) -> dict[str, Any]:
    """The call argument that reports each step: `callback_on_step_end` where the pipeline takes
    it. HunyuanVideo 1.5's pipelines take none; they get a fresh scheduler for the call (cheap)
    whose `step` reports the latents it returns, so progress, cancels and previews work the same."""
    if "callback_on_step_end" in inspect.signature(pipe.__call__).parameters:
        return {"callback_on_step_end": on_step_end}
    scheduler = pipe.scheduler.from_config(pipe.scheduler.config)
    step, done = scheduler.step, itertools.count()

    def reporting_step(*args: Any, **kwargs: Any) -> Any:
        output = step(*args, **kwargs)
        on_step_end(pipe, next(done), None, {"latents": output[0] if isinstance(output, tuple) else output.prev_sample})
        return output

    scheduler.step = reporting_step
    pipe.scheduler = scheduler
    return {}


def seeded_generator(seed: int) -> torch.Generator:
    """Noise from a CPU generator: the same seed means the same noise on any device."""
    return torch.Generator("cpu").manual_seed(seed)


def batch_arguments(count_argument: str, seed: int, first: int, count: int) -> dict[str, Any]:
    """The arguments of one call that makes outputs first … first + count - 1: one CPU generator
    per output (seed + i), so output i starts from the noise a run of its own with seed + i has."""
    generators = [seeded_generator(seed + index) for index in range(first, first + count)]
    if count == 1:
        return {"generator": generators[0]}
    return {"generator": generators, count_argument: count}


def in_batches(generate: Callable[[int, int], list[T]], wanted: int, ctx: TaskContext) -> list[T]:
    """`wanted` outputs from `generate(first, count)`, in one call where memory allows; a call that
    runs out of GPU memory is split in halves until it fits (one output per call at worst)."""
    outputs: list[T] = []
    size = wanted
    while len(outputs) < wanted:
        count = min(size, wanted - len(outputs))
        try:
            outputs += generate(len(outputs), count)
        except torch.cuda.OutOfMemoryError:
            if count == 1:
                raise
            torch.cuda.empty_cache()
            size = max(1, count // 2)
            ctx.log(f"a batch of {count} did not fit in GPU memory; going on {size} at a time")
    return outputs


def batch_of(size: int, index: int) -> dict[str, Any]:
    """What an output's reproducibility record says of the batch it was made in: the same request
    (num_outputs, seed) gives the same bytes; num_outputs 1 with seed + index the same image, to
    within rounding (a batched call's arithmetic differs from a single one's in the last bit)."""
    return {"num_outputs": size, "output_index": index} if size > 1 else {}


def make_scheduler(name: str, model_config: FrozenDict) -> Any:
    """A fresh scheduler (cheap, per request) of the named kind, on the model's own noise schedule."""
    scheduler_class, overrides = SCHEDULERS[name]
    return scheduler_class.from_config(model_config, **overrides)


def steps_for_strength(steps: int, strength: float) -> int:
    """The fewest steps to schedule so that a UNet image-to-image run denoises once at `strength`.

    Diffusers' UNet pipelines (SD, SDXL) run the last int(steps × strength) of `steps` timesteps and
    fail on zero; the schema's floor on strength bounds the loop."""
    scheduled = steps
    while int(scheduled * strength) < 1:
        scheduled += 1
    return scheduled


def open_image(ctx: TaskContext, ref: str, field: str, mode: str) -> Image.Image:
    """A stored input image, decoded and converted to `mode` (RGB, or L for masks). The api checks
    headers only, so a truncated or odd file is found here; the caller learns which input and what to do."""
    try:
        with Image.open(io.BytesIO(ctx.read_input(ref))) as image:
            # Via RGB: a few modes (LAB, HSV) convert to L only from RGB.
            return image.convert("RGB").convert(mode)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InvalidInputError(
            f"`{field}` could not be decoded: the file is damaged or in an unusual encoding; "
            "re-export it as an 8-bit PNG or JPEG and submit again.",
            code="invalid_image",
        ) from exc
