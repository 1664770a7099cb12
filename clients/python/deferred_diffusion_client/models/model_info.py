from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.domain import Domain
from ..models.queue import Queue
from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.model_info_defaults import ModelInfoDefaults
    from ..models.workflow_template import WorkflowTemplate
    from ..models.model_info_limits import ModelInfoLimits


T = TypeVar("T", bound="ModelInfo")


@_attrs_define
class ModelInfo:
    """
    Attributes:
        name (str):
        domain (Domain):
        queue (Queue):
        description (str):
        capabilities (list[str]):
        defaults (ModelInfoDefaults):
        limits (ModelInfoLimits):
        available (bool): A live worker on the model's queue can run it now: its weights are present, or the worker may
            download them (DDIFFUSION_ALLOW_DOWNLOADS; the first task fetches them), or its provider is configured.
        weights (str): Where workers look for the weights: <models dir>/<weights> first, then the Hugging Face cache
            when it is a repo id (owner/name); `ddiffusion models pull NAME` puts them there.
        schedulers (Union[Unset, list[str]]): Schedulers a request may pick, the default first; empty: the model's own.
        output_formats (Union[Unset, list[str]]): The `output_format` values a request may ask for, the default first;
            empty: no files.
        weights_present (Union[Unset, bool]): A live worker has the weights on disk, in its models dir or its Hugging
            Face cache (always false for hosted models). Available but not present: the first task downloads them. Default:
            False.
        warm (Union[Unset, bool]): A live worker holds the model loaded: no load time before the next task. Default:
            False.
        templates (Union[None, Unset, list['WorkflowTemplate']]): ComfyUI: the workflow templates a request can name.
    """

    name: str
    domain: Domain
    queue: Queue
    description: str
    capabilities: list[str]
    defaults: "ModelInfoDefaults"
    limits: "ModelInfoLimits"
    available: bool
    weights: str
    schedulers: Union[Unset, list[str]] = UNSET
    output_formats: Union[Unset, list[str]] = UNSET
    weights_present: Union[Unset, bool] = False
    warm: Union[Unset, bool] = False
    templates: Union[None, Unset, list["WorkflowTemplate"]] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        domain = self.domain.value

        queue = self.queue.value

        description = self.description

        capabilities = self.capabilities

        defaults = self.defaults.to_dict()

        limits = self.limits.to_dict()

        available = self.available

        weights = self.weights

        schedulers: Union[Unset, list[str]] = UNSET
        if not isinstance(self.schedulers, Unset):
            schedulers = self.schedulers

        output_formats: Union[Unset, list[str]] = UNSET
        if not isinstance(self.output_formats, Unset):
            output_formats = self.output_formats

        weights_present = self.weights_present

        warm = self.warm

        templates: Union[None, Unset, list[dict[str, Any]]]
        if isinstance(self.templates, Unset):
            templates = UNSET
        elif isinstance(self.templates, list):
            templates = []
            for templates_type_0_item_data in self.templates:
                templates_type_0_item = templates_type_0_item_data.to_dict()
                templates.append(templates_type_0_item)

        else:
            templates = self.templates

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "name": name,
                "domain": domain,
                "queue": queue,
                "description": description,
                "capabilities": capabilities,
                "defaults": defaults,
                "limits": limits,
                "available": available,
                "weights": weights,
            }
        )
        if schedulers is not UNSET:
            field_dict["schedulers"] = schedulers
        if output_formats is not UNSET:
            field_dict["output_formats"] = output_formats
        if weights_present is not UNSET:
            field_dict["weights_present"] = weights_present
        if warm is not UNSET:
            field_dict["warm"] = warm
        if templates is not UNSET:
            field_dict["templates"] = templates

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.model_info_defaults import ModelInfoDefaults
        from ..models.workflow_template import WorkflowTemplate
        from ..models.model_info_limits import ModelInfoLimits

        d = dict(src_dict)
        name = d.pop("name")

        domain = Domain(d.pop("domain"))

        queue = Queue(d.pop("queue"))

        description = d.pop("description")

        capabilities = cast(list[str], d.pop("capabilities"))

        defaults = ModelInfoDefaults.from_dict(d.pop("defaults"))

        limits = ModelInfoLimits.from_dict(d.pop("limits"))

        available = d.pop("available")

        weights = d.pop("weights")

        schedulers = cast(list[str], d.pop("schedulers", UNSET))

        output_formats = cast(list[str], d.pop("output_formats", UNSET))

        weights_present = d.pop("weights_present", UNSET)

        warm = d.pop("warm", UNSET)

        def _parse_templates(data: object) -> Union[None, Unset, list["WorkflowTemplate"]]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                templates_type_0 = []
                _templates_type_0 = data
                for templates_type_0_item_data in _templates_type_0:
                    templates_type_0_item = WorkflowTemplate.from_dict(templates_type_0_item_data)

                    templates_type_0.append(templates_type_0_item)

                return templates_type_0
            except:  # noqa: E722
                pass
            return cast(Union[None, Unset, list["WorkflowTemplate"]], data)

        templates = _parse_templates(d.pop("templates", UNSET))

        model_info = cls(
            name=name,
            domain=domain,
            queue=queue,
            description=description,
            capabilities=capabilities,
            defaults=defaults,
            limits=limits,
            available=available,
            weights=weights,
            schedulers=schedulers,
            output_formats=output_formats,
            weights_present=weights_present,
            warm=warm,
            templates=templates,
        )

        model_info.additional_properties = d
        return model_info

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
