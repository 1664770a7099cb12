"""The model catalogue: public names → engine, queue, weights, defaults and limits.

Read by the api (validation, listings, routing) and by workers (what to load). Requests are
normalised here once, so the record holds exactly the parameters the worker runs with.
"""

import math
import secrets
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.errors import InvalidRequestError, UnknownModelError
from core.schemas import Domain, ImageRequest, Queue, TaskRequest, TextRequest, VideoRequest


class Capability(StrEnum):
    txt2img = "txt2img"
    img2img = "img2img"
    inpaint = "inpaint"
    references = "references"  # extra images beside `image` (request field `references`)
    lora = "lora"
    video = "video"
    vision = "vision"
    chat = "chat"
    workflow = "workflow"
    depth = "depth"  # image → depth map
    matte = "matte"  # image (+ points, boxes or a text prompt) → matte
    upscale = "upscale"  # image → the image at scale × its size


class EngineKind(StrEnum):
    """Which worker engine runs an entry (workers/engines.py maps each to its class)."""

    diffusers = "diffusers"
    diffusers_video = "diffusers_video"
    transformers = "transformers"
    openai = "openai"
    openai_images = "openai_images"
    replicate = "replicate"
    comfyui = "comfyui"
    vision_utility = "vision_utility"  # transformers depth, segmentation and upscaling models
    route = "route"  # a family: resolved to one of its members at submit, never run itself


class ModelLimits(BaseModel):
    model_config = ConfigDict(frozen=True)

    size_multiple: int = 8
    max_pixels: int = 1024 * 1024
    max_steps: int = 150
    max_tokens: int = 4096
    sizes: tuple[str, ...] = Field((), description="The only WIDTHxHEIGHT sizes the model makes, when it has a fixed set.")
    max_frames: int = 257
    frame_multiple: int = Field(1, description="Local video models make frame_multiple·k + 1 frames (8k+1 for LTX-Video).")
    max_outputs: int = Field(1, description="The most `num_outputs` one task may ask for.")
    max_aspect: float | None = Field(None, description="The widest long side : short side the model takes (FLUX.2: 8).")


class ModelEntry(BaseModel):
    model_config = ConfigDict(frozen=True, protected_namespaces=())

    name: str
    domain: Domain
    queue: Queue
    engine: EngineKind
    pipeline: str = Field(description="Pipeline or model class loaded with from_pretrained.")
    weights: str = Field(description="Directory under the models dir, or a Hugging Face repo id.")
    description: str
    capabilities: frozenset[Capability]
    defaults: dict[str, Any] = Field(default_factory=dict)
    limits: ModelLimits = ModelLimits()
    tiny: bool = Field(False, description="Random-weight twin the project builds itself.")
    twin: str | None = Field(None, description="The tiny-* entry with the same pipeline classes, run by the tests.")
    modes: dict[str, str] = Field(
        default_factory=dict,
        description="Local image and video models: mode (txt2img, img2img, inpaint) → the pipeline class that runs it, "
        "built on the loaded pipeline's components.",
    )
    routes: dict[str, str] = Field(
        default_factory=dict,
        description="A model family: mode → the entry that serves it, chosen from the request's inputs at submit.",
    )
    call_defaults: dict[str, Any] = Field(default_factory=dict, description="Extra pipeline call arguments for this model.")
    guidance_argument: str = Field(
        "guidance_scale", description="The pipeline call argument a request's `guidance` goes to (Qwen-Image: true_cfg_scale)."
    )
    schedulers: tuple[str, ...] = Field((), description="Schedulers a request may pick, the default first; none: the model's own.")
    hosted: bool = Field(False, description="Runs at a provider: refused at submit unless a worker has it configured.")
    ignores: frozenset[str] = Field(frozenset(), description="Request fields that do not apply: dropped, with a note when the caller set them.")
    output_formats: tuple[str, ...] = Field((), description="The `output_format` values the entry can write, the default first.")


# Local pipelines batch variations (num_images_per_prompt / num_videos_per_prompt).
LOCAL_MAX_OUTPUTS = 8
# What the local engines write (workers/local/outputs.py), the default first; hosted models return what they make.
LOCAL_IMAGE_FORMATS = ("png", "png16", "exr", "jpeg", "webp")
# Request fields only the compositing utilities read: image generators drop them, with a note when set.
UTILITY_ONLY_FIELDS = frozenset({"points", "boxes", "matte", "scale"})
LOCAL_VIDEO_FORMATS = ("mp4", "png_sequence", "exr_sequence")
LOSSY_FORMATS = ("jpeg", "webp")
SEQUENCE_FORMATS = ("png_sequence", "exr_sequence")


def _batched(fields: dict[str, Any]) -> dict[str, Any]:
    limits = fields.get("limits", ModelLimits())
    return fields | {"limits": limits.model_copy(update={"max_outputs": LOCAL_MAX_OUTPUTS})}


def _image_entry(
    name: str, pipeline: str, weights: str, description: str, modes: dict[str, str], references: bool = False, **fields: Any
) -> ModelEntry:
    fields = _batched(fields)
    fields.setdefault("output_formats", LOCAL_IMAGE_FORMATS)
    fields["ignores"] = fields.get("ignores", frozenset()) | UTILITY_ONLY_FIELDS
    return ModelEntry(
        name=name,
        domain=Domain.images,
        queue=Queue.gpu,
        engine="diffusers",
        pipeline=pipeline,
        weights=weights,
        description=description,
        capabilities=frozenset({Capability(mode) for mode in modes} | {Capability.lora} | ({Capability.references} if references else set())),
        modes=modes,
        **fields,
    )


def _video_entry(name: str, weights: str, description: str, modes: dict[str, str], **fields: Any) -> ModelEntry:
    """A local video model; its modes are keyed txt2img/img2img like the video capabilities that
    `_check_video_mode` reads (text-to-video, image-to-video)."""
    fields = _batched(fields)
    fields.setdefault("output_formats", LOCAL_VIDEO_FORMATS)
    return ModelEntry(
        name=name,
        domain=Domain.videos,
        queue=Queue.gpu,
        engine="diffusers_video",
        pipeline=modes.get("txt2img") or modes["img2img"],
        weights=weights,
        description=description,
        capabilities=frozenset({Capability(mode) for mode in modes} | {Capability.video}),
        modes=modes,
        **fields,
    )


# Generator fields a compositing utility has no use for: dropped with a note when set.
UTILITY_IGNORES = frozenset({"width", "height", "steps", "guidance", "seed", "negative_prompt", "strength", "scheduler", "mask"})
MATTE_FORMATS = ("png", "exr")
DEPTH_FORMATS = ("png16", "exr")
# A utility's max_pixels bounds its input: any image the api takes, and for upscalers a 4K plate (written scale × it, tile by tile).
UTILITY_LIMITS = ModelLimits(max_pixels=4096 * 4096)
UPSCALE_LIMITS = ModelLimits(max_pixels=4096 * 2304)
# The request fields that only utilities read: each entry ignores those it does not.
UTILITY_FIELDS = UTILITY_ONLY_FIELDS | {"prompt"}


