from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from ..models.image_request_scheduler_type_0 import ImageRequestSchedulerType0
from ..models.priority import Priority
from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.lora_spec import LoraSpec
    from ..models.webhook_spec import WebhookSpec


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
            prompt (str):
            webhook (Union['WebhookSpec', None, Unset]): POST the record to a URL of yours when the task starts or ends.
            priority (Union[Unset, Priority]): What starts next: every queued interactive task before any normal one, normal
                before batch.
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
            mask (Union[None, Unset, str]): Inpainting mask for `image`: white is repainted, black kept.
            strength (Union[Unset, float]): How much of the init image is repainted; below 1/steps, one denoising step at
                this strength. Default: 0.75.
            loras (Union[Unset, list['LoraSpec']]): LoRAs applied to this request only.
    """

    model: str
    prompt: str
    webhook: Union["WebhookSpec", None, Unset] = UNSET
    priority: Union[Unset, Priority] = UNSET
    negative_prompt: Union[Unset, str] = ""
    width: Union[None, Unset, int] = UNSET
    height: Union[None, Unset, int] = UNSET
    steps: Union[None, Unset, int] = UNSET
    guidance: Union[None, Unset, float] = UNSET
    seed: Union[None, Unset, int] = UNSET
    num_outputs: Union[Unset, int] = 1
    scheduler: Union[ImageRequestSchedulerType0, None, Unset] = UNSET
    image: Union[None, Unset, str] = UNSET
    mask: Union[None, Unset, str] = UNSET
    strength: Union[Unset, float] = 0.75
    loras: Union[Unset, list["LoraSpec"]] = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.webhook_spec import WebhookSpec

        model = self.model

        prompt = self.prompt

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

        mask: Union[None, Unset, str]
        if isinstance(self.mask, Unset):
            mask = UNSET
        else:
            mask = self.mask

        strength = self.strength

        loras: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.loras, Unset):
            loras = []
            for loras_item_data in self.loras:
                loras_item = loras_item_data.to_dict()
                loras.append(loras_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "model": model,
                "prompt": prompt,
            }
        )
        if webhook is not UNSET:
            field_dict["webhook"] = webhook
        if priority is not UNSET:
            field_dict["priority"] = priority
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
        if mask is not UNSET:
            field_dict["mask"] = mask
        if strength is not UNSET:
            field_dict["strength"] = strength
        if loras is not UNSET:
            field_dict["loras"] = loras

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.lora_spec import LoraSpec
        from ..models.webhook_spec import WebhookSpec

        d = dict(src_dict)
        model = d.pop("model")

        prompt = d.pop("prompt")

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

        def _parse_mask(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        mask = _parse_mask(d.pop("mask", UNSET))

        strength = d.pop("strength", UNSET)

        loras = []
        _loras = d.pop("loras", UNSET)
        for loras_item_data in _loras or []:
            loras_item = LoraSpec.from_dict(loras_item_data)

            loras.append(loras_item)

        image_request = cls(
            model=model,
            prompt=prompt,
            webhook=webhook,
            priority=priority,
            negative_prompt=negative_prompt,
            width=width,
            height=height,
            steps=steps,
            guidance=guidance,
            seed=seed,
            num_outputs=num_outputs,
            scheduler=scheduler,
            image=image,
            mask=mask,
            strength=strength,
            loras=loras,
        )

        return image_request
