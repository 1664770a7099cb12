from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field


from dateutil.parser import isoparse
import datetime

if TYPE_CHECKING:
    from ..models.usage_day_tasks import UsageDayTasks
    from ..models.usage_day_units import UsageDayUnits
    from ..models.usage_day_models import UsageDayModels


T = TypeVar("T", bound="UsageDay")


@_attrs_define
class UsageDay:
    """One key's use on one UTC day, counted as its tasks ended.

    Attributes:
        date (datetime.date):
        key_id (str):
        tasks (UsageDayTasks): Ended tasks by status.
        models (UsageDayModels): Ended tasks by model.
        gpu_seconds (float): Run time on gpu workers, whatever the outcome.
        provider_calls (int): Tasks run at a hosted provider (OpenAI, Replicate).
        units (UsageDayUnits): What providers billed, where they say: e.g. input_tokens, output_tokens, images.
        output_bytes (int):
    """

    date: datetime.date
    key_id: str
    tasks: "UsageDayTasks"
    models: "UsageDayModels"
    gpu_seconds: float
    provider_calls: int
    units: "UsageDayUnits"
    output_bytes: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        date = self.date.isoformat()

        key_id = self.key_id

        tasks = self.tasks.to_dict()

        models = self.models.to_dict()

        gpu_seconds = self.gpu_seconds

        provider_calls = self.provider_calls

        units = self.units.to_dict()

        output_bytes = self.output_bytes

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "date": date,
                "key_id": key_id,
                "tasks": tasks,
                "models": models,
                "gpu_seconds": gpu_seconds,
                "provider_calls": provider_calls,
                "units": units,
                "output_bytes": output_bytes,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.usage_day_tasks import UsageDayTasks
        from ..models.usage_day_units import UsageDayUnits
        from ..models.usage_day_models import UsageDayModels

        d = dict(src_dict)
        date = isoparse(d.pop("date")).date()

        key_id = d.pop("key_id")

        tasks = UsageDayTasks.from_dict(d.pop("tasks"))

        models = UsageDayModels.from_dict(d.pop("models"))

        gpu_seconds = d.pop("gpu_seconds")

        provider_calls = d.pop("provider_calls")

        units = UsageDayUnits.from_dict(d.pop("units"))

        output_bytes = d.pop("output_bytes")

        usage_day = cls(
            date=date,
            key_id=key_id,
            tasks=tasks,
            models=models,
            gpu_seconds=gpu_seconds,
            provider_calls=provider_calls,
            units=units,
            output_bytes=output_bytes,
        )

        usage_day.additional_properties = d
        return usage_day

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
