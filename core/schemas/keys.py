from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, examples=["nuke-comp-01"])


class ApiKeyInfo(BaseModel):
    id: str
    name: str
    created_at: datetime


class ApiKeyCreated(ApiKeyInfo):
    key: str = Field(description="The secret key, shown this once: store it now.")
