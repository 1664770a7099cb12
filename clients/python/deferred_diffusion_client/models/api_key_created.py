from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.priority import Priority
from dateutil.parser import isoparse
from typing import Union
import datetime


T = TypeVar("T", bound="ApiKeyCreated")


@_attrs_define
class ApiKeyCreated:
    """
    Attributes:
        id (str):
        name (str):
        created_at (datetime.datetime):
        key (str): The secret key, shown this once: store it now.
        max_priority (Union[Unset, Priority]): What starts next: every queued interactive task before any normal one,
            normal before batch.
    """

    id: str
    name: str
    created_at: datetime.datetime
    key: str
    max_priority: Union[Unset, Priority] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        name = self.name

        created_at = self.created_at.isoformat()

        key = self.key

        max_priority: Union[Unset, str] = UNSET
        if not isinstance(self.max_priority, Unset):
            max_priority = self.max_priority.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "name": name,
                "created_at": created_at,
                "key": key,
            }
        )
        if max_priority is not UNSET:
            field_dict["max_priority"] = max_priority

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        name = d.pop("name")

        created_at = isoparse(d.pop("created_at"))

        key = d.pop("key")

        _max_priority = d.pop("max_priority", UNSET)
        max_priority: Union[Unset, Priority]
        if isinstance(_max_priority, Unset):
            max_priority = UNSET
        else:
            max_priority = Priority(_max_priority)

        api_key_created = cls(
            id=id,
            name=name,
            created_at=created_at,
            key=key,
            max_priority=max_priority,
        )

        api_key_created.additional_properties = d
        return api_key_created

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
