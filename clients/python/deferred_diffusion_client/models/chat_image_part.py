from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define


from typing import Literal, cast


T = TypeVar("T", bound="ChatImagePart")


@_attrs_define
class ChatImagePart:
    """An image shown to a vision model; stored in the blob store before the task is queued.

    Attributes:
        type_ (Literal['image']):
        image (str): An input file: a ref from POST /api/files (`sha256:…`), a data URL, or an http(s) URL on an allowed
            host.
    """

    type_: Literal["image"]
    image: str

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_

        image = self.image

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "type": type_,
                "image": image,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        type_ = cast(Literal["image"], d.pop("type"))
        if type_ != "image":
            raise ValueError(f"type must match const 'image', got '{type_}'")

        image = d.pop("image")

        chat_image_part = cls(
            type_=type_,
            image=image,
        )

        return chat_image_part
