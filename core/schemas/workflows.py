from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.schemas.common import PRIORITY_FIELD_DESCRIPTION, UPLOAD_FIRST, UPLOADED_IMAGE, InputRef, Priority, RequestExample, WebhookSpec

_TEMPLATE = {"model": "comfyui", "template": "txt2img", "patches": {"positive": {"text": "a lighthouse on a cliff at dusk"}}}
# The first is the default body in Swagger UI: a template shipped in comfy_sidecar/workflows, no inputs.
WORKFLOW_EXAMPLES: dict[str, RequestExample] = {
    "template": {
        "summary": "A shipped template with a patch (needs nothing)",
        "description": "The `txt2img` template with its `positive` node's text set; GET /api/workflows/models lists the "
        "templates and what each lets you patch.",
        "value": _TEMPLATE,
    },
    "template_with_input": {
        "summary": "A template with an input image (upload the image first)",
        "description": f"{UPLOAD_FIRST} The `img2img` template loads it in its `input` node.",
        "value": {"model": "comfyui", "template": "img2img", "inputs": {"input": UPLOADED_IMAGE}},
    },
}


class WorkflowRequest(BaseModel):
    """A ComfyUI graph in API format, or the name of a trusted template, with patches and inputs."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), json_schema_extra={"example": _TEMPLATE})

    webhook: WebhookSpec | None = Field(None, description="POST the record to a URL of yours when the task starts or ends.")
    priority: Priority = Field(Priority.normal, description=PRIORITY_FIELD_DESCRIPTION)

    model: str = Field("comfyui", max_length=200, description="The ComfyUI backend to run on.")
    workflow: dict[str, Any] | None = Field(None, description="An API-format ComfyUI graph; give this or `template`, not both.")
    template: str | None = Field(
        None, max_length=200, examples=["txt2img"], description="A trusted template; GET /api/workflows/models lists them. Give this or `workflow`, not both."
    )
    patches: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Node title or id → inputs to set.")
    inputs: dict[str, InputRef] = Field(default_factory=dict, description="Node title or id → input file.")
