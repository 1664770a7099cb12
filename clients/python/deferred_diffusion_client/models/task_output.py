from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.task_output_reproducibility_type_0 import TaskOutputReproducibilityType0


T = TypeVar("T", bound="TaskOutput")


@_attrs_define
class TaskOutput:
    """One result: a file (image, video) with a signed URL, or a text.

    Attributes:
        ref (Union[None, Unset, str]): Blob ref of the file, usable as an input to another request.
        content_type (Union[None, Unset, str]):
        width (Union[None, Unset, int]):
        height (Union[None, Unset, int]):
        seed (Union[None, Unset, int]):
        text (Union[None, Unset, str]):
        reproducibility (Union['TaskOutputReproducibilityType0', None, Unset]): What made this output: model, weights
            revision, pipeline, scheduler, seed, steps, guidance, size, LoRAs, library versions, device. Local images also
            carry it in the file: the PNG's `deferred-diffusion` text chunk, the EXR header attribute of that name, the
            JPEG/WebP EXIF ImageDescription.
        colorspace (Union[None, Unset, str]): Colour space of an image file's pixels: sRGB (png, png16, jpeg, webp), the
            OpenColorIO working space of an EXR (e.g. ACEScg, scene-linear), or raw for data (depth maps, mattes).
        filename (Union[None, Unset, str]): The name to save the file as, e.g. <task id>.1001.exr for a frame of a
            sequence.
        frame (Union[None, Unset, int]): A sequence's frame number, counted from the request's `start_frame`.
        url (Union[None, Unset, str]): Signed, expiring download URL; needs no API key.
        label (Union[None, Unset, str]): The label of the batch task that made it (a frame number, a wedge name).
    """

    ref: Union[None, Unset, str] = UNSET
    content_type: Union[None, Unset, str] = UNSET
    width: Union[None, Unset, int] = UNSET
    height: Union[None, Unset, int] = UNSET
    seed: Union[None, Unset, int] = UNSET
    text: Union[None, Unset, str] = UNSET
    reproducibility: Union["TaskOutputReproducibilityType0", None, Unset] = UNSET
    colorspace: Union[None, Unset, str] = UNSET
    filename: Union[None, Unset, str] = UNSET
    frame: Union[None, Unset, int] = UNSET
    url: Union[None, Unset, str] = UNSET
    label: Union[None, Unset, str] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.task_output_reproducibility_type_0 import TaskOutputReproducibilityType0

        ref: Union[None, Unset, str]
        if isinstance(self.ref, Unset):
            ref = UNSET
        else:
            ref = self.ref

        content_type: Union[None, Unset, str]
        if isinstance(self.content_type, Unset):
            content_type = UNSET
        else:
            content_type = self.content_type

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

        seed: Union[None, Unset, int]
        if isinstance(self.seed, Unset):
            seed = UNSET
        else:
            seed = self.seed

        text: Union[None, Unset, str]
        if isinstance(self.text, Unset):
            text = UNSET
        else:
            text = self.text

        reproducibility: Union[None, Unset, dict[str, Any]]
        if isinstance(self.reproducibility, Unset):
            reproducibility = UNSET
        elif isinstance(self.reproducibility, TaskOutputReproducibilityType0):
            reproducibility = self.reproducibility.to_dict()
        else:
            reproducibility = self.reproducibility

        colorspace: Union[None, Unset, str]
        if isinstance(self.colorspace, Unset):
            colorspace = UNSET
        else:
            colorspace = self.colorspace

        filename: Union[None, Unset, str]
        if isinstance(self.filename, Unset):
            filename = UNSET
        else:
            filename = self.filename

        frame: Union[None, Unset, int]
        if isinstance(self.frame, Unset):
            frame = UNSET
        else:
            frame = self.frame

        url: Union[None, Unset, str]
        if isinstance(self.url, Unset):
            url = UNSET
        else:
            url = self.url

        label: Union[None, Unset, str]
        if isinstance(self.label, Unset):
            label = UNSET
        else:
            label = self.label

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if ref is not UNSET:
            field_dict["ref"] = ref
        if content_type is not UNSET:
            field_dict["content_type"] = content_type
        if width is not UNSET:
            field_dict["width"] = width
        if height is not UNSET:
            field_dict["height"] = height
        if seed is not UNSET:
            field_dict["seed"] = seed
        if text is not UNSET:
            field_dict["text"] = text
        if reproducibility is not UNSET:
            field_dict["reproducibility"] = reproducibility
        if colorspace is not UNSET:
            field_dict["colorspace"] = colorspace
        if filename is not UNSET:
            field_dict["filename"] = filename
        if frame is not UNSET:
            field_dict["frame"] = frame
        if url is not UNSET:
            field_dict["url"] = url
        if label is not UNSET:
            field_dict["label"] = label

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.task_output_reproducibility_type_0 import TaskOutputReproducibilityType0

        d = dict(src_dict)

        def _parse_ref(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        ref = _parse_ref(d.pop("ref", UNSET))

        def _parse_content_type(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        content_type = _parse_content_type(d.pop("content_type", UNSET))

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

        def _parse_seed(data: object) -> Union[None, Unset, int]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, int], data)

        seed = _parse_seed(d.pop("seed", UNSET))

        def _parse_text(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        text = _parse_text(d.pop("text", UNSET))

        def _parse_reproducibility(data: object) -> Union["TaskOutputReproducibilityType0", None, Unset]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                reproducibility_type_0 = TaskOutputReproducibilityType0.from_dict(data)

                return reproducibility_type_0
            except:  # noqa: E722
                pass
            return cast(Union["TaskOutputReproducibilityType0", None, Unset], data)

        reproducibility = _parse_reproducibility(d.pop("reproducibility", UNSET))

        def _parse_colorspace(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        colorspace = _parse_colorspace(d.pop("colorspace", UNSET))

        def _parse_filename(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        filename = _parse_filename(d.pop("filename", UNSET))

        def _parse_frame(data: object) -> Union[None, Unset, int]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, int], data)

        frame = _parse_frame(d.pop("frame", UNSET))

        def _parse_url(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        url = _parse_url(d.pop("url", UNSET))

        def _parse_label(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        label = _parse_label(d.pop("label", UNSET))

        task_output = cls(
            ref=ref,
            content_type=content_type,
            width=width,
            height=height,
            seed=seed,
            text=text,
            reproducibility=reproducibility,
            colorspace=colorspace,
            filename=filename,
            frame=frame,
            url=url,
            label=label,
        )

        task_output.additional_properties = d
        return task_output

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
