from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from ..models.priority import Priority
from ..models.video_request_output_format_type_0 import VideoRequestOutputFormatType0
from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.webhook_spec import WebhookSpec


T = TypeVar("T", bound="VideoRequest")


@_attrs_define
class VideoRequest:
    """Text-to-video; with `image` it becomes image-to-video where the model supports it.

    Example:
        {'model': 'tiny-ltx', 'prompt': 'a paper boat drifting on a pond', 'seed': 7}

    Attributes:
        model (str): A model from GET /api/videos/models; `available` says it runs here.
        prompt (str):
        webhook (Union['WebhookSpec', None, Unset]): POST the record to a URL of yours when the task starts or ends.
        priority (Union[Unset, Priority]): What starts next: every queued interactive task before any normal one, normal
            before batch.
        negative_prompt (Union[Unset, str]):  Default: ''.
        image (Union[None, Unset, str]):
        width (Union[None, Unset, int]):
        height (Union[None, Unset, int]):
        num_frames (Union[None, Unset, int]):
        fps (Union[None, Unset, int]):
        steps (Union[None, Unset, int]):
        guidance (Union[None, Unset, float]):
        seed (Union[None, Unset, int]):
        num_outputs (Union[Unset, int]): Variations in one task, in one batched call where the model allows it: output i
            has seed `seed + i`. Default: 1.
        output_format (Union[None, Unset, VideoRequestOutputFormatType0]): mp4 (H.264, sRGB), or one file per frame
            named <task id>.<frame:04d>.<ext> for a Nuke Read node or a Houdini COP: png_sequence (8-bit sRGB) or
            exr_sequence (32-bit float, scene-linear via OpenColorIO, ACEScg by default). Unset: the model's default.
        start_frame (Union[Unset, int]): Sequences: the first frame's number (1001 by VFX convention). Default: 1001.
    """

    model: str
    prompt: str
    webhook: Union["WebhookSpec", None, Unset] = UNSET
    priority: Union[Unset, Priority] = UNSET
    negative_prompt: Union[Unset, str] = ""
    image: Union[None, Unset, str] = UNSET
    width: Union[None, Unset, int] = UNSET
    height: Union[None, Unset, int] = UNSET
    num_frames: Union[None, Unset, int] = UNSET
    fps: Union[None, Unset, int] = UNSET
    steps: Union[None, Unset, int] = UNSET
    guidance: Union[None, Unset, float] = UNSET
    seed: Union[None, Unset, int] = UNSET
    num_outputs: Union[Unset, int] = 1
    output_format: Union[None, Unset, VideoRequestOutputFormatType0] = UNSET
    start_frame: Union[Unset, int] = 1001

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

        image: Union[None, Unset, str]
        if isinstance(self.image, Unset):
            image = UNSET
        else:
            image = self.image

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

        num_frames: Union[None, Unset, int]
        if isinstance(self.num_frames, Unset):
            num_frames = UNSET
        else:
            num_frames = self.num_frames

        fps: Union[None, Unset, int]
        if isinstance(self.fps, Unset):
            fps = UNSET
        else:
            fps = self.fps

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

        output_format: Union[None, Unset, str]
        if isinstance(self.output_format, Unset):
            output_format = UNSET
        elif isinstance(self.output_format, VideoRequestOutputFormatType0):
            output_format = self.output_format.value
        else:
            output_format = self.output_format

        start_frame = self.start_frame

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
        if image is not UNSET:
            field_dict["image"] = image
        if width is not UNSET:
            field_dict["width"] = width
        if height is not UNSET:
            field_dict["height"] = height
        if num_frames is not UNSET:
            field_dict["num_frames"] = num_frames
        if fps is not UNSET:
            field_dict["fps"] = fps
        if steps is not UNSET:
            field_dict["steps"] = steps
        if guidance is not UNSET:
            field_dict["guidance"] = guidance
        if seed is not UNSET:
            field_dict["seed"] = seed
        if num_outputs is not UNSET:
            field_dict["num_outputs"] = num_outputs
        if output_format is not UNSET:
            field_dict["output_format"] = output_format
        if start_frame is not UNSET:
            field_dict["start_frame"] = start_frame

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
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

        def _parse_image(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        image = _parse_image(d.pop("image", UNSET))

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

        def _parse_num_frames(data: object) -> Union[None, Unset, int]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, int], data)

        num_frames = _parse_num_frames(d.pop("num_frames", UNSET))

        def _parse_fps(data: object) -> Union[None, Unset, int]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, int], data)

        fps = _parse_fps(d.pop("fps", UNSET))

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

        def _parse_output_format(data: object) -> Union[None, Unset, VideoRequestOutputFormatType0]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                output_format_type_0 = VideoRequestOutputFormatType0(data)

                return output_format_type_0
            except:  # noqa: E722
                pass
            return cast(Union[None, Unset, VideoRequestOutputFormatType0], data)

        output_format = _parse_output_format(d.pop("output_format", UNSET))

        start_frame = d.pop("start_frame", UNSET)

        video_request = cls(
            model=model,
            prompt=prompt,
            webhook=webhook,
            priority=priority,
            negative_prompt=negative_prompt,
            image=image,
            width=width,
            height=height,
            num_frames=num_frames,
            fps=fps,
            steps=steps,
            guidance=guidance,
            seed=seed,
            num_outputs=num_outputs,
            output_format=output_format,
            start_frame=start_frame,
        )

        return video_request
