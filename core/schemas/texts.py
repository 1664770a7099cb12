from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=100_000)


class TextRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(examples=["tiny-llm"], max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    max_tokens: int = Field(256, ge=1, le=8192)
    temperature: float = Field(0.7, ge=0, le=2)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
