from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field


from dateutil.parser import isoparse
from typing import cast
from typing import Union
import datetime


T = TypeVar("T", bound="Quota")


@_attrs_define
class Quota:
    """
    Attributes:
        key_id (str):
        gpu_seconds_per_day (Union[None, float]):
        used_today (float): GPU seconds of tasks that ended today (UTC).
        resets_at (datetime.datetime): When today's count starts again (midnight UTC).
    """

    key_id: str
    gpu_seconds_per_day: Union[None, float]
    used_today: float
    resets_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        key_id = self.key_id

        gpu_seconds_per_day: Union[None, float]
        gpu_seconds_per_day = self.gpu_seconds_per_day

        used_today = self.used_today

        resets_at = self.resets_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "key_id": key_id,
                "gpu_seconds_per_day": gpu_seconds_per_day,
                "used_today": used_today,
                "resets_at": resets_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        key_id = d.pop("key_id")

        def _parse_gpu_seconds_per_day(data: object) -> Union[None, float]:
            if data is None:
                return data
            return cast(Union[None, float], data)

        gpu_seconds_per_day = _parse_gpu_seconds_per_day(d.pop("gpu_seconds_per_day"))

        used_today = d.pop("used_today")

        resets_at = isoparse(d.pop("resets_at"))

        quota = cls(
            key_id=key_id,
            gpu_seconds_per_day=gpu_seconds_per_day,
            used_today=used_today,
            resets_at=resets_at,
        )

        quota.additional_properties = d
        return quota

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
