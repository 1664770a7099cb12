from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import cast, Union


T = TypeVar("T", bound="LoraSpec")


@_attrs_define
class LoraSpec:
    """A LoRA applied for one request: a file by `ref` (or URL), or by `name` from the LoRA dir.

    Example:
        {'name': 'my-style', 'scale': 0.8}

    Attributes:
        ref (Union[None, Unset, str]): A .safetensors LoRA: a ref from POST /api/files or an allowed URL.
        name (Union[None, Unset, str]): A file in the LoRA dir, without `.safetensors`.
        scale (Union[Unset, float]):  Default: 1.0.
    """

    ref: Union[None, Unset, str] = UNSET
    name: Union[None, Unset, str] = UNSET
    scale: Union[Unset, float] = 1.0

    def to_dict(self) -> dict[str, Any]:
        ref: Union[None, Unset, str]
        if isinstance(self.ref, Unset):
            ref = UNSET
        else:
            ref = self.ref

        name: Union[None, Unset, str]
        if isinstance(self.name, Unset):
            name = UNSET
        else:
            name = self.name

        scale = self.scale

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if ref is not UNSET:
            field_dict["ref"] = ref
        if name is not UNSET:
            field_dict["name"] = name
        if scale is not UNSET:
            field_dict["scale"] = scale

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_ref(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        ref = _parse_ref(d.pop("ref", UNSET))

        def _parse_name(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        name = _parse_name(d.pop("name", UNSET))

        scale = d.pop("scale", UNSET)

        lora_spec = cls(
            ref=ref,
            name=name,
            scale=scale,
        )

        return lora_spec
