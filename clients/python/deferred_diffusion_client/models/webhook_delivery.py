from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.webhook_delivery_event import WebhookDeliveryEvent
from dateutil.parser import isoparse
from typing import cast
from typing import Union
import datetime


T = TypeVar("T", bound="WebhookDelivery")


@_attrs_define
class WebhookDelivery:
    """
    Attributes:
        event (WebhookDeliveryEvent):
        attempts (int):
        status_code (Union[None, Unset, int]): The receiver's last answer; null when it could not be reached.
        delivered_at (Union[None, Unset, datetime.datetime]): Set once a 2xx answer came; null while retrying or after
            giving up.
        gave_up (Union[Unset, bool]):  Default: False.
    """

    event: WebhookDeliveryEvent
    attempts: int
    status_code: Union[None, Unset, int] = UNSET
    delivered_at: Union[None, Unset, datetime.datetime] = UNSET
    gave_up: Union[Unset, bool] = False
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        event = self.event.value

        attempts = self.attempts

        status_code: Union[None, Unset, int]
        if isinstance(self.status_code, Unset):
            status_code = UNSET
        else:
            status_code = self.status_code

        delivered_at: Union[None, Unset, str]
        if isinstance(self.delivered_at, Unset):
            delivered_at = UNSET
        elif isinstance(self.delivered_at, datetime.datetime):
            delivered_at = self.delivered_at.isoformat()
        else:
            delivered_at = self.delivered_at

        gave_up = self.gave_up

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "event": event,
                "attempts": attempts,
            }
        )
        if status_code is not UNSET:
            field_dict["status_code"] = status_code
        if delivered_at is not UNSET:
            field_dict["delivered_at"] = delivered_at
        if gave_up is not UNSET:
            field_dict["gave_up"] = gave_up

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        event = WebhookDeliveryEvent(d.pop("event"))

        attempts = d.pop("attempts")

        def _parse_status_code(data: object) -> Union[None, Unset, int]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, int], data)

        status_code = _parse_status_code(d.pop("status_code", UNSET))

        def _parse_delivered_at(data: object) -> Union[None, Unset, datetime.datetime]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                delivered_at_type_0 = isoparse(data)

                return delivered_at_type_0
            except:  # noqa: E722
                pass
            return cast(Union[None, Unset, datetime.datetime], data)

        delivered_at = _parse_delivered_at(d.pop("delivered_at", UNSET))

        gave_up = d.pop("gave_up", UNSET)

        webhook_delivery = cls(
            event=event,
            attempts=attempts,
            status_code=status_code,
            delivered_at=delivered_at,
            gave_up=gave_up,
        )

        webhook_delivery.additional_properties = d
        return webhook_delivery

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
