"""The model catalogue: public names → engine, queue, weights, defaults and limits.

Read by the api (validation, listings, routing) and by workers (what to load). Requests are
normalised here once, so the record holds exactly the parameters the worker runs with.
"""

import secrets
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.errors import InvalidRequestError, UnknownModelError
from core.schemas import Domain, ImageRequest, Queue, TaskRequest, TextRequest


class Capability(StrEnum):
    txt2img = "txt2img"
    img2img = "img2img"
    inpaint = "inpaint"
    references = "references"
    lora = "lora"
    video = "video"
    vision = "vision"
    chat = "chat"
    workflow = "workflow"


class ModelLimits(BaseModel):
    model_config = ConfigDict(frozen=True)

    size_multiple: int = 8
    max_pixels: int = 1024 * 1024
    max_steps: int = 150
    max_tokens: int = 4096


class ModelEntry(BaseModel):
    model_config = ConfigDict(frozen=True, protected_namespaces=())

    name: str
    domain: Domain
    queue: Queue
    engine: str = Field(description="Which worker engine runs it: diffusers, transformers, …")
    pipeline: str = Field(description="Pipeline or model class loaded with from_pretrained.")
    weights: str = Field(description="Directory under the models dir, or a Hugging Face repo id.")
    description: str
    capabilities: frozenset[Capability]
    defaults: dict[str, Any] = Field(default_factory=dict)
    limits: ModelLimits = ModelLimits()
    tiny: bool = Field(False, description="Random-weight twin the project builds itself.")
    hosted: bool = Field(False, description="Runs at a provider: refused at submit unless a worker has it configured.")


def _entries() -> dict[str, ModelEntry]:
    sd_defaults = {"width": 512, "height": 512, "steps": 30, "guidance": 7.5}
    entries = [
        ModelEntry(
            name="tiny-sd",
            domain=Domain.images,
            queue=Queue.gpu,
            engine="diffusers",
            pipeline="StableDiffusionPipeline",
            weights="tiny-sd",
            description="Stable Diffusion classes with small random weights: the built-in default, for tests.",
            capabilities=frozenset({Capability.txt2img, Capability.img2img}),
            defaults={"width": 64, "height": 64, "steps": 2, "guidance": 5.0},
            limits=ModelLimits(max_pixels=512 * 512, max_steps=50),
            tiny=True,
        ),
        ModelEntry(
            name="sd-1.5",
            domain=Domain.images,
            queue=Queue.gpu,
            engine="diffusers",
            pipeline="StableDiffusionPipeline",
            weights="stable-diffusion-v1-5/stable-diffusion-v1-5",
            description="Stable Diffusion 1.5.",
            capabilities=frozenset({Capability.txt2img, Capability.img2img}),
            defaults=sd_defaults,
            limits=ModelLimits(max_pixels=1024 * 1024),
        ),
        ModelEntry(
            name="tiny-llm",
            domain=Domain.texts,
            queue=Queue.gpu,
            engine="transformers",
            pipeline="AutoModelForCausalLM",
            weights="tiny-llm",
            description="A causal language model with small random weights: the built-in default, for tests.",
            capabilities=frozenset({Capability.chat}),
            limits=ModelLimits(max_tokens=512),
            tiny=True,
        ),
        ModelEntry(
            name="qwen-2.5",
            domain=Domain.texts,
            queue=Queue.gpu,
            engine="transformers",
            pipeline="AutoModelForCausalLM",
            weights="Qwen/Qwen2.5-7B-Instruct",
            description="Qwen 2.5 7B Instruct.",
            capabilities=frozenset({Capability.chat}),
            limits=ModelLimits(max_tokens=8192),
        ),
    ]
    return {entry.name: entry for entry in entries}


def _service_entries() -> dict[str, ModelEntry]:
    """Models that run elsewhere: hosted providers and the ComfyUI sidecar."""
    openai_chat = [
        ModelEntry(
            name=name,
            domain=Domain.texts,
            queue=Queue.cpu,
            engine="openai",
            pipeline=name,
            weights="",
            description=f"OpenAI {name} (hosted; OPENAI_API_KEY and optionally OPENAI_BASE_URL on the cpu workers).",
            capabilities=frozenset({Capability.chat}),
            limits=ModelLimits(max_tokens=16384),
            hosted=True,
        )
        for name in ("gpt-4o", "gpt-4o-mini", "gpt-4.1-mini")
    ]
    comfyui = ModelEntry(
        name="comfyui",
        domain=Domain.workflows,
        queue=Queue.comfy,
        engine="comfyui",
        pipeline="ComfyUI",
        weights="",
        description="ComfyUI workflows: trusted templates or allow-listed API-format graphs, on the ComfyUI sidecar.",
        capabilities=frozenset({Capability.workflow}),
    )
    return {entry.name: entry for entry in [*openai_chat, comfyui]}


CATALOGUE: dict[str, ModelEntry] = _entries() | _service_entries()


def models_for(domain: Domain) -> list[ModelEntry]:
    return [entry for entry in CATALOGUE.values() if entry.domain == domain]


def get_model(domain: Domain, name: str) -> ModelEntry:
    entry = CATALOGUE.get(name)
    if entry is None or entry.domain != domain:
        names = ", ".join(e.name for e in models_for(domain)) or "none are configured here yet"
        raise UnknownModelError(
            f"Unknown {domain.value} model {name!r}; available: {names}.",
            details={"model": name, "available": [e.name for e in models_for(domain)]},
        )
    return entry


def normalize(entry: ModelEntry, request: TaskRequest) -> tuple[dict[str, Any], list[str]]:
    """Fill in defaults, snap sizes and check limits. Returns the request as it will run and
    notes for the task log. Raises InvalidRequestError saying what to change."""
    params = request.model_dump(exclude_none=True)
    notes: list[str] = []
    if isinstance(request, ImageRequest):
        for name in ("width", "height", "steps", "guidance"):
            params.setdefault(name, entry.defaults.get(name))
        _snap_size(entry, params, notes)
        if params["steps"] > entry.limits.max_steps:
            raise InvalidRequestError(
                f"steps={params['steps']} is above {entry.name}'s limit of {entry.limits.max_steps}; lower it."
            )
        if request.image is not None and Capability.img2img not in entry.capabilities:
            raise InvalidRequestError(f"{entry.name} does not do image-to-image; drop `image` or pick another model.")
        if request.image is None:
            params.pop("strength", None)
    elif isinstance(request, TextRequest) and request.max_tokens > entry.limits.max_tokens:
        raise InvalidRequestError(
            f"max_tokens={request.max_tokens} is above {entry.name}'s limit of {entry.limits.max_tokens}; lower it."
        )
    if "seed" in type(request).model_fields and params.get("seed") is None:
        params["seed"] = secrets.randbelow(2**32)
    return params, notes


def _snap_size(entry: ModelEntry, params: dict[str, Any], notes: list[str]) -> None:
    multiple = entry.limits.size_multiple
    for name in ("width", "height"):
        asked = params[name]
        snapped = max(multiple, asked - asked % multiple)
        if snapped != asked:
            notes.append(f"{name} snapped from {asked} to {snapped} (a multiple of {multiple} for {entry.name})")
            params[name] = snapped
    pixels = params["width"] * params["height"]
    if pixels > entry.limits.max_pixels:
        raise InvalidRequestError(
            f"{params['width']}x{params['height']} is {pixels} pixels, above {entry.name}'s limit of "
            f"{entry.limits.max_pixels}; lower width or height.",
            details={"max_pixels": entry.limits.max_pixels},
        )
