from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field


from ..models.readiness_redis import ReadinessRedis
from ..models.readiness_status import ReadinessStatus

if TYPE_CHECKING:
    from ..models.readiness_workers import ReadinessWorkers


T = TypeVar("T", bound="Readiness")


@_attrs_define
class Readiness:
    """
    Attributes:
        status (ReadinessStatus):
        redis (ReadinessRedis):
        workers (ReadinessWorkers): Live workers per queue.
    """

    status: ReadinessStatus
    redis: ReadinessRedis
    workers: "ReadinessWorkers"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        status = self.status.value

        redis = self.redis.value

        workers = self.workers.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "status": status,
                "redis": redis,
                "workers": workers,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.readiness_workers import ReadinessWorkers

        d = dict(src_dict)
        status = ReadinessStatus(d.pop("status"))

        redis = ReadinessRedis(d.pop("redis"))

        workers = ReadinessWorkers.from_dict(d.pop("workers"))

        readiness = cls(
            status=status,
            redis=redis,
            workers=workers,
        )

        readiness.additional_properties = d
        return readiness

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