def _utility_entry(
    name: str, pipeline: str, weights: str, capability: Capability, *, description: str, uses: set[str], **fields: Any
) -> ModelEntry:
    """A compositing utility (depth, matte, upscale): `image` in, an image of its size (or scale × it) out.
    `uses`: which of UTILITY_FIELDS it reads; the others, and the generators' fields, are ignored."""
    return ModelEntry(
        name=name, domain=Domain.images, queue=Queue.gpu, engine=EngineKind.vision_utility, pipeline=pipeline, weights=weights,
        description=description, capabilities=frozenset({capability}), ignores=UTILITY_IGNORES | (UTILITY_FIELDS - uses), **fields,
    )  # fmt: skip


# HunyuanVideo 1.5's image-to-video pipeline makes the size of its resolution bucket nearest the
# image's aspect (buckets of about target_size² pixels, in 16s); these are buckets that the pipeline
# maps to themselves (tests/workers/local/test_new_video_models.py checks it against diffusers), so
# the size chosen at submit is the size made. 480p checkpoint: target_size 640.
HUNYUAN_I2V_SIZES = ("848x480", "480x832", "720x560", "560x720", "640x640")
TINY_HUNYUAN_I2V_SIZES = ("64x64", "96x64", "64x96", "80x64", "64x80")  # the tiny twin's target_size: 78


def _hunyuan_video_15_entries(tiny_video_defaults: dict[str, Any]) -> list[ModelEntry]:
    """HunyuanVideo 1.5 (480p): text-to-video and image-to-video are two checkpoints (other
    transformer weights, and a SigLIP image encoder for i2v), so two entries and a family that
    picks one by whether the request has an `image`; tiny twins of each. 4k+1 frames, guidance on
    the pipelines' guider."""
    t2v, i2v = {"txt2img": "HunyuanVideo15Pipeline"}, {"img2img": "HunyuanVideo15ImageToVideoPipeline"}
    tiny = {"defaults": tiny_video_defaults | {"guidance": 6.0}, "tiny": True}
    tiny_limits = ModelLimits(size_multiple=16, max_pixels=256 * 256, max_steps=50, max_frames=33, frame_multiple=4)
    real = {"defaults": {"width": 848, "height": 480, "num_frames": 121, "fps": 24, "steps": 50, "guidance": 6.0}}
    real_limits = ModelLimits(size_multiple=16, max_pixels=640 * 640, max_frames=121, frame_multiple=4)
    repo = "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p"
    members = [
        _video_entry("tiny-hunyuan-video-1.5-t2v", "tiny-hunyuan-video-1.5-t2v", "HunyuanVideo 1.5 text-to-video classes "
                     "with small random weights, for tests.", t2v, limits=tiny_limits, **tiny),
        _video_entry("tiny-hunyuan-video-1.5-i2v", "tiny-hunyuan-video-1.5-i2v", "HunyuanVideo 1.5 image-to-video classes "
                     "with small random weights, for tests.", i2v, limits=tiny_limits.model_copy(update={"sizes": TINY_HUNYUAN_I2V_SIZES}),
                     **tiny),
        _video_entry("hunyuan-video-1.5-t2v", f"{repo}_t2v", "HunyuanVideo 1.5 480p text to video (8.3B); sizes in multiples "
                     "of 16 up to 640x640 pixels, 4k+1 frames.", t2v, twin="tiny-hunyuan-video-1.5-t2v", limits=real_limits, **real),
        _video_entry("hunyuan-video-1.5-i2v", f"{repo}_i2v", "HunyuanVideo 1.5 480p image to video (8.3B): animates `image` "
                     f"as its first frame, at the one of {', '.join(HUNYUAN_I2V_SIZES)} nearest its aspect; 4k+1 frames.", i2v,
                     twin="tiny-hunyuan-video-1.5-i2v", limits=real_limits.model_copy(update={"sizes": HUNYUAN_I2V_SIZES}), **real),
    ]
    # One video per task: diffusers 0.42.1's HunyuanVideo 1.5 pipelines fail on num_videos_per_prompt > 1.
    members = [entry.model_copy(update={"limits": entry.limits.model_copy(update={"max_outputs": 1})}) for entry in members]
    families = [
        ModelEntry(
            name=f"{prefix}hunyuan-video-1.5", domain=Domain.videos, queue=Queue.gpu, engine="route", pipeline="", weights="",
            description=f"HunyuanVideo 1.5: {prefix}hunyuan-video-1.5-t2v for a prompt alone, {prefix}hunyuan-video-1.5-i2v "
            "to animate an `image`.",
            capabilities=frozenset({Capability.txt2img, Capability.img2img, Capability.video}),
            routes={"txt2img": f"{prefix}hunyuan-video-1.5-t2v", "img2img": f"{prefix}hunyuan-video-1.5-i2v"},
            tiny=bool(prefix), twin=None if prefix else "tiny-hunyuan-video-1.5", output_formats=LOCAL_VIDEO_FORMATS,
        )
        for prefix in ("tiny-", "")
    ]  # fmt: skip
    return members + families


