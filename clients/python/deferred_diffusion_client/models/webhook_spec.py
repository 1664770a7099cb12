from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from ..models.webhook_spec_events_item import WebhookSpecEventsItem
from typing import Union


T = TypeVar("T", bound="WebhookSpec")


@_attrs_define
class WebhookSpec:
    """Where to POST the task record when it reaches these statuses (Standard Webhooks signed with
    the key's secret; the host must be in DDIFFUSION_WEBHOOK_ALLOWED_HOSTS).

        Attributes:
            url (str):
            events (Union[Unset, list[WebhookSpecEventsItem]]): `batch_completed` on batches only.
    """

    url: str
    events: Union[Unset, list[WebhookSpecEventsItem]] = UNSET

    def to_dict(self) -> dict[str, Any]:
        url = self.url

        events: Union[Unset, list[str]] = UNSET
        if not isinstance(self.events, Unset):
            events = []
            for events_item_data in self.events:
                events_item = events_item_data.value
                events.append(events_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "url": url,
            }
        )
        if events is not UNSET:
            field_dict["events"] = events

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        url = d.pop("url")

        events = []
        _events = d.pop("events", UNSET)
        for events_item_data in _events or []:
            events_item = WebhookSpecEventsItem(events_item_data)

            events.append(events_item)

        webhook_spec = cls(
            url=url,
            events=events,
        )

        return webhook_spec
