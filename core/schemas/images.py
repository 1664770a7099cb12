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
    "depth": {
        "summary": "Depth map of an image (tiny-depth-anything-2; upload the image first)",
        "description": f"{UPLOAD_FIRST} A 16-bit PNG of the image's size; near is bright (relative inverse depth).",
        "value": {"model": "tiny-depth-anything-2", "image": UPLOADED_IMAGE},
    },
    "matte": {
        "summary": "Matte from a click (tiny-sam-2; upload the image first)",
        "description": f"{UPLOAD_FIRST} An 8-bit matte of the image's size of the object under the point; `matte: alpha` for RGBA.",
        "value": {"model": "tiny-sam-2", "image": UPLOADED_IMAGE, "points": [{"x": 32, "y": 32, "label": 1}]},
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


# Bounds on prompt geometry: SAM encodes every point and box as tokens.
MAX_POINTS, MAX_BOXES = 32, 16


class PointPrompt(BaseModel):
    """A click on the input image, in its pixels from the top-left corner."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"x": 120, "y": 80, "label": 1}})

    x: float = Field(ge=0, le=4096)
    y: float = Field(ge=0, le=4096)
    label: Literal[0, 1] = Field(1, description="1: on the object (foreground); 0: not on it (background).")


class BoxPrompt(BaseModel):
    """A box around an object, in the input image's pixels: top-left (x0, y0), bottom-right (x1, y1)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"x0": 40, "y0": 20, "x1": 200, "y1": 180}})

    x0: float = Field(ge=0, le=4096)
    y0: float = Field(ge=0, le=4096)
    x1: float = Field(ge=0, le=4096)
    y1: float = Field(ge=0, le=4096)

    @model_validator(mode="after")
    def _corners_in_order(self) -> "BoxPrompt":
        if self.x1 <= self.x0 or self.y1 <= self.y0:
            raise ValueError("a box's x1 and y1 (bottom-right) must be greater than its x0 and y0 (top-left)")
        return self


# Reference images beside `image`: each adds its latents to every denoising step's sequence.
MAX_REFERENCES = 4
# Noise schedulers a request may pick, on the models that offer a choice (GET /api/images/models).
SchedulerName = Literal["euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "ddim", "unipc"]
# Files an image task writes (each model lists its own in GET /api/images/models, the default first).
ImageOutputFormat = Literal["png", "png16", "exr", "jpeg", "webp"]
OUTPUT_FORMAT_DESCRIPTION = (
    "png (8-bit sRGB), png16 (16 bits per channel, sRGB), exr (32-bit float, scene-linear: converted with OpenColorIO "
    "to the workers' DDIFFUSION_OCIO_TARGET, ACEScg by default), jpeg or webp (sRGB, with `quality`). Mattes and depth "
    "maps are written as data, never colour-converted. Each output records its `colorspace`. Unset: the model's default."
)


class ImageRequest(BaseModel):
    """Text-to-image; with `image` image-to-image (or an edit, for editing models), with `image`
    and `mask` inpainting — all on the same warm weights."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), json_schema_extra={"example": _TXT2IMG})

    webhook: WebhookSpec | None = Field(None, description="POST the record to a URL of yours when the task starts or ends.")
    priority: Priority = Field(Priority.normal, description=PRIORITY_FIELD_DESCRIPTION)

    model: str = Field(examples=["tiny-sd"], max_length=200, description="A model from GET /api/images/models; `available` says it runs here.")
    prompt: str | None = Field(
        None,
        min_length=1,
        max_length=4000,
        examples=[_TXT2IMG["prompt"]],
        description="What to make; generators require it. sam-3: the object to matte (\"the red car\"). Utilities without text ignore it.",
    )
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
    references: list[InputRef] = Field(
        default_factory=list,
        max_length=MAX_REFERENCES,
        description="Extra images an edit of `image` draws on (a character, a product, a style), on models with the references "
        "capability (flux-2, flux-2-klein, qwen-image-edit); each is resized to the output's size.",
    )
    mask: InputRef | None = Field(None, description="Inpainting mask for `image`: white is repainted, black kept.")
    points: list[PointPrompt] = Field(
        default_factory=list, max_length=MAX_POINTS, description="sam-2: clicks on `image` that pick the object to matte (label 1 on it, 0 off it)."
    )
    boxes: list[BoxPrompt] = Field(
        default_factory=list, max_length=MAX_BOXES, description="sam-2: boxes around the objects to matte, one object per box; the matte is their union."
    )
    matte: Literal["mask", "alpha"] = Field(
        "mask", description="sam-2 / sam-3: `mask` writes the matte as an 8-bit single-channel image; `alpha` writes `image` as RGBA with the matte as alpha."
    )
    scale: Literal[2, 4] | None = Field(None, description="Upscalers: the factor, which must be the model's own (swin2sr-x2: 2, swin2sr-x4: 4).")
    strength: float = Field(
        0.75, ge=0.01, le=1, description="How much of the init image is repainted; below 1/steps, one denoising step at this strength."
    )
    loras: list[LoraSpec] = Field(default_factory=list, max_length=4, description="LoRAs applied to this request only.")
    output_format: ImageOutputFormat | None = Field(None, description=OUTPUT_FORMAT_DESCRIPTION)
    quality: int | None = Field(None, ge=1, le=100, description="jpeg and webp only: 1 (smallest) to 100 (best); 90 when unset.")
