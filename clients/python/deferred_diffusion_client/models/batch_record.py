from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.domain import Domain
from dateutil.parser import isoparse
from typing import Union
import datetime

if TYPE_CHECKING:
    from ..models.task_record import TaskRecord
    from ..models.webhook_delivery import WebhookDelivery
    from ..models.batch_record_counts import BatchRecordCounts


T = TypeVar("T", bound="BatchRecord")


@_attrs_define
class BatchRecord:
    """A batch as its tasks stand: counts by status, overall progress, and every task in order.

    Attributes:
        id (str):
        domain (Domain):
        created_at (datetime.datetime):
        done (bool): Every task has ended (succeeded, failed or cancelled).
        counts (BatchRecordCounts):
        fraction (float): Progress over all tasks, 0 to 1.
        tasks (list['TaskRecord']):
        webhooks (Union[Unset, list['WebhookDelivery']]): The batch_completed webhook and how its delivery went.
    """

    id: str
    domain: Domain
    created_at: datetime.datetime
    done: bool
    counts: "BatchRecordCounts"
    fraction: float
    tasks: list["TaskRecord"]
    webhooks: Union[Unset, list["WebhookDelivery"]] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        domain = self.domain.value

        created_at = self.created_at.isoformat()

        done = self.done

        counts = self.counts.to_dict()

        fraction = self.fraction

        tasks = []
        for tasks_item_data in self.tasks:
            tasks_item = tasks_item_data.to_dict()
            tasks.append(tasks_item)

        webhooks: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.webhooks, Unset):
            webhooks = []
            for webhooks_item_data in self.webhooks:
                webhooks_item = webhooks_item_data.to_dict()
                webhooks.append(webhooks_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "domain": domain,
                "created_at": created_at,
                "done": done,
                "counts": counts,
                "fraction": fraction,
                "tasks": tasks,
            }
        )
        if webhooks is not UNSET:
            field_dict["webhooks"] = webhooks

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.task_record import TaskRecord
        from ..models.webhook_delivery import WebhookDelivery
        from ..models.batch_record_counts import BatchRecordCounts

        d = dict(src_dict)
        id = d.pop("id")

        domain = Domain(d.pop("domain"))

        created_at = isoparse(d.pop("created_at"))

        done = d.pop("done")

        counts = BatchRecordCounts.from_dict(d.pop("counts"))

        fraction = d.pop("fraction")

        tasks = []
        _tasks = d.pop("tasks")
        for tasks_item_data in _tasks:
            tasks_item = TaskRecord.from_dict(tasks_item_data)

            tasks.append(tasks_item)

        webhooks = []
        _webhooks = d.pop("webhooks", UNSET)
        for webhooks_item_data in _webhooks or []:
            webhooks_item = WebhookDelivery.from_dict(webhooks_item_data)

            webhooks.append(webhooks_item)

        batch_record = cls(
            id=id,
            domain=domain,
            created_at=created_at,
            done=done,
            counts=counts,
            fraction=fraction,
            tasks=tasks,
            webhooks=webhooks,
        )

        batch_record.additional_properties = d
        return batch_record

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
