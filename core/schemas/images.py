from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.schemas.common import InputRef


class LoraSpec(BaseModel):
    """A LoRA applied for one request: a file by `ref` (or URL), or by `name` from the LoRA dir."""

    model_config = ConfigDict(extra="forbid")

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

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(examples=["tiny-sd"], max_length=200)
    prompt: str = Field(min_length=1, max_length=4000)
    negative_prompt: str = Field("", max_length=4000)
    width: int | None = Field(None, ge=64, le=4096, description="Snapped down to the model's multiple.")
    height: int | None = Field(None, ge=64, le=4096, description="Snapped down to the model's multiple.")
    steps: int | None = Field(None, ge=1, le=150)
    guidance: float | None = Field(None, ge=0, le=30)
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Drawn and recorded when unset.")
    scheduler: SchedulerName | None = Field(None, description="Where the model offers a choice; its default when unset.")
    image: InputRef | None = Field(None, description="Init image for image-to-image, or the image to edit.")
    mask: InputRef | None = Field(None, description="Inpainting mask for `image`: white is repainted, black kept.")
    strength: float = Field(
        0.75, ge=0.01, le=1, description="How much of the init image is repainted; below 1/steps, one denoising step at this strength."
    )
    loras: list[LoraSpec] = Field(default_factory=list, max_length=4, description="LoRAs applied to this request only.")