def _entries() -> dict[str, ModelEntry]:
    """Local models. Each real entry names its tiny twin: the same pipeline classes with small
    random weights, which the tests run end to end in every mode."""
    sd_modes = {"txt2img": "StableDiffusionPipeline", "img2img": "StableDiffusionImg2ImgPipeline", "inpaint": "StableDiffusionInpaintPipeline"}
    sdxl_modes = {"txt2img": "StableDiffusionXLPipeline", "img2img": "StableDiffusionXLImg2ImgPipeline", "inpaint": "StableDiffusionXLInpaintPipeline"}
    sd3_modes = {"txt2img": "StableDiffusion3Pipeline", "img2img": "StableDiffusion3Img2ImgPipeline", "inpaint": "StableDiffusion3InpaintPipeline"}
    flux_modes = {"txt2img": "FluxPipeline", "img2img": "FluxImg2ImgPipeline", "inpaint": "FluxInpaintPipeline"}
    kontext_modes = {"txt2img": "FluxKontextPipeline", "img2img": "FluxKontextPipeline"}
    qwen_image_modes = {"txt2img": "QwenImagePipeline", "img2img": "QwenImageImg2ImgPipeline", "inpaint": "QwenImageInpaintPipeline"}
    tiny_limits = ModelLimits(max_pixels=512 * 512, max_steps=50)
    # UNet models take any of these noise schedulers; flow-matching models (SD3, Flux, Qwen-Image) keep their own.
    unet_schedulers = {"schedulers": ("euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "ddim", "unipc")}
    tiny_defaults = {"width": 64, "height": 64, "steps": 2, "guidance": 5.0}
    flux_limits = ModelLimits(size_multiple=16, max_pixels=2048 * 2048)
    images = [
        _image_entry("tiny-sd", "StableDiffusionPipeline", "tiny-sd", "Stable Diffusion classes with small random weights: "
                     "the built-in default, for tests.", sd_modes, defaults=tiny_defaults, limits=tiny_limits, tiny=True,
                     **unet_schedulers),
        _image_entry("sd-1.5", "StableDiffusionPipeline", "stable-diffusion-v1-5/stable-diffusion-v1-5", "Stable Diffusion 1.5.",
                     sd_modes, twin="tiny-sd", defaults={"width": 512, "height": 512, "steps": 30, "guidance": 7.5},
                     **unet_schedulers),
        _image_entry("tiny-sdxl", "StableDiffusionXLPipeline", "tiny-sdxl", "SDXL classes with small random weights, for tests.",
                     sdxl_modes, defaults=tiny_defaults, limits=tiny_limits, tiny=True, **unet_schedulers),
        _image_entry("sdxl", "StableDiffusionXLPipeline", "stabilityai/stable-diffusion-xl-base-1.0", "Stable Diffusion XL 1.0 base.",
                     sdxl_modes, twin="tiny-sdxl", defaults={"width": 1024, "height": 1024, "steps": 30, "guidance": 5.0},
                     limits=ModelLimits(max_pixels=2048 * 2048), **unet_schedulers),
        _image_entry("tiny-sd3", "StableDiffusion3Pipeline", "tiny-sd3", "Stable Diffusion 3 classes with small random weights, for tests.",
                     sd3_modes, defaults=tiny_defaults, limits=tiny_limits.model_copy(update={"size_multiple": 16}), tiny=True),
        _image_entry("sd-3.5-medium", "StableDiffusion3Pipeline", "stabilityai/stable-diffusion-3.5-medium", "Stable Diffusion 3.5 Medium.",
                     sd3_modes, twin="tiny-sd3", defaults={"width": 1024, "height": 1024, "steps": 40, "guidance": 4.5},
                     limits=ModelLimits(size_multiple=16, max_pixels=1440 * 1440), call_defaults={"max_sequence_length": 256}),
        _image_entry("tiny-flux", "FluxPipeline", "tiny-flux", "Flux.1 classes with small random weights, for tests.",
                     flux_modes, defaults=tiny_defaults | {"guidance": 3.5}, limits=tiny_limits.model_copy(update={"size_multiple": 16}),
                     tiny=True),
        _image_entry("flux-1-schnell", "FluxPipeline", "black-forest-labs/FLUX.1-schnell", "FLUX.1 [schnell]: 4-step distilled.",
                     flux_modes, twin="tiny-flux", defaults={"width": 1024, "height": 1024, "steps": 4, "guidance": 0.0},
                     limits=flux_limits, call_defaults={"max_sequence_length": 256}),
        _image_entry("flux-1-dev", "FluxPipeline", "black-forest-labs/FLUX.1-dev", "FLUX.1 [dev] (gated: HF_TOKEN to download).",
                     flux_modes, twin="tiny-flux", defaults={"width": 1024, "height": 1024, "steps": 28, "guidance": 3.5},
                     limits=flux_limits),
        _image_entry("tiny-flux-fill", "FluxFillPipeline", "tiny-flux-fill", "FLUX.1 Fill classes with small random weights, "
                     "for tests.", {"inpaint": "FluxFillPipeline"}, defaults=tiny_defaults | {"guidance": 30.0},
                     limits=tiny_limits.model_copy(update={"size_multiple": 16}), tiny=True),
        _image_entry("flux-1-fill", "FluxFillPipeline", "black-forest-labs/FLUX.1-Fill-dev", "FLUX.1 Fill [dev]: repaints where "
                     "`mask` is white, in or beyond `image` (gated: HF_TOKEN to download).", {"inpaint": "FluxFillPipeline"},
                     twin="tiny-flux-fill", defaults={"width": 1024, "height": 1024, "steps": 50, "guidance": 30.0},
                     limits=flux_limits),
        _image_entry("tiny-flux-kontext", "FluxKontextPipeline", "tiny-flux", "Flux.1 Kontext classes on tiny-flux's random "
                     "weights, for tests.", kontext_modes, defaults=tiny_defaults | {"guidance": 2.5},
                     limits=tiny_limits.model_copy(update={"size_multiple": 16}), tiny=True),
        _image_entry("flux-1-kontext", "FluxKontextPipeline", "black-forest-labs/FLUX.1-Kontext-dev", "FLUX.1 Kontext [dev]: edits "
                     "`image` as the prompt says (gated: HF_TOKEN to download).", kontext_modes, twin="tiny-flux-kontext",
                     defaults={"width": 1024, "height": 1024, "steps": 28, "guidance": 2.5}, limits=flux_limits),
        # Sizes in multiples of 16: the VAE's 8x and the transformer's 2x2 patches.
        _image_entry("tiny-qwen-image", "QwenImagePipeline", "tiny-qwen-image", "Qwen-Image classes with small random "
                     "weights, for tests.", qwen_image_modes, defaults=tiny_defaults | {"guidance": 4.0},
                     limits=tiny_limits.model_copy(update={"size_multiple": 16}), tiny=True, guidance_argument="true_cfg_scale"),
        _image_entry("qwen-image", "QwenImagePipeline", "Qwen/Qwen-Image", "Qwen-Image (20B): strong at text in images; "
                     "`guidance` (true CFG) applies with a `negative_prompt`.", qwen_image_modes, twin="tiny-qwen-image",
                     defaults={"width": 1328, "height": 1328, "steps": 50, "guidance": 4.0},
                     limits=ModelLimits(size_multiple=16, max_pixels=1664 * 1664), guidance_argument="true_cfg_scale"),
    ]  # fmt: skip
    # The newer generators. FLUX.2 and Qwen-Image-Edit Plus take a list of images: `image` first,
    # then the `references`; one pipeline class makes both text to image and edits (as Kontext does).
    flux2_modes = {"txt2img": "Flux2Pipeline", "img2img": "Flux2Pipeline"}
    klein_modes = {"txt2img": "Flux2KleinPipeline", "img2img": "Flux2KleinPipeline", "inpaint": "Flux2KleinInpaintPipeline"}
    z_image_modes = {"txt2img": "ZImagePipeline", "img2img": "ZImageImg2ImgPipeline", "inpaint": "ZImageInpaintPipeline"}
    qwen_edit_modes = {"img2img": "QwenImageEditPlusPipeline"}
    # FLUX.2 refuses input images beyond 8:1, and gets the output's size for each of them.
    flux2_limits = ModelLimits(size_multiple=16, max_pixels=2048 * 2048, max_aspect=8)
    tiny_flux2_limits = tiny_limits.model_copy(update={"size_multiple": 16, "max_aspect": 8})
    tiny16 = tiny_limits.model_copy(update={"size_multiple": 16})
    generators = [
        _image_entry("tiny-flux-2", "Flux2Pipeline", "tiny-flux-2", "FLUX.2 [dev] classes with small random weights, for tests.",
                     flux2_modes, references=True, defaults=tiny_defaults | {"guidance": 4.0}, limits=tiny_flux2_limits, tiny=True),
        _image_entry("flux-2", "Flux2Pipeline", "black-forest-labs/FLUX.2-dev", "FLUX.2 [dev] (32B; gated: HF_TOKEN to download): "
                     "text to image, or edits `image` as the prompt says, drawing on up to 4 `references`; long side at most 8× the short.",
                     flux2_modes, references=True, twin="tiny-flux-2", defaults={"width": 1024, "height": 1024, "steps": 50, "guidance": 4.0},
                     limits=flux2_limits),
        _image_entry("tiny-flux-2-klein", "Flux2KleinPipeline", "tiny-flux-2-klein", "FLUX.2 [klein] classes (step-distilled) with "
                     "small random weights, for tests.", klein_modes, references=True, defaults=tiny_defaults | {"guidance": 1.0},
                     limits=tiny_flux2_limits, tiny=True),
        _image_entry("flux-2-klein", "Flux2KleinPipeline", "black-forest-labs/FLUX.2-klein-4B", "FLUX.2 [klein] 4B: 4-step distilled "
                     "text to image, edits of `image` with `references`, and inpainting (`image` + `mask`); guidance has no effect.",
                     klein_modes, references=True, twin="tiny-flux-2-klein",
                     defaults={"width": 1024, "height": 1024, "steps": 4, "guidance": 1.0}, limits=flux2_limits),
        _image_entry("tiny-z-image", "ZImagePipeline", "tiny-z-image", "Z-Image classes with small random weights, for tests.",
                     z_image_modes, defaults=tiny_defaults | {"guidance": 0.0}, limits=tiny16, tiny=True),
        _image_entry("z-image", "ZImagePipeline", "Tongyi-MAI/Z-Image-Turbo", "Z-Image Turbo (6B): 8-step distilled text to image, "
                     "image to image and inpainting; guidance 0 (distilled: no classifier-free guidance).", z_image_modes,
                     twin="tiny-z-image", defaults={"width": 1024, "height": 1024, "steps": 9, "guidance": 0.0},
                     limits=ModelLimits(size_multiple=16, max_pixels=2048 * 2048)),
        # Qwen-Image-Edit's transformer, VAE and text encoder have Qwen-Image's shapes: the twin is tiny-qwen-image's weights.
        _image_entry("tiny-qwen-image-edit", "QwenImageEditPlusPipeline", "tiny-qwen-image", "Qwen-Image-Edit Plus classes on "
                     "tiny-qwen-image's random weights, for tests.", qwen_edit_modes, references=True,
                     defaults=tiny_defaults | {"guidance": 4.0}, limits=tiny16, tiny=True, guidance_argument="true_cfg_scale"),
        _image_entry("qwen-image-edit", "QwenImageEditPlusPipeline", "Qwen/Qwen-Image-Edit-2511", "Qwen-Image-Edit 2511 (20B): edits "
                     "`image` as the instruction in `prompt` says, with up to 4 more `references` (\"the person in picture 1 holds the "
                     "bottle in picture 2\"); `guidance` (true CFG) applies with a `negative_prompt`.", qwen_edit_modes, references=True,
                     twin="tiny-qwen-image-edit", defaults={"width": 1024, "height": 1024, "steps": 40, "guidance": 4.0},
                     limits=ModelLimits(size_multiple=16, max_pixels=1664 * 1664), guidance_argument="true_cfg_scale"),
    ]  # fmt: skip
    families = [
        ModelEntry(
            name=name, domain=Domain.images, queue=Queue.gpu, engine="route", pipeline="", weights="",
            description=f"The FLUX.1 family: {txt2img} for a prompt alone, {edit} to edit an `image`, {fill} to "
            "inpaint an `image` with a `mask`.",
            capabilities=frozenset({Capability.txt2img, Capability.img2img, Capability.inpaint, Capability.lora}),
            routes={"txt2img": txt2img, "img2img": edit, "inpaint": fill}, tiny=name.startswith("tiny"), twin=twin,
            limits=ModelLimits(max_outputs=LOCAL_MAX_OUTPUTS), output_formats=LOCAL_IMAGE_FORMATS,
        )
        for name, txt2img, edit, fill, twin in (
            ("tiny-flux-1", "tiny-flux", "tiny-flux-kontext", "tiny-flux-fill", None),
            ("flux-1", "flux-1-dev", "flux-1-kontext", "flux-1-fill", "tiny-flux-1"),
        )
    ]  # fmt: skip
    llm = {"domain": Domain.texts, "queue": Queue.gpu, "engine": "transformers", "pipeline": "AutoModelForCausalLM",
           "capabilities": frozenset({Capability.chat})}  # fmt: skip
    vlm = llm | {"pipeline": "Qwen2_5_VLForConditionalGeneration", "capabilities": frozenset({Capability.chat, Capability.vision})}
    texts = [
        ModelEntry(name="tiny-llm", weights="tiny-llm", description="A causal language model with small random weights: "
                   "the built-in default, for tests.", limits=ModelLimits(max_tokens=512), tiny=True, **llm),
        ModelEntry(name="qwen-2.5", weights="Qwen/Qwen2.5-7B-Instruct", description="Qwen 2.5 7B Instruct.",
                   limits=ModelLimits(max_tokens=8192), twin="tiny-llm", **llm),
        ModelEntry(name="tiny-vlm", weights="tiny-vlm", description="Qwen2.5-VL classes with small random weights: chat "
                   "about images, for tests.", limits=ModelLimits(max_tokens=512), tiny=True, **vlm),
        ModelEntry(name="qwen-2.5-vl", weights="Qwen/Qwen2.5-VL-7B-Instruct", description="Qwen 2.5 VL 7B Instruct: chat "
                   "about the images in user messages.", limits=ModelLimits(max_tokens=8192), twin="tiny-vlm", **vlm),
    ]  # fmt: skip
    ltx_modes = {"txt2img": "LTXPipeline", "img2img": "LTXImageToVideoPipeline"}
    tiny_video_defaults = {"width": 64, "height": 64, "num_frames": 9, "fps": 8, "steps": 2}
    wan_22_modes = {"txt2img": "WanPipeline", "img2img": "WanImageToVideoPipeline"}
    hunyuan_video_15 = _hunyuan_video_15_entries(tiny_video_defaults)
    videos = [
        _video_entry("tiny-ltx", "tiny-ltx", "LTX-Video classes with small random weights, for tests.", ltx_modes,
                     defaults=tiny_video_defaults | {"guidance": 3.0}, tiny=True,
                     limits=ModelLimits(size_multiple=32, max_pixels=256 * 256, max_steps=50, max_frames=33, frame_multiple=8)),
        _video_entry("ltx-video", "Lightricks/LTX-Video", "LTX-Video: text to video, or animates `image` as its first frame; "
                     "sizes in multiples of 32, 8k+1 frames.", ltx_modes, twin="tiny-ltx",
                     defaults={"width": 704, "height": 480, "num_frames": 121, "fps": 24, "steps": 50, "guidance": 3.0},
                     limits=ModelLimits(size_multiple=32, max_pixels=1280 * 720, max_frames=257, frame_multiple=8)),
        _video_entry("tiny-wan", "tiny-wan", "Wan 2.1 text-to-video classes with small random weights, for tests.",
                     {"txt2img": "WanPipeline"}, defaults=tiny_video_defaults | {"guidance": 5.0}, tiny=True,
                     limits=ModelLimits(size_multiple=16, max_pixels=256 * 256, max_steps=50, max_frames=33, frame_multiple=4)),
        # Image-to-video is another checkpoint (Wan2.1-I2V-14B, with a CLIP image encoder), not these components.
        _video_entry("wan-2.1", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "Wan 2.1 T2V 1.3B: text to video only (no `image`); "
                     "sizes in multiples of 16, 4k+1 frames.", {"txt2img": "WanPipeline"}, twin="tiny-wan",
                     defaults={"width": 832, "height": 480, "num_frames": 81, "fps": 16, "steps": 50, "guidance": 5.0},
                     limits=ModelLimits(size_multiple=16, max_pixels=1280 * 720, max_frames=129, frame_multiple=4)),
        # Wan 2.2 TI2V-5B: one set of weights for both modes (`expand_timesteps`: image-to-video keeps the first
        # frame's latents clean, no image encoder). Its VAE compresses 16x and the transformer patches 2x2: sizes in 32s.
        _video_entry("tiny-wan-2.2", "tiny-wan-2.2", "Wan 2.2 TI2V classes with small random weights, for tests.", wan_22_modes,
                     defaults=tiny_video_defaults | {"guidance": 5.0}, tiny=True,
                     limits=ModelLimits(size_multiple=32, max_pixels=256 * 256, max_steps=50, max_frames=33, frame_multiple=4)),
        _video_entry("wan-2.2", "Wan-AI/Wan2.2-TI2V-5B-Diffusers", "Wan 2.2 TI2V 5B: text to video, or animates `image` as its "
                     "first frame; sizes in multiples of 32 (720p: 1280x704), 4k+1 frames.", wan_22_modes, twin="tiny-wan-2.2",
                     defaults={"width": 1280, "height": 704, "num_frames": 121, "fps": 24, "steps": 50, "guidance": 5.0},
                     limits=ModelLimits(size_multiple=32, max_pixels=1280 * 704, max_frames=121, frame_multiple=4)),
        *hunyuan_video_15,
    ]  # fmt: skip
    depth = {"description": "Depth Anything V2: relative inverse depth of `image` at its size; NEAR IS LARGE (bright in the "
             "png16 default, high Z in exr), normalised per image in png16.", "uses": set(), "output_formats": DEPTH_FORMATS,
             "limits": UTILITY_LIMITS}
    sam2 = {"description": "SAM 2.1: a binary matte of the object(s) that `points` (label 1 on, 0 off) and/or `boxes` pick on "
            "`image`, at its size; `matte: alpha` writes `image` as RGBA with it.", "uses": {"points", "boxes", "matte"},
            "output_formats": MATTE_FORMATS, "limits": UTILITY_LIMITS}
    sam3 = {"description": "SAM 3: a binary matte of every instance of what `prompt` names (\"the red car\") in `image`, at "
            "its size; `matte: alpha` writes `image` as RGBA with it.", "uses": {"prompt", "matte"},
            "output_formats": MATTE_FORMATS, "limits": UTILITY_LIMITS}
    upscale = {"uses": {"scale"}, "output_formats": LOCAL_IMAGE_FORMATS, "limits": UPSCALE_LIMITS}
    utilities = [
        _utility_entry("tiny-depth-anything-2", "DepthAnythingForDepthEstimation", "tiny-depth-anything-2", Capability.depth,
                       tiny=True, **depth | {"description": "Depth Anything classes with small random weights, for tests. " + depth["description"]}),
        _utility_entry("depth-anything-2", "DepthAnythingForDepthEstimation", "depth-anything/Depth-Anything-V2-Large-hf",
                       Capability.depth, twin="tiny-depth-anything-2", **depth),
        _utility_entry("tiny-sam-2", "Sam2Model", "tiny-sam-2", Capability.matte, tiny=True,
                       **sam2 | {"description": "SAM 2 classes with small random weights, for tests. " + sam2["description"]}),
        _utility_entry("sam-2", "Sam2Model", "facebook/sam2.1-hiera-large", Capability.matte, twin="tiny-sam-2", **sam2),
        _utility_entry("tiny-sam-3", "Sam3Model", "tiny-sam-3", Capability.matte, tiny=True,
                       **sam3 | {"description": "SAM 3 classes with small random weights, for tests. " + sam3["description"]}),
        _utility_entry("sam-3", "Sam3Model", "facebook/sam3", Capability.matte, twin="tiny-sam-3",
                       **sam3 | {"description": sam3["description"] + " (gated: HF_TOKEN to download)"}),
        *(
            _utility_entry(f"{tiny}swin2sr-x{scale}", "Swin2SRForImageSuperResolution", weights, Capability.upscale,
                           defaults={"scale": scale}, tiny=bool(tiny), twin=None if tiny else f"tiny-swin2sr-x{scale}",
                           description=f"{'Swin2SR classes with small random weights, for tests: ' if tiny else 'Swin2SR: '}"
                           f"upscales `image` ×{scale}, to exactly {scale} × its size, in tiles (a 4K plate fits).", **upscale)
            for scale in (2, 4)
            for tiny, weights in (("tiny-", f"tiny-swin2sr-x{scale}"), ("", f"caidas/swin2SR-classical-sr-x{scale}-64"))
        ),
    ]  # fmt: skip
    return {entry.name: entry for entry in [*images, *generators, *families, *texts, *videos, *utilities]}


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
            capabilities=frozenset({Capability.chat, Capability.vision}),
            limits=ModelLimits(max_tokens=16384),
            hosted=True,
        )
        for name in ("gpt-4o", "gpt-4o-mini", "gpt-4.1-mini")
    ]
    gpt_image = ModelEntry(
        name="gpt-image-1",
        domain=Domain.images,
        queue=Queue.cpu,
        engine="openai_images",
        pipeline="gpt-image-1",
        weights="",
        description="OpenAI gpt-image-1 (hosted): generates, or edits `image` (where `mask` is white when given); "
        "sizes 1024x1024, 1536x1024, 1024x1536.",
        capabilities=frozenset({Capability.txt2img, Capability.img2img, Capability.inpaint}),
        defaults={"width": 1024, "height": 1024},
        limits=ModelLimits(sizes=("1024x1024", "1536x1024", "1024x1536"), max_pixels=1536 * 1024),
        ignores=frozenset({"steps", "guidance", "strength", "negative_prompt"}) | UTILITY_ONLY_FIELDS,
        hosted=True,
        output_formats=("png",),
    )
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
    # Replicate: `pipeline` is the model's owner/name slug. Input names follow the models' published
    # schemas (mapped in workers/providers/replicate.py); everything not listed there is ignored.
    flux_pro = ModelEntry(
        name="replicate/black-forest-labs/flux-1.1-pro",
        domain=Domain.images,
        queue=Queue.cpu,
        engine="replicate",
        pipeline="black-forest-labs/flux-1.1-pro",
        weights="",
        description="FLUX1.1 [pro] on Replicate (hosted; REPLICATE_API_TOKEN on the cpu workers): text to image, "
        "256 to 1440 pixels a side.",
        capabilities=frozenset({Capability.txt2img}),
        defaults={"width": 1024, "height": 1024},
        limits=ModelLimits(size_multiple=32, max_pixels=1440 * 1440),
        ignores=frozenset({"steps", "guidance", "strength", "negative_prompt"}) | UTILITY_ONLY_FIELDS,
        hosted=True,
        output_formats=("png",),
    )
    # Kling makes 5 s or 10 s clips at a fixed 24 fps: `num_frames` picks the duration, and with no
    # seed input the drawn seed is recorded but not sent. kling-v2.1 requires a start image;
    # kling-v2.1-master also does text to video, its aspect ratio taken from width and height.
    kling = [
        ModelEntry(
            name=f"replicate/{slug}",
            domain=Domain.videos,
            queue=Queue.cpu,
            engine="replicate",
            pipeline=slug,
            weights="",
            description=f"{title} on Replicate (hosted; REPLICATE_API_TOKEN on the cpu workers): {does}, 5 s or 10 s "
            "(num_frames 120 or 240) at 24 fps.",
            capabilities=capabilities,
            ignores=ignores,
            hosted=True,
            output_formats=("mp4",),
        )
        for slug, title, does, capabilities, ignores in (
            ("kwaivgi/kling-v2.1", "Kling v2.1", "animates `image` as its first frame",
             frozenset({Capability.video, Capability.img2img}), frozenset({"width", "height", "fps", "steps", "guidance"})),
            ("kwaivgi/kling-v2.1-master", "Kling v2.1 Master", "text to video, or animates `image` as its first frame",
             frozenset({Capability.video, Capability.txt2img, Capability.img2img}), frozenset({"fps", "steps", "guidance"})),
        )
    ]  # fmt: skip
    return {entry.name: entry for entry in [*openai_chat, gpt_image, comfyui, flux_pro, *kling]}


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


