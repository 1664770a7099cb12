from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field


if TYPE_CHECKING:
    from ..models.scaling_queues import ScalingQueues


T = TypeVar("T", bound="Scaling")


@_attrs_define
class Scaling:
    """What an autoscaler (KEDA's metrics-api scaler) reads: per queue, e.g. `queues.gpu.demand`.

    Attributes:
        queues (ScalingQueues):
    """

    queues: "ScalingQueues"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        queues = self.queues.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "queues": queues,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.scaling_queues import ScalingQueues

        d = dict(src_dict)
        queues = ScalingQueues.from_dict(d.pop("queues"))

        scaling = cls(
            queues=queues,
        )

        scaling.additional_properties = d
        return scaling

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
