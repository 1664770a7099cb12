from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.readiness_redis import ReadinessRedis
from ..models.readiness_status import ReadinessStatus
from typing import Union

if TYPE_CHECKING:
    from ..models.readiness_workers import ReadinessWorkers
    from ..models.live_worker import LiveWorker


T = TypeVar("T", bound="Readiness")


@_attrs_define
class Readiness:
    """
    Attributes:
        status (ReadinessStatus):
        redis (ReadinessRedis):
        workers (ReadinessWorkers): Live workers per queue.
        live (Union[Unset, list['LiveWorker']]): Every live worker, by name.
    """

    status: ReadinessStatus
    redis: ReadinessRedis
    workers: "ReadinessWorkers"
    live: Union[Unset, list["LiveWorker"]] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        status = self.status.value

        redis = self.redis.value

        workers = self.workers.to_dict()

        live: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.live, Unset):
            live = []
            for live_item_data in self.live:
                live_item = live_item_data.to_dict()
                live.append(live_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "status": status,
                "redis": redis,
                "workers": workers,
            }
        )
        if live is not UNSET:
            field_dict["live"] = live

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.readiness_workers import ReadinessWorkers
        from ..models.live_worker import LiveWorker

        d = dict(src_dict)
        status = ReadinessStatus(d.pop("status"))

        redis = ReadinessRedis(d.pop("redis"))

        workers = ReadinessWorkers.from_dict(d.pop("workers"))

        live = []
        _live = d.pop("live", UNSET)
        for live_item_data in _live or []:
            live_item = LiveWorker.from_dict(live_item_data)

            live.append(live_item)

        readiness = cls(
            status=status,
            redis=redis,
            workers=workers,
            live=live,
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
