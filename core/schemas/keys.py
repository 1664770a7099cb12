from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from core.schemas.common import Priority

_CAP = "The highest `priority` this key may ask for; a submit above it is refused with 403."


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, examples=["nuke-comp-01"])
    max_priority: Priority = Field(Priority.interactive, description=_CAP)


class ApiKeyInfo(BaseModel):
    id: str
    name: str
    created_at: datetime
    max_priority: Priority = Field(Priority.interactive, description=_CAP)


class ApiKeyCreated(ApiKeyInfo):
    key: str = Field(description="The secret key, shown this once: store it now.")


class PriorityCap(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_priority: Priority = Field(description=_CAP, examples=["normal"])
