from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from ..models.priority import Priority
from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.webhook_spec import WebhookSpec
    from ..models.chat_message import ChatMessage


T = TypeVar("T", bound="TextRequest")


@_attrs_define
class TextRequest:
    """
    Example:
        {'max_tokens': 32, 'messages': [{'content': 'Name three colours of a sunset.', 'role': 'user'}], 'model': 'tiny-
            llm'}

    Attributes:
        model (str): A model from GET /api/texts/models; `available` says it runs here.
        messages (list['ChatMessage']):
        webhook (Union['WebhookSpec', None, Unset]): POST the record to a URL of yours when the task starts or ends.
        priority (Union[Unset, Priority]): What starts next: every queued interactive task before any normal one, normal
            before batch.
        max_tokens (Union[Unset, int]):  Default: 256.
        temperature (Union[Unset, float]):  Default: 0.7.
        seed (Union[None, Unset, int]):
    """

    model: str
    messages: list["ChatMessage"]
    webhook: Union["WebhookSpec", None, Unset] = UNSET
    priority: Union[Unset, Priority] = UNSET
    max_tokens: Union[Unset, int] = 256
    temperature: Union[Unset, float] = 0.7
    seed: Union[None, Unset, int] = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.webhook_spec import WebhookSpec

        model = self.model

        messages = []
        for messages_item_data in self.messages:
            messages_item = messages_item_data.to_dict()
            messages.append(messages_item)

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

        max_tokens = self.max_tokens

        temperature = self.temperature

        seed: Union[None, Unset, int]
        if isinstance(self.seed, Unset):
            seed = UNSET
        else:
            seed = self.seed

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "model": model,
                "messages": messages,
            }
        )
        if webhook is not UNSET:
            field_dict["webhook"] = webhook
        if priority is not UNSET:
            field_dict["priority"] = priority
        if max_tokens is not UNSET:
            field_dict["max_tokens"] = max_tokens
        if temperature is not UNSET:
            field_dict["temperature"] = temperature
        if seed is not UNSET:
            field_dict["seed"] = seed

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.webhook_spec import WebhookSpec
        from ..models.chat_message import ChatMessage

        d = dict(src_dict)
        model = d.pop("model")

        messages = []
        _messages = d.pop("messages")
        for messages_item_data in _messages:
            messages_item = ChatMessage.from_dict(messages_item_data)

            messages.append(messages_item)

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

        max_tokens = d.pop("max_tokens", UNSET)

        temperature = d.pop("temperature", UNSET)

        def _parse_seed(data: object) -> Union[None, Unset, int]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, int], data)

        seed = _parse_seed(d.pop("seed", UNSET))

        text_request = cls(
            model=model,
            messages=messages,
            webhook=webhook,
            priority=priority,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
        )

        return text_request
