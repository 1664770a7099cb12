from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import Union


T = TypeVar("T", bound="Range")


@_attrs_define
class Range:
    """`from` … `to` inclusive, by `step` (1 unless set): {"from": 1, "to": 8} is 1, 2, … 8.

    Attributes:
        from_ (float):
        to (float):
        step (Union[Unset, float]):  Default: 1.0.
    """

    from_: float
    to: float
    step: Union[Unset, float] = 1.0

    def to_dict(self) -> dict[str, Any]:
        from_ = self.from_

        to = self.to

        step = self.step

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "from": from_,
                "to": to,
            }
        )
        if step is not UNSET:
            field_dict["step"] = step

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        from_ = d.pop("from")

        to = d.pop("to")

        step = d.pop("step", UNSET)

        range_ = cls(
            from_=from_,
            to=to,
            step=step,
        )

        return range_
