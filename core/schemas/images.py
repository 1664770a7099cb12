from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.schemas.common import (
    PRIORITY_FIELD_DESCRIPTION,
    UPLOAD_FIRST,
    UPLOADED_IMAGE,
    UPLOADED_MASK,
    InputRef,
    Priority,
    RequestExample,
    WebhookSpec,
)

_TXT2IMG = {"model": "tiny-sd", "prompt": "a red teapot on a wooden table", "width": 64, "height": 64, "steps": 2, "seed": 7}
_LORA = {"name": "my-style", "scale": 0.8}
# The first is the default body in Swagger UI: it needs nothing but the embedded tiny-sd.
IMAGE_EXAMPLES: dict[str, RequestExample] = {
    "txt2img": {"summary": "Text to image (tiny-sd, needs nothing)", "description": "A prompt alone, on the built-in tiny model.", "value": _TXT2IMG},
    "img2img": {
        "summary": "Image to image (upload the image first)",
        "description": f"{UPLOAD_FIRST} `strength` sets how much of it is repainted.",
        "value": _TXT2IMG | {"prompt": "the same teapot as an oil painting", "image": UPLOADED_IMAGE, "strength": 0.6},
    },
    "inpaint": {
        "summary": "Inpaint (upload the image and the mask first)",
        "description": f"{UPLOAD_FIRST} Two uploads: the image, and a mask where white is repainted and black kept.",
        "value": _TXT2IMG | {"prompt": "a blue teapot", "image": UPLOADED_IMAGE, "mask": UPLOADED_MASK},
    },
    "lora_by_name": {
        "summary": "With a LoRA by name (from the LoRA dir)",
        "description": "Needs `my-style.safetensors` in the workers' LoRA dir (DDIFFUSION_LORAS_DIR, by default data/loras). "
        "Or upload the .safetensors file with POST /api/files and send `{\"ref\": \"sha256:…\"}` instead of `name`.",
        "value": _TXT2IMG | {"loras": [_LORA]},
    },
}


class LoraSpec(BaseModel):
    """A LoRA applied for one request: a file by `ref` (or URL), or by `name` from the LoRA dir."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": _LORA})

    ref: InputRef | None = Field(None, description="A .safetensors LoRA: a ref from POST /api/files or an allowed URL.")
    name: str | None = Field(None, max_length=200, pattern=r"^[A-Za-z0-9._-]+$", description="A file in the LoRA dir, without `.safetensors`.")
    scale: float = Field(1.0, ge=-4, le=4)

    @model_validator(mode="after")
    def _one_source(self) -> "LoraSpec":
        if (self.ref is None) == (self.name is None):
            raise ValueError("give exactly one of `ref` or `name`")
        return self


# Noise schedulers a request may pick, on the models that offer a choice (GET /api/images/models).
SchedulerName = Literal["euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "ddim", "unipc"]


class ImageRequest(BaseModel):
    """Text-to-image; with `image` image-to-image (or an edit, for editing models), with `image`
    and `mask` inpainting — all on the same warm weights."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), json_schema_extra={"example": _TXT2IMG})

    webhook: WebhookSpec | None = Field(None, description="POST the record to a URL of yours when the task starts or ends.")
    priority: Priority = Field(Priority.normal, description=PRIORITY_FIELD_DESCRIPTION)

    model: str = Field(examples=["tiny-sd"], max_length=200, description="A model from GET /api/images/models; `available` says it runs here.")
    prompt: str = Field(min_length=1, max_length=4000, examples=[_TXT2IMG["prompt"]])
    negative_prompt: str = Field("", max_length=4000)
    width: int | None = Field(None, ge=64, le=4096, description="Snapped down to the model's multiple.")
    height: int | None = Field(None, ge=64, le=4096, description="Snapped down to the model's multiple.")
    steps: int | None = Field(None, ge=1, le=150)
    guidance: float | None = Field(None, ge=0, le=30)
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Drawn and recorded when unset.")
    num_outputs: int = Field(
        1, ge=1, le=8, description="Variations in one task, in one batched call where the model allows it: output i has seed `seed + i`."
    )
    scheduler: SchedulerName | None = Field(None, description="Where the model offers a choice; its default when unset.")
    image: InputRef | None = Field(None, description="Init image for image-to-image, or the image to edit.")
    mask: InputRef | None = Field(None, description="Inpainting mask for `image`: white is repainted, black kept.")
    strength: float = Field(
        0.75, ge=0.01, le=1, description="How much of the init image is repainted; below 1/steps, one denoising step at this strength."
    )
    loras: list[LoraSpec] = Field(default_factory=list, max_length=4, description="LoRAs applied to this request only.")
