from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.schemas.common import PRIORITY_FIELD_DESCRIPTION, UPLOAD_FIRST, UPLOADED_IMAGE, InputRef, Priority, RequestExample, WebhookSpec

_T2V = {"model": "tiny-ltx", "prompt": "a paper boat drifting on a pond", "seed": 7}
# The first is the default body in Swagger UI: it needs nothing but the embedded tiny-ltx.
VIDEO_EXAMPLES: dict[str, RequestExample] = {
    "t2v": {"summary": "Text to video (tiny-ltx, needs nothing)", "description": "A prompt alone, on the built-in tiny model.", "value": _T2V},
    "i2v": {
        "summary": "Image to video (upload the first frame first)",
        "description": f"{UPLOAD_FIRST} The image is the first frame the model animates.",
        "value": _T2V | {"prompt": "the boat sails away", "image": UPLOADED_IMAGE},
    },
}


# mp4: H.264. A sequence is one output per frame, <task id>.<frame:04d>.<ext>, numbered from `start_frame`.
VideoOutputFormat = Literal["mp4", "png_sequence", "exr_sequence"]


class VideoRequest(BaseModel):
    """Text-to-video; with `image` it becomes image-to-video where the model supports it."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), json_schema_extra={"example": _T2V})

    webhook: WebhookSpec | None = Field(None, description="POST the record to a URL of yours when the task starts or ends.")
    priority: Priority = Field(Priority.normal, description=PRIORITY_FIELD_DESCRIPTION)

    model: str = Field(examples=["tiny-ltx"], max_length=200, description="A model from GET /api/videos/models; `available` says it runs here.")
    prompt: str = Field(min_length=1, max_length=4000, examples=[_T2V["prompt"]])
    negative_prompt: str = Field("", max_length=4000)
    image: InputRef | None = None
    width: int | None = Field(None, ge=64, le=4096)
    height: int | None = Field(None, ge=64, le=4096)
    num_frames: int | None = Field(None, ge=1, le=1025)
    fps: int | None = Field(None, ge=1, le=120)
    steps: int | None = Field(None, ge=1, le=150)
    guidance: float | None = Field(None, ge=0, le=30)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    num_outputs: int = Field(
        1, ge=1, le=8, description="Variations in one task, in one batched call where the model allows it: output i has seed `seed + i`."
    )
    output_format: VideoOutputFormat | None = Field(
        None,
        description="mp4 (H.264, sRGB), or one file per frame named <task id>.<frame:04d>.<ext> for a Nuke Read node or a "
        "Houdini COP: png_sequence (8-bit sRGB) or exr_sequence (32-bit float, scene-linear via OpenColorIO, ACEScg by "
        "default). Unset: the model's default.",
    )
    start_frame: int = Field(1001, ge=0, le=999_999, description="Sequences: the first frame's number (1001 by VFX convention).")