def resolve(domain: Domain, request: TaskRequest) -> tuple[ModelEntry, list[str]]:
    """The entry that runs a request: the named one, or for a family the variant its inputs call
    for. Returns notes for the task log."""
    entry = get_model(domain, request.model)
    if not entry.routes:
        return entry, []
    if isinstance(request, ImageRequest):
        mode = image_mode(request)
    else:  # a video family: image-to-video with an `image`
        mode = "img2img" if isinstance(request, VideoRequest) and request.image is not None else "txt2img"
    target = CATALOGUE[entry.routes[mode]]
    return target, [f"{entry.name} → {target.name} ({mode})"]


def image_mode(request: ImageRequest) -> str:
    """txt2img, img2img (an `image`) or inpaint (an `image` and a `mask`)."""
    if request.mask is not None and request.image is None:
        raise InvalidRequestError("`mask` needs the `image` it masks; add `image` or drop `mask`.")
    return "inpaint" if request.mask is not None else "img2img" if request.image is not None else "txt2img"


def normalize(entry: ModelEntry, request: TaskRequest) -> tuple[dict[str, Any], list[str]]:
    """Fill in defaults, snap sizes and check limits. Returns the request as it will run and
    notes for the task log. Raises InvalidRequestError saying what to change. A request with an
    `image` takes its size from it in `fit_to_input`, once the api has read the image."""
    params = request.model_dump(exclude_none=True)
    # The platform's business, kept on the record: not the engine's.
    params.pop("webhook", None)
    params.pop("priority", None)
    notes: list[str] = []
    if isinstance(request, ImageRequest) and entry.engine == EngineKind.vision_utility:
        _check_utility(entry, request, params)
    elif isinstance(request, ImageRequest):
        if request.prompt is None:
            raise InvalidRequestError(
                f"{entry.name} generates from a `prompt`; add one (for depth, mattes or upscales of an `image`, pick a model "
                "with the depth, matte or upscale capability)."
            )
        for name in ("width", "height", "steps", "guidance"):
            params.setdefault(name, entry.defaults.get(name))
        _require_listed_size(entry, params)
        _snap_size(entry, params, notes)
        _check_steps(entry, params)
        _check_image_mode(entry, request)
        _pick_scheduler(entry, params)
        if request.image is None:
            params.pop("strength", None)
    elif isinstance(request, VideoRequest) and entry.modes:
        _normalize_local_video(entry, params, notes)
    elif isinstance(request, TextRequest) and request.max_tokens > entry.limits.max_tokens:
        raise InvalidRequestError(
            f"max_tokens={request.max_tokens} is above {entry.name}'s limit of {entry.limits.max_tokens}; lower it."
        )
    _check_outputs(entry, params)
    _pick_output_format(entry, request, params, notes)
    _check_vision(entry, request)
    _check_loras(entry, request)
    _check_references(entry, request)
    _check_video_mode(entry, request)
    _drop_ignored(entry, request, params, notes)
    if "seed" in type(request).model_fields and "seed" not in entry.ignores and params.get("seed") is None:
        params["seed"] = secrets.randbelow(2**32)
    return params, notes


