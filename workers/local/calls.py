"""What image and video engines share around a pipeline call: arguments the pipeline takes,
per-step progress and previews, and seeded noise."""

import inspect
from collections.abc import Callable
from typing import Any

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

from workers.context import TaskContext

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


def seeded_generator(seed: int) -> torch.Generator:
    """Noise from a CPU generator: the same seed means the same noise on any device."""
    return torch.Generator("cpu").manual_seed(seed)


def make_scheduler(name: str, model_config: FrozenDict) -> Any:
    """A fresh scheduler (cheap, per request) of the named kind, on the model's own noise schedule."""
    scheduler_class, overrides = SCHEDULERS[name]
    return scheduler_class.from_config(model_config, **overrides)
