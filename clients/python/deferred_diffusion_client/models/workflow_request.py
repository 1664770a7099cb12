from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from ..models.priority import Priority
from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.workflow_request_workflow_type_0 import WorkflowRequestWorkflowType0
    from ..models.webhook_spec import WebhookSpec
    from ..models.workflow_request_patches import WorkflowRequestPatches
    from ..models.workflow_request_inputs import WorkflowRequestInputs


T = TypeVar("T", bound="WorkflowRequest")


@_attrs_define
class WorkflowRequest:
    """A ComfyUI graph in API format, or the name of a trusted template, with patches and inputs.

    Example:
        {'model': 'comfyui', 'patches': {'positive': {'text': 'a lighthouse on a cliff at dusk'}}, 'template':
            'txt2img'}

    Attributes:
        webhook (Union['WebhookSpec', None, Unset]): POST the record to a URL of yours when the task starts or ends.
        priority (Union[Unset, Priority]): What starts next: every queued interactive task before any normal one, normal
            before batch.
        model (Union[Unset, str]): The ComfyUI backend to run on. Default: 'comfyui'.
        workflow (Union['WorkflowRequestWorkflowType0', None, Unset]): An API-format ComfyUI graph; give this or
            `template`, not both.
        template (Union[None, Unset, str]): A trusted template; GET /api/workflows/models lists them. Give this or
            `workflow`, not both.
        patches (Union[Unset, WorkflowRequestPatches]): Node title or id → inputs to set.
        inputs (Union[Unset, WorkflowRequestInputs]): Node title or id → input file.
    """

    webhook: Union["WebhookSpec", None, Unset] = UNSET
    priority: Union[Unset, Priority] = UNSET
    model: Union[Unset, str] = "comfyui"
    workflow: Union["WorkflowRequestWorkflowType0", None, Unset] = UNSET
    template: Union[None, Unset, str] = UNSET
    patches: Union[Unset, "WorkflowRequestPatches"] = UNSET
    inputs: Union[Unset, "WorkflowRequestInputs"] = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.workflow_request_workflow_type_0 import WorkflowRequestWorkflowType0
        from ..models.webhook_spec import WebhookSpec

        webhook: Union[None, Unset, dict[str, Any]]
        if isinstance(self.webhook, Unset):
            webhook = UNSET
        elif isinstance(self.webhook, WebhookSpec):
            webhook = self.webhook.to_dict()
        else:
            webhook = self.webhook

        priority: Union[Unset, str] = UNSET
        if not isinstance(self.priority, Unset):
            priority = self.priority.value

        model = self.model

        workflow: Union[None, Unset, dict[str, Any]]
        if isinstance(self.workflow, Unset):
            workflow = UNSET
        elif isinstance(self.workflow, WorkflowRequestWorkflowType0):
            workflow = self.workflow.to_dict()
        else:
            workflow = self.workflow

        template: Union[None, Unset, str]
        if isinstance(self.template, Unset):
            template = UNSET
        else:
            template = self.template

        patches: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.patches, Unset):
            patches = self.patches.to_dict()

        inputs: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.inputs, Unset):
            inputs = self.inputs.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if webhook is not UNSET:
            field_dict["webhook"] = webhook
        if priority is not UNSET:
            field_dict["priority"] = priority
        if model is not UNSET:
            field_dict["model"] = model
        if workflow is not UNSET:
            field_dict["workflow"] = workflow
        if template is not UNSET:
            field_dict["template"] = template
        if patches is not UNSET:
            field_dict["patches"] = patches
        if inputs is not UNSET:
            field_dict["inputs"] = inputs

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.workflow_request_workflow_type_0 import WorkflowRequestWorkflowType0
        from ..models.webhook_spec import WebhookSpec
        from ..models.workflow_request_patches import WorkflowRequestPatches
        from ..models.workflow_request_inputs import WorkflowRequestInputs

        d = dict(src_dict)

        def _parse_webhook(data: object) -> Union["WebhookSpec", None, Unset]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                webhook_type_0 = WebhookSpec.from_dict(data)

                return webhook_type_0
            except:  # noqa: E722
                pass
            return cast(Union["WebhookSpec", None, Unset], data)

        webhook = _parse_webhook(d.pop("webhook", UNSET))

        _priority = d.pop("priority", UNSET)
        priority: Union[Unset, Priority]
        if isinstance(_priority, Unset):
            priority = UNSET
        else:
            priority = Priority(_priority)

        model = d.pop("model", UNSET)

        def _parse_workflow(data: object) -> Union["WorkflowRequestWorkflowType0", None, Unset]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                workflow_type_0 = WorkflowRequestWorkflowType0.from_dict(data)

                return workflow_type_0
            except:  # noqa: E722
                pass
            return cast(Union["WorkflowRequestWorkflowType0", None, Unset], data)

        workflow = _parse_workflow(d.pop("workflow", UNSET))

        def _parse_template(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        template = _parse_template(d.pop("template", UNSET))

        _patches = d.pop("patches", UNSET)
        patches: Union[Unset, WorkflowRequestPatches]
        if isinstance(_patches, Unset):
            patches = UNSET
        else:
            patches = WorkflowRequestPatches.from_dict(_patches)

        _inputs = d.pop("inputs", UNSET)
        inputs: Union[Unset, WorkflowRequestInputs]
        if isinstance(_inputs, Unset):
            inputs = UNSET
        else:
            inputs = WorkflowRequestInputs.from_dict(_inputs)

        workflow_request = cls(
            webhook=webhook,
            priority=priority,
            model=model,
            workflow=workflow,
            template=template,
            patches=patches,
            inputs=inputs,
        )

        return workflow_request