# The request schemas' bounds on a side: a size taken from an input stays one a caller could ask for.
MIN_SIDE, MAX_SIDE = 64, 4096


def fit_to_input(entry: ModelEntry, request: TaskRequest, params: dict[str, Any], size: tuple[int, int]) -> list[str]:
    """Second step of `normalize` for a request with an `image`, once the api has read the image's
    size (width, height): without width and height the output keeps the input's size, scaled
    down (aspect kept) to the model's max pixels and snapped to its multiple; with one of them
    the other follows the input's aspect; with both nothing changes. A model with a fixed set
    of sizes takes the one nearest the input's aspect. Updates params; returns notes for the log.
    A compositing utility keeps the input's size: its input is checked against its limits instead."""
    if entry.engine == EngineKind.vision_utility and isinstance(request, ImageRequest):
        _check_utility_input(entry, request, size)
        return []
    if not isinstance(request, ImageRequest | VideoRequest) or request.image is None or "width" in entry.ignores:
        return []
    if (request.width is not None and request.height is not None) or not (entry.modes or entry.limits.sizes):
        return []
    in_width, in_height = size
    if entry.limits.sizes:
        if request.width is not None or request.height is not None:
            return []
        chosen = min(entry.limits.sizes, key=lambda listed: abs(math.log(_aspect(listed) * in_height / in_width)))
        params["width"], params["height"] = (int(side) for side in chosen.split("x"))
        return [f"size {chosen}: of {entry.name}'s sizes, the nearest to the {in_width}x{in_height} image's aspect"]
    if request.width is None and request.height is None:
        scale = min(1.0, math.sqrt(entry.limits.max_pixels / (in_width * in_height)), MAX_SIDE / max(in_width, in_height))
        scale = max(scale, MIN_SIDE / min(in_width, in_height))
        params["width"], params["height"] = (max(MIN_SIDE, math.floor(side * scale)) for side in (in_width, in_height))
        scaled = f", scaled to {params['width']}x{params['height']} to fit {entry.name}'s limits" if scale != 1 else ""
        note = f"width and height from the {in_width}x{in_height} image{scaled}; set them to choose another size"
    elif request.height is None:
        params["height"] = min(MAX_SIDE, max(MIN_SIDE, round(params["width"] * in_height / in_width)))
        note = f"height {params['height']} from width {params['width']} and the {in_width}x{in_height} image's aspect"
    else:
        params["width"] = min(MAX_SIDE, max(MIN_SIDE, round(params["height"] * in_width / in_height)))
        note = f"width {params['width']} from height {params['height']} and the {in_width}x{in_height} image's aspect"
    notes = [note]
    _snap_size(entry, params, notes)
    return notes


