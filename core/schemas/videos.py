from pydantic import BaseModel, ConfigDict, Field

from core.schemas.common import InputRef


class VideoRequest(BaseModel):
    """Text-to-video; with `image` it becomes image-to-video where the model supports it."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(examples=["ltx-video"], max_length=200)
    prompt: str = Field(min_length=1, max_length=4000)
    negative_prompt: str = Field("", max_length=4000)
    image: InputRef | None = None
    width: int | None = Field(None, ge=64, le=4096)
    height: int | None = Field(None, ge=64, le=4096)
    num_frames: int | None = Field(None, ge=1, le=1025)
    fps: int | None = Field(None, ge=1, le=120)
    steps: int | None = Field(None, ge=1, le=150)
    guidance: float | None = Field(None, ge=0, le=30)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
