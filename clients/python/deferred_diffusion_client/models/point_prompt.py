from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from ..models.point_prompt_label import PointPromptLabel
from typing import Union


T = TypeVar("T", bound="PointPrompt")


@_attrs_define
class PointPrompt:
    """A click on the input image, in its pixels from the top-left corner.

    Example:
        {'label': 1, 'x': 120, 'y': 80}

    Attributes:
        x (float):
        y (float):
        label (Union[Unset, PointPromptLabel]): 1: on the object (foreground); 0: not on it (background). Default:
            PointPromptLabel.VALUE_1.
    """

    x: float
    y: float
    label: Union[Unset, PointPromptLabel] = PointPromptLabel.VALUE_1

    def to_dict(self) -> dict[str, Any]:
        x = self.x

        y = self.y

        label: Union[Unset, int] = UNSET
        if not isinstance(self.label, Unset):
            label = self.label.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "x": x,
                "y": y,
            }
        )
        if label is not UNSET:
            field_dict["label"] = label

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        x = d.pop("x")

        y = d.pop("y")

        _label = d.pop("label", UNSET)
        label: Union[Unset, PointPromptLabel]
        if isinstance(_label, Unset):
            label = UNSET
        else:
            label = PointPromptLabel(_label)

        point_prompt = cls(
            x=x,
            y=y,
            label=label,
        )

        return point_prompt