def _aspect(size: str) -> float:
    width, height = size.split("x")
    return int(width) / int(height)


def _check_utility(entry: ModelEntry, request: ImageRequest, params: dict[str, Any]) -> None:
    """A utility needs `image` and what picks its result: points or boxes (sam-2), a prompt (sam-3), its own scale."""
    if request.image is None:
        raise InvalidRequestError(f"{entry.name} works on an `image`; add one (upload it with POST /api/files and send its ref).")
    uses = UTILITY_FIELDS - entry.ignores
    if "points" in uses and not (request.points or request.boxes):
        raise InvalidRequestError(
            f"{entry.name} mattes what `points` or `boxes` pick on the image; add a point {{x, y, label}} on the object or a "
            "box {x0, y0, x1, y1} around it."
        )
    if "points" in uses and request.points and len(request.boxes) > 1:
        raise InvalidRequestError(
            f"{entry.name} takes points for one object, but there are {len(request.boxes)} boxes; drop `points`, or send one box with them."
        )
    if "prompt" in uses and request.prompt is None:
        raise InvalidRequestError(f"{entry.name} mattes what `prompt` names; add one, e.g. \"the red car\".")
    if "scale" in uses:
        own = entry.defaults["scale"]
        if request.scale not in (None, own):
            others = [e.name for e in models_for(Domain.images) if e.defaults.get("scale") == request.scale and e.tiny == entry.tiny]
            raise InvalidRequestError(
                f"{entry.name} upscales ×{own}; set scale to {own}, or pick a ×{request.scale} model ({', '.join(others) or 'none here'}).",
                details={"scale": own},
            )
        params["scale"] = own


