from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field


T = TypeVar("T", bound="QueueDemand")


@_attrs_define
class QueueDemand:
    """
    Attributes:
        queued (int): Tasks waiting (a task a worker has prefetched still counts here until it starts).
        running (int):
        workers (int): Live workers on this queue.
        demand (int): queued + running: the task slots this queue could use now (what to autoscale on).
    """

    queued: int
    running: int
    workers: int
    demand: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        queued = self.queued

        running = self.running

        workers = self.workers

        demand = self.demand

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "queued": queued,
                "running": running,
                "workers": workers,
                "demand": demand,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        queued = d.pop("queued")

        running = d.pop("running")

        workers = d.pop("workers")

        demand = d.pop("demand")

        queue_demand = cls(
            queued=queued,
            running=running,
            workers=workers,
            demand=demand,
        )

        queue_demand.additional_properties = d
        return queue_demand

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
