from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field


from typing import cast


T = TypeVar("T", bound="LiveWorker")


@_attrs_define
class LiveWorker:
    """One worker as its last heartbeat describes it.

    Attributes:
        name (str): Celery hostname, unique per machine and device (e.g. gpu-0@render07).
        queues (list[str]):
        warm (list[str]): Models it holds loaded: tasks of these go to it first.
        loads (int): Model loads its processes have made since they started.
        seen_s (float): Seconds since its last heartbeat.
    """

    name: str
    queues: list[str]
    warm: list[str]
    loads: int
    seen_s: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        queues = self.queues

        warm = self.warm

        loads = self.loads

        seen_s = self.seen_s

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "name": name,
                "queues": queues,
                "warm": warm,
                "loads": loads,
                "seen_s": seen_s,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        queues = cast(list[str], d.pop("queues"))

        warm = cast(list[str], d.pop("warm"))

        loads = d.pop("loads")

        seen_s = d.pop("seen_s")

        live_worker = cls(
            name=name,
            queues=queues,
            warm=warm,
            loads=loads,
            seen_s=seen_s,
        )

        live_worker.additional_properties = d
        return live_worker

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
