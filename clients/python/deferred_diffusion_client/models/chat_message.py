from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define


from ..models.chat_message_role import ChatMessageRole
from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.chat_text_part import ChatTextPart
    from ..models.chat_image_part import ChatImagePart


T = TypeVar("T", bound="ChatMessage")


@_attrs_define
class ChatMessage:
    """
    Attributes:
        role (ChatMessageRole):
        content (Union[list[Union['ChatImagePart', 'ChatTextPart']], str]): Text, or a list of text and image parts
            (images for models with the `vision` capability, in user messages).
    """

    role: ChatMessageRole
    content: Union[list[Union["ChatImagePart", "ChatTextPart"]], str]

    def to_dict(self) -> dict[str, Any]:
        from ..models.chat_text_part import ChatTextPart

        role = self.role.value

        content: Union[list[dict[str, Any]], str]
        if isinstance(self.content, list):
            content = []
            for content_type_1_item_data in self.content:
                content_type_1_item: dict[str, Any]
                if isinstance(content_type_1_item_data, ChatTextPart):
                    content_type_1_item = content_type_1_item_data.to_dict()
                else:
                    content_type_1_item = content_type_1_item_data.to_dict()

                content.append(content_type_1_item)

        else:
            content = self.content

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "role": role,
                "content": content,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.chat_text_part import ChatTextPart
        from ..models.chat_image_part import ChatImagePart

        d = dict(src_dict)
        role = ChatMessageRole(d.pop("role"))

        def _parse_content(data: object) -> Union[list[Union["ChatImagePart", "ChatTextPart"]], str]:
            try:
                if not isinstance(data, list):
                    raise TypeError()
                content_type_1 = []
                _content_type_1 = data
                for content_type_1_item_data in _content_type_1:

                    def _parse_content_type_1_item(data: object) -> Union["ChatImagePart", "ChatTextPart"]:
                        try:
                            if not isinstance(data, dict):
                                raise TypeError()
                            content_type_1_item_type_0 = ChatTextPart.from_dict(data)

                            return content_type_1_item_type_0
                        except:  # noqa: E722
                            pass
                        if not isinstance(data, dict):
                            raise TypeError()
                        content_type_1_item_type_1 = ChatImagePart.from_dict(data)

                        return content_type_1_item_type_1

                    content_type_1_item = _parse_content_type_1_item(content_type_1_item_data)

                    content_type_1.append(content_type_1_item)

                return content_type_1
            except:  # noqa: E722
                pass
            return cast(Union[list[Union["ChatImagePart", "ChatTextPart"]], str], data)

        content = _parse_content(d.pop("content"))

        chat_message = cls(
            role=role,
            content=content,
        )

        return chat_message
