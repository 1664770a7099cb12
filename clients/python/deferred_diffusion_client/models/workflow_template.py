from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field


from typing import cast

if TYPE_CHECKING:
    from ..models.workflow_template_patchable import WorkflowTemplatePatchable


T = TypeVar("T", bound="WorkflowTemplate")


@_attrs_define
class WorkflowTemplate:
    """A trusted ComfyUI template and what a request may set in it.

    Attributes:
        name (str): The request's `template`.
        description (str):
        patchable (WorkflowTemplatePatchable): Node title (or id) → its settable inputs, for `patches`.
        inputs (list[str]): Image loader nodes by title (or id): each needs a file in `inputs`.
    """

    name: str
    description: str
    patchable: "WorkflowTemplatePatchable"
    inputs: list[str]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        description = self.description

        patchable = self.patchable.to_dict()

        inputs = self.inputs

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "name": name,
                "description": description,
                "patchable": patchable,
                "inputs": inputs,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.workflow_template_patchable import WorkflowTemplatePatchable

        d = dict(src_dict)
        name = d.pop("name")

        description = d.pop("description")

        patchable = WorkflowTemplatePatchable.from_dict(d.pop("patchable"))

        inputs = cast(list[str], d.pop("inputs"))

        workflow_template = cls(
            name=name,
            description=description,
            patchable=patchable,
            inputs=inputs,
        )

        workflow_template.additional_properties = d
        return workflow_template

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
