from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define


T = TypeVar("T", bound="BoxPrompt")


@_attrs_define
class BoxPrompt:
    """A box around an object, in the input image's pixels: top-left (x0, y0), bottom-right (x1, y1).

    Example:
        {'x0': 40, 'x1': 200, 'y0': 20, 'y1': 180}

    Attributes:
        x0 (float):
        y0 (float):
        x1 (float):
        y1 (float):
    """

    x0: float
    y0: float
    x1: float
    y1: float

    def to_dict(self) -> dict[str, Any]:
        x0 = self.x0

        y0 = self.y0

        x1 = self.x1

        y1 = self.y1

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "x0": x0,
                "y0": y0,
                "x1": x1,
                "y1": y1,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        x0 = d.pop("x0")

        y0 = d.pop("y0")

        x1 = d.pop("x1")

        y1 = d.pop("y1")

        box_prompt = cls(
            x0=x0,
            y0=y0,
            x1=x1,
            y1=y1,
        )

        return box_prompt
