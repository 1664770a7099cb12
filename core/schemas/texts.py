from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.schemas.common import PRIORITY_FIELD_DESCRIPTION, UPLOAD_FIRST, UPLOADED_IMAGE, InputRef, Priority, RequestExample, WebhookSpec

_MESSAGES = [{"role": "user", "content": "Name three colours of a sunset."}]
_CHAT = {"model": "tiny-llm", "messages": _MESSAGES, "max_tokens": 32}
# The first is the default body in Swagger UI: it needs nothing but the embedded tiny-llm.
TEXT_EXAMPLES: dict[str, RequestExample] = {
    "chat": {"summary": "Chat (tiny-llm, needs nothing)", "description": "One user message, on the built-in tiny model.", "value": _CHAT},
    "vision": {
        "summary": "Chat about an image (upload the image first)",
        "description": f"{UPLOAD_FIRST} Images go in user messages, for models with the `vision` capability.",
        "value": _CHAT
        | {"model": "tiny-vlm", "messages": [{"role": "user", "content": [{"type": "text", "text": "What is in this picture?"}, {"type": "image", "image": UPLOADED_IMAGE}]}]},
    },
}


class ChatTextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: str = Field(max_length=100_000)


class ChatImagePart(BaseModel):
    """An image shown to a vision model; stored in the blob store before the task is queued."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["image"]
    image: InputRef


ContentPart = Annotated[ChatTextPart | ChatImagePart, Field(discriminator="type")]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: Annotated[str, Field(max_length=100_000)] | Annotated[list[ContentPart], Field(min_length=1, max_length=32)] = Field(
        description="Text, or a list of text and image parts (images for models with the `vision` capability, in user messages)."
    )

    @model_validator(mode="after")
    def _images_from_the_user_only(self) -> "ChatMessage":
        # Providers accept images in user turns only; refusing here beats a provider 400 later.
        if self.role != "user" and self.image_refs():
            raise ValueError("image parts are allowed in user messages only")
        return self

    def image_refs(self) -> list[str]:
        if isinstance(self.content, str):
            return []
        return [part.image for part in self.content if isinstance(part, ChatImagePart)]


class TextRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), json_schema_extra={"example": _CHAT})

    webhook: WebhookSpec | None = Field(None, description="POST the record to a URL of yours when the task starts or ends.")
    priority: Priority = Field(Priority.normal, description=PRIORITY_FIELD_DESCRIPTION)

    model: str = Field(examples=["tiny-llm"], max_length=200, description="A model from GET /api/texts/models; `available` says it runs here.")
    messages: list[ChatMessage] = Field(min_length=1, max_length=200, examples=[_MESSAGES])
    max_tokens: int = Field(256, ge=1, le=8192)
    temperature: float = Field(0.7, ge=0, le=2)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
