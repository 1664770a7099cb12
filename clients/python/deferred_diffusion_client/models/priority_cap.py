from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define


from ..models.priority import Priority


T = TypeVar("T", bound="PriorityCap")


@_attrs_define
class PriorityCap:
    """
    Attributes:
        max_priority (Priority): What starts next: every queued interactive task before any normal one, normal before
            batch.
    """

    max_priority: Priority

    def to_dict(self) -> dict[str, Any]:
        max_priority = self.max_priority.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "max_priority": max_priority,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        max_priority = Priority(d.pop("max_priority"))

        priority_cap = cls(
            max_priority=max_priority,
        )

        return priority_cap
