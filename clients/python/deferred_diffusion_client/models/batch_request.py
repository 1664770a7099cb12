from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from ..models.domain import Domain
from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.batch_request_base import BatchRequestBase
    from ..models.batch_request_vary import BatchRequestVary
    from ..models.webhook_spec import WebhookSpec
    from ..models.batch_request_requests_type_0_item import BatchRequestRequestsType0Item


T = TypeVar("T", bound="BatchRequest")


@_attrs_define
class BatchRequest:
    """A `base` request of one domain, with `vary` (a cross product of values per field), or an
    explicit list of `requests` merged over the base; `labels` name the tasks in order (frame
    numbers, wedge names) and come back on each task and output.

        Example:
            {'base': {'height': 64, 'model': 'tiny-sd', 'prompt': 'a red teapot', 'steps': 4, 'width': 64}, 'domain':
                'images', 'vary': {'guidance': [5, 7.5], 'seed': {'from': 1, 'to': 4}}}

        Attributes:
            domain (Domain):
            base (Union[Unset, BatchRequestBase]): Fields every task shares: a request of `domain`.
            vary (Union[Unset, BatchRequestVary]): Per field, a list of values or a range; every combination is one task.
            requests (Union[None, Unset, list['BatchRequestRequestsType0Item']]): Instead of `vary`: each one task, over
                `base`.
            labels (Union[None, Unset, list[str]]): One per task, in order: kept on the task and its outputs.
            webhook (Union['WebhookSpec', None, Unset]): For every task of the batch, and `batch_completed` once all have
                ended.
    """

    domain: Domain
    base: Union[Unset, "BatchRequestBase"] = UNSET
    vary: Union[Unset, "BatchRequestVary"] = UNSET
    requests: Union[None, Unset, list["BatchRequestRequestsType0Item"]] = UNSET
    labels: Union[None, Unset, list[str]] = UNSET
    webhook: Union["WebhookSpec", None, Unset] = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.webhook_spec import WebhookSpec

        domain = self.domain.value

        base: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.base, Unset):
            base = self.base.to_dict()

        vary: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.vary, Unset):
            vary = self.vary.to_dict()

        requests: Union[None, Unset, list[dict[str, Any]]]
        if isinstance(self.requests, Unset):
            requests = UNSET
        elif isinstance(self.requests, list):
            requests = []
            for requests_type_0_item_data in self.requests:
                requests_type_0_item = requests_type_0_item_data.to_dict()
                requests.append(requests_type_0_item)

        else:
            requests = self.requests

        labels: Union[None, Unset, list[str]]
        if isinstance(self.labels, Unset):
            labels = UNSET
        elif isinstance(self.labels, list):
            labels = self.labels

        else:
            labels = self.labels

        webhook: Union[None, Unset, dict[str, Any]]
        if isinstance(self.webhook, Unset):
            webhook = UNSET
        elif isinstance(self.webhook, WebhookSpec):
            webhook = self.webhook.to_dict()
        else:
            webhook = self.webhook

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "domain": domain,
            }
        )
        if base is not UNSET:
            field_dict["base"] = base
        if vary is not UNSET:
            field_dict["vary"] = vary
        if requests is not UNSET:
            field_dict["requests"] = requests
        if labels is not UNSET:
            field_dict["labels"] = labels
        if webhook is not UNSET:
            field_dict["webhook"] = webhook

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.batch_request_base import BatchRequestBase
        from ..models.batch_request_vary import BatchRequestVary
        from ..models.webhook_spec import WebhookSpec
        from ..models.batch_request_requests_type_0_item import BatchRequestRequestsType0Item

        d = dict(src_dict)
        domain = Domain(d.pop("domain"))

        _base = d.pop("base", UNSET)
        base: Union[Unset, BatchRequestBase]
        if isinstance(_base, Unset):
            base = UNSET
        else:
            base = BatchRequestBase.from_dict(_base)

        _vary = d.pop("vary", UNSET)
        vary: Union[Unset, BatchRequestVary]
        if isinstance(_vary, Unset):
            vary = UNSET
        else:
            vary = BatchRequestVary.from_dict(_vary)

        def _parse_requests(data: object) -> Union[None, Unset, list["BatchRequestRequestsType0Item"]]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                requests_type_0 = []
                _requests_type_0 = data
                for requests_type_0_item_data in _requests_type_0:
                    requests_type_0_item = BatchRequestRequestsType0Item.from_dict(requests_type_0_item_data)

                    requests_type_0.append(requests_type_0_item)

                return requests_type_0
            except:  # noqa: E722
                pass
            return cast(Union[None, Unset, list["BatchRequestRequestsType0Item"]], data)

        requests = _parse_requests(d.pop("requests", UNSET))

        def _parse_labels(data: object) -> Union[None, Unset, list[str]]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                labels_type_0 = cast(list[str], data)

                return labels_type_0
            except:  # noqa: E722
                pass
            return cast(Union[None, Unset, list[str]], data)

        labels = _parse_labels(d.pop("labels", UNSET))

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

        batch_request = cls(
            domain=domain,
            base=base,
            vary=vary,
            requests=requests,
            labels=labels,
            webhook=webhook,
        )

        return batch_request
