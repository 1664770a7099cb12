from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast, Union


T = TypeVar("T", bound="Timings")


@_attrs_define
class Timings:
    """
    Attributes:
        queued_s (Union[None, Unset, float]): From submit to start of the last attempt.
        run_s (Union[None, Unset, float]): From start to the end of the run.
    """

    queued_s: Union[None, Unset, float] = UNSET
    run_s: Union[None, Unset, float] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        queued_s: Union[None, Unset, float]
        if isinstance(self.queued_s, Unset):
            queued_s = UNSET
        else:
            queued_s = self.queued_s

        run_s: Union[None, Unset, float]
        if isinstance(self.run_s, Unset):
            run_s = UNSET
        else:
            run_s = self.run_s

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if queued_s is not UNSET:
            field_dict["queued_s"] = queued_s
        if run_s is not UNSET:
            field_dict["run_s"] = run_s

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_queued_s(data: object) -> Union[None, Unset, float]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, float], data)

        queued_s = _parse_queued_s(d.pop("queued_s", UNSET))

        def _parse_run_s(data: object) -> Union[None, Unset, float]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, float], data)

        run_s = _parse_run_s(d.pop("run_s", UNSET))

        timings = cls(
            queued_s=queued_s,
            run_s=run_s,
        )

        timings.additional_properties = d
        return timings

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
