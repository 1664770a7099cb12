from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.schemas.common import InputRef


class WorkflowRequest(BaseModel):
    """A ComfyUI graph in API format, or the name of a trusted template, with patches and inputs."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field("comfyui", max_length=200, description="The ComfyUI backend to run on.")
    workflow: dict[str, Any] | None = Field(None, description="An API-format ComfyUI graph.")
    template: str | None = Field(None, max_length=200, description="A trusted template; GET /api/workflows/models lists them.")
    patches: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Node title or id → inputs to set.")
    inputs: dict[str, InputRef] = Field(default_factory=dict, description="Node title or id → input file.")