def _check_utility_input(entry: ModelEntry, request: ImageRequest, size: tuple[int, int]) -> None:
    """The image within the utility's limit, and its points and boxes on it."""
    width, height = size
    if width * height > entry.limits.max_pixels:
        raise InvalidRequestError(
            f"The {width}x{height} image is {width * height} pixels, above {entry.name}'s limit of {entry.limits.max_pixels}; "
            "downscale or crop it.",
            details={"max_pixels": entry.limits.max_pixels},
        )
    if "points" in entry.ignores:
        return
    for index, point in enumerate(request.points):
        if point.x >= width or point.y >= height:
            raise InvalidRequestError(
                f"points[{index}] ({point.x:g}, {point.y:g}) is outside the {width}x{height} image; keep x below {width} and y below {height}."
            )
    for index, box in enumerate(request.boxes):
        if box.x1 > width or box.y1 > height:
            raise InvalidRequestError(
                f"boxes[{index}] reaches ({box.x1:g}, {box.y1:g}), outside the {width}x{height} image; keep x1 at most {width} and y1 at most {height}."
            )


def _check_steps(entry: ModelEntry, params: dict[str, Any]) -> None:
    if params["steps"] is not None and params["steps"] > entry.limits.max_steps:
        raise InvalidRequestError(f"steps={params['steps']} is above {entry.name}'s limit of {entry.limits.max_steps}; lower it.")


def _normalize_local_video(entry: ModelEntry, params: dict[str, Any], notes: list[str]) -> None:
    """Defaults, size and frame-count rules of a local video model (hosted ones have their own)."""
    for name in ("width", "height", "num_frames", "fps", "steps", "guidance"):
        params.setdefault(name, entry.defaults.get(name))
    _require_listed_size(entry, params)
    _snap_size(entry, params, notes)
    _check_steps(entry, params)
    multiple, asked = entry.limits.frame_multiple, params["num_frames"]
    snapped = max(multiple, asked - 1 - (asked - 1) % multiple) + 1 if multiple > 1 else asked
    if snapped != asked:
        notes.append(f"num_frames snapped from {asked} to {snapped} ({multiple}k+1 for {entry.name})")
        params["num_frames"] = snapped
    if snapped > entry.limits.max_frames:
        raise InvalidRequestError(
            f"num_frames={snapped} is above {entry.name}'s limit of {entry.limits.max_frames}; lower it.",
            details={"max_frames": entry.limits.max_frames},
        )


def _check_vision(entry: ModelEntry, request: TaskRequest) -> None:
    if not isinstance(request, TextRequest) or Capability.vision in entry.capabilities:
        return
    for index, message in enumerate(request.messages):
        if message.image_refs():
            vision = [e.name for e in models_for(entry.domain) if Capability.vision in e.capabilities]
            raise InvalidRequestError(
                f"{entry.name} does not take images, but messages[{index}] has an image part; send text only, "
                f"or pick a model with the vision capability ({', '.join(vision) or 'none here'}).",
                details={"vision_models": vision},
            )


