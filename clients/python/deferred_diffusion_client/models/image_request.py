from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from ..models.image_request_matte import ImageRequestMatte
from ..models.image_request_output_format_type_0 import ImageRequestOutputFormatType0
from ..models.image_request_scale_type_0 import ImageRequestScaleType0
from ..models.image_request_scheduler_type_0 import ImageRequestSchedulerType0
from ..models.priority import Priority
from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.lora_spec import LoraSpec
    from ..models.box_prompt import BoxPrompt
    from ..models.webhook_spec import WebhookSpec
    from ..models.point_prompt import PointPrompt


T = TypeVar("T", bound="ImageRequest")


@_attrs_define
class ImageRequest:
    """Text-to-image; with `image` image-to-image (or an edit, for editing models), with `image`
    and `mask` inpainting — all on the same warm weights.

        Example:
            {'height': 64, 'model': 'tiny-sd', 'prompt': 'a red teapot on a wooden table', 'seed': 7, 'steps': 2, 'width':
                64}

        Attributes:
            model (str): A model from GET /api/images/models; `available` says it runs here.
            webhook (Union['WebhookSpec', None, Unset]): POST the record to a URL of yours when the task starts or ends.
            priority (Union[Unset, Priority]): What starts next: every queued interactive task before any normal one, normal
                before batch.
            prompt (Union[None, Unset, str]): What to make; generators require it. sam-3: the object to matte ("the red
                car"). Utilities without text ignore it.
            negative_prompt (Union[Unset, str]):  Default: ''.
            width (Union[None, Unset, int]): Snapped down to the model's multiple.
            height (Union[None, Unset, int]): Snapped down to the model's multiple.
            steps (Union[None, Unset, int]):
            guidance (Union[None, Unset, float]):
            seed (Union[None, Unset, int]): Drawn and recorded when unset.
            num_outputs (Union[Unset, int]): Variations in one task, in one batched call where the model allows it: output i
                has seed `seed + i`. Default: 1.
            scheduler (Union[ImageRequestSchedulerType0, None, Unset]): Where the model offers a choice; its default when
                unset.
            image (Union[None, Unset, str]): Init image for image-to-image, or the image to edit.
            references (Union[Unset, list[str]]): Extra images an edit of `image` draws on (a character, a product, a
                style), on models with the references capability (flux-2, flux-2-klein, qwen-image-edit); each is resized to the
                output's size.
            mask (Union[None, Unset, str]): Inpainting mask for `image`: white is repainted, black kept.
            points (Union[Unset, list['PointPrompt']]): sam-2: clicks on `image` that pick the object to matte (label 1 on
                it, 0 off it).
            boxes (Union[Unset, list['BoxPrompt']]): sam-2: boxes around the objects to matte, one object per box; the matte
                is their union.
            matte (Union[Unset, ImageRequestMatte]): sam-2 / sam-3: `mask` writes the matte as an 8-bit single-channel
                image; `alpha` writes `image` as RGBA with the matte as alpha. Default: ImageRequestMatte.MASK.
            scale (Union[ImageRequestScaleType0, None, Unset]): Upscalers: the factor, which must be the model's own
                (swin2sr-x2: 2, swin2sr-x4: 4).
            strength (Union[Unset, float]): How much of the init image is repainted; below 1/steps, one denoising step at
                this strength. Default: 0.75.
            loras (Union[Unset, list['LoraSpec']]): LoRAs applied to this request only.
            output_format (Union[ImageRequestOutputFormatType0, None, Unset]): png (8-bit sRGB), png16 (16 bits per channel,
                sRGB), exr (32-bit float, scene-linear: converted with OpenColorIO to the workers' DDIFFUSION_OCIO_TARGET,
                ACEScg by default), jpeg or webp (sRGB, with `quality`). Mattes and depth maps are written as data, never
                colour-converted. Each output records its `colorspace`. Unset: the model's default.
            quality (Union[None, Unset, int]): jpeg and webp only: 1 (smallest) to 100 (best); 90 when unset.
    """

    model: str
    webhook: Union["WebhookSpec", None, Unset] = UNSET
    priority: Union[Unset, Priority] = UNSET
    prompt: Union[None, Unset, str] = UNSET
    negative_prompt: Union[Unset, str] = ""
    width: Union[None, Unset, int] = UNSET
    height: Union[None, Unset, int] = UNSET
    steps: Union[None, Unset, int] = UNSET
    guidance: Union[None, Unset, float] = UNSET
    seed: Union[None, Unset, int] = UNSET
    num_outputs: Union[Unset, int] = 1
    scheduler: Union[ImageRequestSchedulerType0, None, Unset] = UNSET
    image: Union[None, Unset, str] = UNSET
    references: Union[Unset, list[str]] = UNSET
    mask: Union[None, Unset, str] = UNSET
    points: Union[Unset, list["PointPrompt"]] = UNSET
    boxes: Union[Unset, list["BoxPrompt"]] = UNSET
    matte: Union[Unset, ImageRequestMatte] = ImageRequestMatte.MASK
    scale: Union[ImageRequestScaleType0, None, Unset] = UNSET
    strength: Union[Unset, float] = 0.75
    loras: Union[Unset, list["LoraSpec"]] = UNSET
    output_format: Union[ImageRequestOutputFormatType0, None, Unset] = UNSET
    quality: Union[None, Unset, int] = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.webhook_spec import WebhookSpec

        model = self.model

        webhook: Union[None, Unset, dict[str, Any]]
        if isinstance(self.webhook, Unset):
            webhook = UNSET
        elif isinstance(self.webhook, WebhookSpec):
            webhook = self.webhook.to_dict()
        else:
            webhook = self.webhook

        priority: Union[Unset, str] = UNSET
        if not isinstance(self.priority, Unset):
            priority = self.priority.value

        prompt: Union[None, Unset, str]
        if isinstance(self.prompt, Unset):
            prompt = UNSET
        else:
            prompt = self.prompt

        negative_prompt = self.negative_prompt

        width: Union[None, Unset, int]
        if isinstance(self.width, Unset):
            width = UNSET
        else:
            width = self.width

        height: Union[None, Unset, int]
        if isinstance(self.height, Unset):
            height = UNSET
        else:
            height = self.height

        steps: Union[None, Unset, int]
        if isinstance(self.steps, Unset):
            steps = UNSET
        else:
            steps = self.steps

        guidance: Union[None, Unset, float]
        if isinstance(self.guidance, Unset):
            guidance = UNSET
        else:
            guidance = self.guidance

        seed: Union[None, Unset, int]
        if isinstance(self.seed, Unset):
            seed = UNSET
        else:
            seed = self.seed

        num_outputs = self.num_outputs

        scheduler: Union[None, Unset, str]
        if isinstance(self.scheduler, Unset):
            scheduler = UNSET
        elif isinstance(self.scheduler, ImageRequestSchedulerType0):
            scheduler = self.scheduler.value
        else:
            scheduler = self.scheduler

        image: Union[None, Unset, str]
        if isinstance(self.image, Unset):
            image = UNSET
        else:
            image = self.image

        references: Union[Unset, list[str]] = UNSET
        if not isinstance(self.references, Unset):
            references = self.references

        mask: Union[None, Unset, str]
        if isinstance(self.mask, Unset):
            mask = UNSET
        else:
            mask = self.mask

        points: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.points, Unset):
            points = []
            for points_item_data in self.points:
                points_item = points_item_data.to_dict()
                points.append(points_item)

        boxes: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.boxes, Unset):
            boxes = []
            for boxes_item_data in self.boxes:
                boxes_item = boxes_item_data.to_dict()
                boxes.append(boxes_item)

        matte: Union[Unset, str] = UNSET
        if not isinstance(self.matte, Unset):
            matte = self.matte.value

        scale: Union[None, Unset, int]
        if isinstance(self.scale, Unset):
            scale = UNSET
        elif isinstance(self.scale, ImageRequestScaleType0):
            scale = self.scale.value
        else:
            scale = self.scale

        strength = self.strength

        loras: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.loras, Unset):
            loras = []
            for loras_item_data in self.loras:
                loras_item = loras_item_data.to_dict()
                loras.append(loras_item)

        output_format: Union[None, Unset, str]
        if isinstance(self.output_format, Unset):
            output_format = UNSET
        elif isinstance(self.output_format, ImageRequestOutputFormatType0):
            output_format = self.output_format.value
        else:
            output_format = self.output_format

        quality: Union[None, Unset, int]
        if isinstance(self.quality, Unset):
            quality = UNSET
        else:
            quality = self.quality

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "model": model,
            }
        )
        if webhook is not UNSET:
            field_dict["webhook"] = webhook
        if priority is not UNSET:
            field_dict["priority"] = priority
        if prompt is not UNSET:
            field_dict["prompt"] = prompt
        if negative_prompt is not UNSET:
            field_dict["negative_prompt"] = negative_prompt
        if width is not UNSET:
            field_dict["width"] = width
        if height is not UNSET:
            field_dict["height"] = height
        if steps is not UNSET:
            field_dict["steps"] = steps
        if guidance is not UNSET:
            field_dict["guidance"] = guidance
        if seed is not UNSET:
            field_dict["seed"] = seed
        if num_outputs is not UNSET:
            field_dict["num_outputs"] = num_outputs
        if scheduler is not UNSET:
            field_dict["scheduler"] = scheduler
        if image is not UNSET:
            field_dict["image"] = image
        if references is not UNSET:
            field_dict["references"] = references
        if mask is not UNSET:
            field_dict["mask"] = mask
        if points is not UNSET:
            field_dict["points"] = points
        if boxes is not UNSET:
            field_dict["boxes"] = boxes
        if matte is not UNSET:
            field_dict["matte"] = matte
        if scale is not UNSET:
            field_dict["scale"] = scale
        if strength is not UNSET:
            field_dict["strength"] = strength
        if loras is not UNSET:
            field_dict["loras"] = loras
        if output_format is not UNSET:
            field_dict["output_format"] = output_format
        if quality is not UNSET:
            field_dict["quality"] = quality

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.lora_spec import LoraSpec
        from ..models.box_prompt import BoxPrompt
        from ..models.webhook_spec import WebhookSpec
        from ..models.point_prompt import PointPrompt

        d = dict(src_dict)
        model = d.pop("model")

        def _parse_webhook(data: object) -> Union["WebhookSpec", None, Unset]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                webhook_type_0 = WebhookSpec.from_dict(data)

                return webhook_type_0
            except:  # noqa: E722
                pass
            return cast(Union["WebhookSpec", None, Unset], data)

        webhook = _parse_webhook(d.pop("webhook", UNSET))

        _priority = d.pop("priority", UNSET)
        priority: Union[Unset, Priority]
        if isinstance(_priority, Unset):
            priority = UNSET
        else:
            priority = Priority(_priority)

        def _parse_prompt(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        prompt = _parse_prompt(d.pop("prompt", UNSET))

        negative_prompt = d.pop("negative_prompt", UNSET)

        def _parse_width(data: object) -> Union[None, Unset, int]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, int], data)

        width = _parse_width(d.pop("width", UNSET))

        def _parse_height(data: object) -> Union[None, Unset, int]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, int], data)

        height = _parse_height(d.pop("height", UNSET))

        def _parse_steps(data: object) -> Union[None, Unset, int]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, int], data)

        steps = _parse_steps(d.pop("steps", UNSET))

        def _parse_guidance(data: object) -> Union[None, Unset, float]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, float], data)

        guidance = _parse_guidance(d.pop("guidance", UNSET))

        def _parse_seed(data: object) -> Union[None, Unset, int]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, int], data)

        seed = _parse_seed(d.pop("seed", UNSET))

        num_outputs = d.pop("num_outputs", UNSET)

        def _parse_scheduler(data: object) -> Union[ImageRequestSchedulerType0, None, Unset]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                scheduler_type_0 = ImageRequestSchedulerType0(data)

                return scheduler_type_0
            except:  # noqa: E722
                pass
            return cast(Union[ImageRequestSchedulerType0, None, Unset], data)

        scheduler = _parse_scheduler(d.pop("scheduler", UNSET))

        def _parse_image(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        image = _parse_image(d.pop("image", UNSET))

        references = cast(list[str], d.pop("references", UNSET))

        def _parse_mask(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        mask = _parse_mask(d.pop("mask", UNSET))

        points = []
        _points = d.pop("points", UNSET)
        for points_item_data in _points or []:
            points_item = PointPrompt.from_dict(points_item_data)

            points.append(points_item)

        boxes = []
        _boxes = d.pop("boxes", UNSET)
        for boxes_item_data in _boxes or []:
            boxes_item = BoxPrompt.from_dict(boxes_item_data)

            boxes.append(boxes_item)

        _matte = d.pop("matte", UNSET)
        matte: Union[Unset, ImageRequestMatte]
        if isinstance(_matte, Unset):
            matte = UNSET
        else:
            matte = ImageRequestMatte(_matte)

        def _parse_scale(data: object) -> Union[ImageRequestScaleType0, None, Unset]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, int):
                    raise TypeError()
                scale_type_0 = ImageRequestScaleType0(data)

                return scale_type_0
            except:  # noqa: E722
                pass
            return cast(Union[ImageRequestScaleType0, None, Unset], data)

        scale = _parse_scale(d.pop("scale", UNSET))

        strength = d.pop("strength", UNSET)

        loras = []
        _loras = d.pop("loras", UNSET)
        for loras_item_data in _loras or []:
            loras_item = LoraSpec.from_dict(loras_item_data)

            loras.append(loras_item)

        def _parse_output_format(data: object) -> Union[ImageRequestOutputFormatType0, None, Unset]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                output_format_type_0 = ImageRequestOutputFormatType0(data)

                return output_format_type_0
            except:  # noqa: E722
                pass
            return cast(Union[ImageRequestOutputFormatType0, None, Unset], data)

        output_format = _parse_output_format(d.pop("output_format", UNSET))

        def _parse_quality(data: object) -> Union[None, Unset, int]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, int], data)

        quality = _parse_quality(d.pop("quality", UNSET))

        image_request = cls(
            model=model,
            webhook=webhook,
            priority=priority,
            prompt=prompt,
            negative_prompt=negative_prompt,
            width=width,
            height=height,
            steps=steps,
            guidance=guidance,
            seed=seed,
            num_outputs=num_outputs,
            scheduler=scheduler,
            image=image,
            references=references,
            mask=mask,
            points=points,
            boxes=boxes,
            matte=matte,
            scale=scale,
            strength=strength,
            loras=loras,
            output_format=output_format,
            quality=quality,
        )

        return image_request
