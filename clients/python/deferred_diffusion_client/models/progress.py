from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast, Union


T = TypeVar("T", bound="Progress")


@_attrs_define
class Progress:
    """
    Attributes:
        step (Union[Unset, int]):  Default: 0.
        total (Union[Unset, int]):  Default: 0.
        fraction (Union[Unset, float]):  Default: 0.0.
        eta_s (Union[None, Unset, float]): Seconds left, from the measured time per step.
    """

    step: Union[Unset, int] = 0
    total: Union[Unset, int] = 0
    fraction: Union[Unset, float] = 0.0
    eta_s: Union[None, Unset, float] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        step = self.step

        total = self.total

        fraction = self.fraction

        eta_s: Union[None, Unset, float]
        if isinstance(self.eta_s, Unset):
            eta_s = UNSET
        else:
            eta_s = self.eta_s

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if step is not UNSET:
            field_dict["step"] = step
        if total is not UNSET:
            field_dict["total"] = total
        if fraction is not UNSET:
            field_dict["fraction"] = fraction
        if eta_s is not UNSET:
            field_dict["eta_s"] = eta_s

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        step = d.pop("step", UNSET)

        total = d.pop("total", UNSET)

        fraction = d.pop("fraction", UNSET)

        def _parse_eta_s(data: object) -> Union[None, Unset, float]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, float], data)

        eta_s = _parse_eta_s(d.pop("eta_s", UNSET))

        progress = cls(
            step=step,
            total=total,
            fraction=fraction,
            eta_s=eta_s,
        )

        progress.additional_properties = d
        return progress

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
