from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from ..models.priority import Priority
from typing import Union


T = TypeVar("T", bound="ApiKeyCreate")


@_attrs_define
class ApiKeyCreate:
    """
    Attributes:
        name (str):
        max_priority (Union[Unset, Priority]): What starts next: every queued interactive task before any normal one,
            normal before batch.
    """

    name: str
    max_priority: Union[Unset, Priority] = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        max_priority: Union[Unset, str] = UNSET
        if not isinstance(self.max_priority, Unset):
            max_priority = self.max_priority.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
            }
        )
        if max_priority is not UNSET:
            field_dict["max_priority"] = max_priority

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        _max_priority = d.pop("max_priority", UNSET)
        max_priority: Union[Unset, Priority]
        if isinstance(_max_priority, Unset):
            max_priority = UNSET
        else:
            max_priority = Priority(_max_priority)

        api_key_create = cls(
            name=name,
            max_priority=max_priority,
        )

        return api_key_create
