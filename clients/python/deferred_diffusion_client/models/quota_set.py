from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast, Union


T = TypeVar("T", bound="QuotaSet")


@_attrs_define
class QuotaSet:
    """
    Attributes:
        gpu_seconds_per_day (Union[None, Unset, float]): null removes the quota.
    """

    gpu_seconds_per_day: Union[None, Unset, float] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        gpu_seconds_per_day: Union[None, Unset, float]
        if isinstance(self.gpu_seconds_per_day, Unset):
            gpu_seconds_per_day = UNSET
        else:
            gpu_seconds_per_day = self.gpu_seconds_per_day

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if gpu_seconds_per_day is not UNSET:
            field_dict["gpu_seconds_per_day"] = gpu_seconds_per_day

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_gpu_seconds_per_day(data: object) -> Union[None, Unset, float]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, float], data)

        gpu_seconds_per_day = _parse_gpu_seconds_per_day(d.pop("gpu_seconds_per_day", UNSET))

        quota_set = cls(
            gpu_seconds_per_day=gpu_seconds_per_day,
        )

        quota_set.additional_properties = d
        return quota_set

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
