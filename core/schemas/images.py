from pydantic import BaseModel, ConfigDict, Field

from core.schemas.common import InputRef


class ImageRequest(BaseModel):
    """Text-to-image; with `image` it becomes image-to-image on the same warm weights."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(examples=["tiny-sd"], max_length=200)
    prompt: str = Field(min_length=1, max_length=4000)
    negative_prompt: str = Field("", max_length=4000)
    width: int | None = Field(None, ge=64, le=4096, description="Snapped down to the model's multiple.")
    height: int | None = Field(None, ge=64, le=4096, description="Snapped down to the model's multiple.")
    steps: int | None = Field(None, ge=1, le=150)
    guidance: float | None = Field(None, ge=0, le=30)
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Drawn and recorded when unset.")
    image: InputRef | None = Field(None, description="Init image for image-to-image.")
    strength: float = Field(0.75, gt=0, le=1, description="How much of the init image is repainted.")