def _check_loras(entry: ModelEntry, request: TaskRequest) -> None:
    if isinstance(request, ImageRequest) and request.loras and Capability.lora not in entry.capabilities:
        raise InvalidRequestError(f"{entry.name} does not take LoRAs; drop `loras` or pick a model with the lora capability.")


def _check_references(entry: ModelEntry, request: TaskRequest) -> None:
    """`references` go to models that take several images, as extras beside the `image` they edit."""
    if not isinstance(request, ImageRequest) or not request.references:
        return
    if Capability.references not in entry.capabilities:
        takers = [e.name for e in models_for(Domain.images) if Capability.references in e.capabilities]
        raise InvalidRequestError(
            f"{entry.name} does not take `references`; drop them, or pick a model with the references capability "
            f"({', '.join(takers) or 'none here'}).",
            details={"references_models": takers},
        )
    if request.image is None:
        raise InvalidRequestError(
            "`references` are extra images for an edit of `image`; add `image` (the picture to edit, or your first reference) "
            "or drop `references`."
        )


def _check_video_mode(entry: ModelEntry, request: TaskRequest) -> None:
    """A video entry with txt2img/img2img capabilities says whether it starts from a prompt alone or from `image`."""
    modes = entry.capabilities & {Capability.txt2img, Capability.img2img}
    if not isinstance(request, VideoRequest) or not modes:
        return
    mode = Capability.img2img if request.image is not None else Capability.txt2img
    if mode not in modes:
        others = [e.name for e in models_for(entry.domain) if mode in e.capabilities]
        change = "add `image`, the first frame to animate" if mode == Capability.txt2img else "drop `image`"
        raise InvalidRequestError(
            f"{entry.name} does not do {'text' if mode == Capability.txt2img else 'image'}-to-video; {change}, "
            f"or pick another model ({', '.join(others) or 'none here'}).",
            details={"mode": mode.value, "models": others},
        )


def _check_outputs(entry: ModelEntry, params: dict[str, Any]) -> None:
    """num_outputs within the model's limit; left out of the params when 1 (what every model makes)."""
    wanted = params.pop("num_outputs", 1)
    if wanted > entry.limits.max_outputs:
        most = "one output per task" if entry.limits.max_outputs == 1 else f"at most {entry.limits.max_outputs} outputs per task"
        raise InvalidRequestError(f"num_outputs={wanted}: {entry.name} makes {most}; lower it (or submit several tasks).")
    if wanted > 1:
        params["num_outputs"] = wanted


def _pick_output_format(entry: ModelEntry, request: TaskRequest, params: dict[str, Any], notes: list[str]) -> None:
    """The file format the entry writes for this request (its default when unset), and the
    settings that go with it: `quality` for jpeg/webp, `start_frame` for sequences."""
    if not isinstance(request, ImageRequest | VideoRequest):
        return
    asked = params.get("output_format")
    if asked is not None and asked not in entry.output_formats:
        raise InvalidRequestError(
            f"{entry.name} does not write output_format {asked!r}; pick one of {', '.join(entry.output_formats)}.",
            details={"output_formats": list(entry.output_formats)},
        )
    params["output_format"] = chosen = asked or entry.output_formats[0]
    if isinstance(request, ImageRequest) and request.quality is not None and chosen not in LOSSY_FORMATS:
        raise InvalidRequestError(f"quality applies to jpeg and webp, not {chosen}; drop `quality` or set output_format to jpeg or webp.")
    if isinstance(request, VideoRequest) and chosen not in SEQUENCE_FORMATS:
        params.pop("start_frame")
        if "start_frame" in request.model_fields_set:
            notes.append(f"start_frame ignored: it numbers the frames of png_sequence and exr_sequence, not of {chosen}")


def _drop_ignored(entry: ModelEntry, request: TaskRequest, params: dict[str, Any], notes: list[str]) -> None:
    for name in sorted(entry.ignores):
        params.pop(name, None)
        if name in request.model_fields_set:
            notes.append(f"{name} ignored: it does not apply to {entry.name}")


def _require_listed_size(entry: ModelEntry, params: dict[str, Any]) -> None:
    """A model with a fixed set of sizes makes exactly one of them: nothing is snapped."""
    sizes = entry.limits.sizes
    size = f"{params['width']}x{params['height']}"
    if sizes and size not in sizes:
        raise InvalidRequestError(
            f"{entry.name} does not make {size} {entry.domain.value}; set width and height to one of {', '.join(sizes)}.",
            details={"sizes": list(sizes)},
        )


def _pick_scheduler(entry: ModelEntry, params: dict[str, Any]) -> None:
    asked = params.get("scheduler")
    if not entry.schedulers:
        if asked:
            raise InvalidRequestError(f"{entry.name} runs its own scheduler; drop `scheduler`.", details={"scheduler": asked})
        return
    if asked and asked not in entry.schedulers:
        raise InvalidRequestError(
            f"{entry.name} does not offer scheduler {asked!r}; pick one of {', '.join(entry.schedulers)}.",
            details={"schedulers": list(entry.schedulers)},
        )
    params["scheduler"] = asked or entry.schedulers[0]


def _check_image_mode(entry: ModelEntry, request: ImageRequest) -> None:
    mode = image_mode(request)
    if Capability(mode) not in entry.capabilities:
        does = ", ".join(sorted(m for m in ("txt2img", "img2img", "inpaint") if Capability(m) in entry.capabilities))
        raise InvalidRequestError(
            f"{entry.name} does not do {mode} (it does {does}); drop `image`/`mask` or pick another model.",
            details={"mode": mode},
        )


def _snap_size(entry: ModelEntry, params: dict[str, Any], notes: list[str]) -> None:
    multiple = entry.limits.size_multiple
    for name in ("width", "height"):
        asked = params[name]
        snapped = max(multiple, asked - asked % multiple)
        if snapped != asked:
            notes.append(f"{name} snapped from {asked} to {snapped} (a multiple of {multiple} for {entry.name})")
            params[name] = snapped
    aspect = max(params["width"], params["height"]) / min(params["width"], params["height"])
    if entry.limits.max_aspect and aspect > entry.limits.max_aspect:
        raise InvalidRequestError(
            f"{params['width']}x{params['height']} is {aspect:.1f}:1, beyond {entry.name}'s {entry.limits.max_aspect:g}:1; "
            "set width and height closer to square.",
            details={"max_aspect": entry.limits.max_aspect},
        )
    pixels = params["width"] * params["height"]
    if pixels > entry.limits.max_pixels:
        raise InvalidRequestError(
            f"{params['width']}x{params['height']} is {pixels} pixels, above {entry.name}'s limit of "
            f"{entry.limits.max_pixels}; lower width or height.",
            details={"max_pixels": entry.limits.max_pixels},
        )
