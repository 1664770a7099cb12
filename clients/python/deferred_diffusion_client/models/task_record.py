from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.domain import Domain
from ..models.priority import Priority
from ..models.task_status import TaskStatus
from dateutil.parser import isoparse
from typing import cast
from typing import Union
import datetime

if TYPE_CHECKING:
    from ..models.webhook_delivery import WebhookDelivery
    from ..models.preview import Preview
    from ..models.task_output import TaskOutput
    from ..models.error_info import ErrorInfo
    from ..models.timings import Timings
    from ..models.task_record_request import TaskRecordRequest
    from ..models.progress import Progress


T = TypeVar("T", bound="TaskRecord")


@_attrs_define
class TaskRecord:
    """A task as clients see it; the record in Redis is the source of truth, not Celery's backend.

    Attributes:
        id (str):
        domain (Domain):
        model (str):
        status (TaskStatus):
        created_at (datetime.datetime):
        position (Union[None, Unset, int]): Tasks ahead of this one in its queue (0 = next); null unless queued.
        progress (Union[Unset, Progress]):
        started_at (Union[None, Unset, datetime.datetime]):
        finished_at (Union[None, Unset, datetime.datetime]):
        timings (Union[Unset, Timings]):
        request (Union[Unset, TaskRecordRequest]): The request as it runs: defaults filled in, sizes snapped, inputs as
            refs.
        outputs (Union[Unset, list['TaskOutput']]):
        partial_text (Union[None, Unset, str]): Texts: what has been generated so far, while running; the answer is in
            `outputs`.
        preview (Union['Preview', None, Unset]): The latest preview while running, where the model makes them.
        error (Union['ErrorInfo', None, Unset]):
        logs (Union[Unset, list[str]]): The task's last log lines.
        attempts (Union[Unset, int]): Runs started; more than one after a worker was lost. Default: 0.
        priority (Union[Unset, Priority]): What starts next: every queued interactive task before any normal one, normal
            before batch.
        webhooks (Union[Unset, list['WebhookDelivery']]): Each webhook event and how its delivery went.
        batch (Union[None, Unset, str]): The batch this task belongs to (GET /api/batches/{batch}).
        label (Union[None, Unset, str]): Its label in that batch.
    """

    id: str
    domain: Domain
    model: str
    status: TaskStatus
    created_at: datetime.datetime
    position: Union[None, Unset, int] = UNSET
    progress: Union[Unset, "Progress"] = UNSET
    started_at: Union[None, Unset, datetime.datetime] = UNSET
    finished_at: Union[None, Unset, datetime.datetime] = UNSET
    timings: Union[Unset, "Timings"] = UNSET
    request: Union[Unset, "TaskRecordRequest"] = UNSET
    outputs: Union[Unset, list["TaskOutput"]] = UNSET
    partial_text: Union[None, Unset, str] = UNSET
    preview: Union["Preview", None, Unset] = UNSET
    error: Union["ErrorInfo", None, Unset] = UNSET
    logs: Union[Unset, list[str]] = UNSET
    attempts: Union[Unset, int] = 0
    priority: Union[Unset, Priority] = UNSET
    webhooks: Union[Unset, list["WebhookDelivery"]] = UNSET
    batch: Union[None, Unset, str] = UNSET
    label: Union[None, Unset, str] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.preview import Preview
        from ..models.error_info import ErrorInfo

        id = self.id

        domain = self.domain.value

        model = self.model

        status = self.status.value

        created_at = self.created_at.isoformat()

        position: Union[None, Unset, int]
        if isinstance(self.position, Unset):
            position = UNSET
        else:
            position = self.position

        progress: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.progress, Unset):
            progress = self.progress.to_dict()

        started_at: Union[None, Unset, str]
        if isinstance(self.started_at, Unset):
            started_at = UNSET
        elif isinstance(self.started_at, datetime.datetime):
            started_at = self.started_at.isoformat()
        else:
            started_at = self.started_at

        finished_at: Union[None, Unset, str]
        if isinstance(self.finished_at, Unset):
            finished_at = UNSET
        elif isinstance(self.finished_at, datetime.datetime):
            finished_at = self.finished_at.isoformat()
        else:
            finished_at = self.finished_at

        timings: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.timings, Unset):
            timings = self.timings.to_dict()

        request: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.request, Unset):
            request = self.request.to_dict()

        outputs: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.outputs, Unset):
            outputs = []
            for outputs_item_data in self.outputs:
                outputs_item = outputs_item_data.to_dict()
                outputs.append(outputs_item)

        partial_text: Union[None, Unset, str]
        if isinstance(self.partial_text, Unset):
            partial_text = UNSET
        else:
            partial_text = self.partial_text

        preview: Union[None, Unset, dict[str, Any]]
        if isinstance(self.preview, Unset):
            preview = UNSET
        elif isinstance(self.preview, Preview):
            preview = self.preview.to_dict()
        else:
            preview = self.preview

        error: Union[None, Unset, dict[str, Any]]
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, ErrorInfo):
            error = self.error.to_dict()
        else:
            error = self.error

        logs: Union[Unset, list[str]] = UNSET
        if not isinstance(self.logs, Unset):
            logs = self.logs

        attempts = self.attempts

        priority: Union[Unset, str] = UNSET
        if not isinstance(self.priority, Unset):
            priority = self.priority.value

        webhooks: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.webhooks, Unset):
            webhooks = []
            for webhooks_item_data in self.webhooks:
                webhooks_item = webhooks_item_data.to_dict()
                webhooks.append(webhooks_item)

        batch: Union[None, Unset, str]
        if isinstance(self.batch, Unset):
            batch = UNSET
        else:
            batch = self.batch

        label: Union[None, Unset, str]
        if isinstance(self.label, Unset):
            label = UNSET
        else:
            label = self.label

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "domain": domain,
                "model": model,
                "status": status,
                "created_at": created_at,
            }
        )
        if position is not UNSET:
            field_dict["position"] = position
        if progress is not UNSET:
            field_dict["progress"] = progress
        if started_at is not UNSET:
            field_dict["started_at"] = started_at
        if finished_at is not UNSET:
            field_dict["finished_at"] = finished_at
        if timings is not UNSET:
            field_dict["timings"] = timings
        if request is not UNSET:
            field_dict["request"] = request
        if outputs is not UNSET:
            field_dict["outputs"] = outputs
        if partial_text is not UNSET:
            field_dict["partial_text"] = partial_text
        if preview is not UNSET:
            field_dict["preview"] = preview
        if error is not UNSET:
            field_dict["error"] = error
        if logs is not UNSET:
            field_dict["logs"] = logs
        if attempts is not UNSET:
            field_dict["attempts"] = attempts
        if priority is not UNSET:
            field_dict["priority"] = priority
        if webhooks is not UNSET:
            field_dict["webhooks"] = webhooks
        if batch is not UNSET:
            field_dict["batch"] = batch
        if label is not UNSET:
            field_dict["label"] = label

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.webhook_delivery import WebhookDelivery
        from ..models.preview import Preview
        from ..models.task_output import TaskOutput
        from ..models.error_info import ErrorInfo
        from ..models.timings import Timings
        from ..models.task_record_request import TaskRecordRequest
        from ..models.progress import Progress

        d = dict(src_dict)
        id = d.pop("id")

        domain = Domain(d.pop("domain"))

        model = d.pop("model")

        status = TaskStatus(d.pop("status"))

        created_at = isoparse(d.pop("created_at"))

        def _parse_position(data: object) -> Union[None, Unset, int]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, int], data)

        position = _parse_position(d.pop("position", UNSET))

        _progress = d.pop("progress", UNSET)
        progress: Union[Unset, Progress]
        if isinstance(_progress, Unset):
            progress = UNSET
        else:
            progress = Progress.from_dict(_progress)

        def _parse_started_at(data: object) -> Union[None, Unset, datetime.datetime]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                started_at_type_0 = isoparse(data)

                return started_at_type_0
            except:  # noqa: E722
                pass
            return cast(Union[None, Unset, datetime.datetime], data)

        started_at = _parse_started_at(d.pop("started_at", UNSET))

        def _parse_finished_at(data: object) -> Union[None, Unset, datetime.datetime]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finished_at_type_0 = isoparse(data)

                return finished_at_type_0
            except:  # noqa: E722
                pass
            return cast(Union[None, Unset, datetime.datetime], data)

        finished_at = _parse_finished_at(d.pop("finished_at", UNSET))

        _timings = d.pop("timings", UNSET)
        timings: Union[Unset, Timings]
        if isinstance(_timings, Unset):
            timings = UNSET
        else:
            timings = Timings.from_dict(_timings)

        _request = d.pop("request", UNSET)
        request: Union[Unset, TaskRecordRequest]
        if isinstance(_request, Unset):
            request = UNSET
        else:
            request = TaskRecordRequest.from_dict(_request)

        outputs = []
        _outputs = d.pop("outputs", UNSET)
        for outputs_item_data in _outputs or []:
            outputs_item = TaskOutput.from_dict(outputs_item_data)

            outputs.append(outputs_item)

        def _parse_partial_text(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        partial_text = _parse_partial_text(d.pop("partial_text", UNSET))

        def _parse_preview(data: object) -> Union["Preview", None, Unset]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                preview_type_0 = Preview.from_dict(data)

                return preview_type_0
            except:  # noqa: E722
                pass
            return cast(Union["Preview", None, Unset], data)

        preview = _parse_preview(d.pop("preview", UNSET))

        def _parse_error(data: object) -> Union["ErrorInfo", None, Unset]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_type_0 = ErrorInfo.from_dict(data)

                return error_type_0
            except:  # noqa: E722
                pass
            return cast(Union["ErrorInfo", None, Unset], data)

        error = _parse_error(d.pop("error", UNSET))

        logs = cast(list[str], d.pop("logs", UNSET))

        attempts = d.pop("attempts", UNSET)

        _priority = d.pop("priority", UNSET)
        priority: Union[Unset, Priority]
        if isinstance(_priority, Unset):
            priority = UNSET
        else:
            priority = Priority(_priority)

        webhooks = []
        _webhooks = d.pop("webhooks", UNSET)
        for webhooks_item_data in _webhooks or []:
            webhooks_item = WebhookDelivery.from_dict(webhooks_item_data)

            webhooks.append(webhooks_item)

        def _parse_batch(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        batch = _parse_batch(d.pop("batch", UNSET))

        def _parse_label(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        label = _parse_label(d.pop("label", UNSET))

        task_record = cls(
            id=id,
            domain=domain,
            model=model,
            status=status,
            created_at=created_at,
            position=position,
            progress=progress,
            started_at=started_at,
            finished_at=finished_at,
            timings=timings,
            request=request,
            outputs=outputs,
            partial_text=partial_text,
            preview=preview,
            error=error,
            logs=logs,
            attempts=attempts,
            priority=priority,
            webhooks=webhooks,
            batch=batch,
            label=label,
        )

        task_record.additional_properties = d
        return task_record

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
