"""Types every domain shares: statuses, the task record, errors, inputs, model listings."""

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypedDict

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


class Domain(StrEnum):
    images = "images"
    texts = "texts"
    videos = "videos"
    workflows = "workflows"


class Queue(StrEnum):
    gpu = "gpu"
    cpu = "cpu"
    comfy = "comfy"


class Priority(StrEnum):
    """What starts next: every queued interactive task before any normal one, normal before batch."""

    interactive = "interactive"
    normal = "normal"
    batch = "batch"

    @property
    def band(self) -> int:
        """0 for interactive (first), 1 for normal, 2 for batch."""
        return PRIORITY_BANDS[self]


PRIORITY_BANDS: dict[Priority, int] = {priority: band for band, priority in enumerate(Priority)}


PRIORITY_FIELD_DESCRIPTION = (
    "`interactive` starts before any queued `normal` or `batch` task (the key's cap allowing); within a priority, "
    "keys take turns. `batch` suits wedges and overnight work."
)


class TaskStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    def is_terminal(self) -> bool:
        return self in (TaskStatus.succeeded, TaskStatus.failed, TaskStatus.cancelled)


BLOB_REF = re.compile(r"^sha256:[0-9a-f]{64}$")


def _check_input_ref(value: str) -> str:
    if BLOB_REF.match(value) or value.startswith(("data:", "http://", "https://")):
        return value
    raise ValueError("must be a file ref (sha256:<64 hex>), a data: URL or an http(s) URL")


InputRef = Annotated[
    str,
    AfterValidator(_check_input_ref),
    Field(
        description="An input file: a ref from POST /api/files (`sha256:…`), a data URL, or an http(s) URL "
        "on an allowed host.",
    ),
]

# Stand-ins for uploaded files in the named request examples; each example that carries one says
# to upload first. No field-level ref example: Swagger would put one in every optional input at once.
UPLOADED_IMAGE = "sha256:" + "1" * 64
UPLOADED_MASK = "sha256:" + "2" * 64
UPLOAD_FIRST = "Needs an uploaded file: upload a PNG with POST /api/files first, then put the `ref` it returns in place of each `sha256:…` placeholder."


class RequestExample(TypedDict):
    """A named request body as OpenAPI shows it (Swagger UI's examples dropdown)."""

    summary: str
    description: str
    value: dict[str, Any]


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `unknown_model`.")
    message: str = Field(description="What went wrong and what to change.")


class ErrorBody(ErrorInfo):
    details: Any = None


class ErrorResponse(BaseModel):
    """The one error envelope of every endpoint."""

    error: ErrorBody


class Progress(BaseModel):
    step: int = 0
    total: int = 0
    fraction: float = Field(0.0, ge=0, le=1)
    eta_s: float | None = Field(None, description="Seconds left, from the measured time per step.")


class Preview(BaseModel):
    """A small, approximate image of a run in progress (no VAE decode), replaced as it goes."""

    url: str = Field(description="Signed, expiring URL of a PNG.")
    step: int


class Timings(BaseModel):
    queued_s: float | None = Field(None, description="From submit to start of the last attempt.")
    run_s: float | None = Field(None, description="From start to the end of the run.")


class EngineOutput(BaseModel):
    """One result as an engine produces it: a stored file (by ref) or a text. Checked on the
    worker before the record is written, so no engine bug can make a record unreadable."""

    model_config = ConfigDict(extra="forbid")

    ref: str | None = Field(None, description="Blob ref of the file, usable as an input to another request.", pattern=BLOB_REF.pattern)
    content_type: str | None = None
    width: int | None = Field(None, ge=1)
    height: int | None = Field(None, ge=1)
    seed: int | None = None
    text: str | None = None
    reproducibility: dict[str, Any] | None = Field(
        None,
        description="What made this output: model, weights revision, pipeline, scheduler, seed, steps, guidance, size, "
        "LoRAs, library versions, device. Local images also carry it in the file: the PNG's `deferred-diffusion` text "
        "chunk, the EXR header attribute of that name, the JPEG/WebP EXIF ImageDescription.",
    )
    colorspace: str | None = Field(
        None,
        description="Colour space of an image file's pixels: sRGB (png, png16, jpeg, webp), the OpenColorIO working "
        "space of an EXR (e.g. ACEScg, scene-linear), or raw for data (depth maps, mattes).",
    )
    filename: str | None = Field(None, description="The name to save the file as, e.g. <task id>.1001.exr for a frame of a sequence.")
    frame: int | None = Field(None, description="A sequence's frame number, counted from the request's `start_frame`.")

    @model_validator(mode="after")
    def _file_or_text(self) -> "EngineOutput":
        if (self.ref is None) == (self.text is None):
            raise ValueError("an output is either a file (ref) or a text, not both or neither")
        if self.ref is not None and not self.content_type:
            raise ValueError("a file output names its content type")
        return self


WebhookEvent = Literal["running", "succeeded", "failed", "cancelled", "batch_completed"]


class WebhookSpec(BaseModel):
    """Where to POST the task record when it reaches these statuses (Standard Webhooks signed with
    the key's secret; the host must be in DDIFFUSION_WEBHOOK_ALLOWED_HOSTS)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, pattern=r"^https?://", examples=["https://pipeline.studio.internal/hooks/renders"])
    events: list[WebhookEvent] = Field(
        default_factory=lambda: ["succeeded", "failed", "cancelled"], min_length=1, description="`batch_completed` on batches only."
    )


class WebhookDelivery(BaseModel):
    event: WebhookEvent
    status_code: int | None = Field(None, description="The receiver's last answer; null when it could not be reached.")
    attempts: int
    delivered_at: datetime | None = Field(None, description="Set once a 2xx answer came; null while retrying or after giving up.")
    gave_up: bool = False


class WebhookSecret(BaseModel):
    key_id: str
    secret: str = Field(description="`whsec_…`: verify deliveries with it (any Standard Webhooks library); shown this once.")


class TaskOutput(EngineOutput):
    """One result: a file (image, video) with a signed URL, or a text."""

    model_config = ConfigDict(extra="ignore")

    url: str | None = Field(None, description="Signed, expiring download URL; needs no API key.")
    label: str | None = Field(None, description="The label of the batch task that made it (a frame number, a wedge name).")


class TaskRecord(BaseModel):
    """A task as clients see it; the record in Redis is the source of truth, not Celery's backend."""

    id: str
    domain: Domain
    model: str
    status: TaskStatus
    position: int | None = Field(None, description="Tasks ahead of this one in its queue (0 = next); null unless queued.")
    progress: Progress = Progress()
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    timings: Timings = Timings()
    request: dict[str, Any] = Field(default_factory=dict, description="The request as it runs: defaults filled in, sizes snapped, inputs as refs.")
    outputs: list[TaskOutput] = Field(default_factory=list)
    partial_text: str | None = Field(None, description="Texts: what has been generated so far, while running; the answer is in `outputs`.")
    preview: Preview | None = Field(None, description="The latest preview while running, where the model makes them.")
    error: ErrorInfo | None = None
    logs: list[str] = Field(default_factory=list, description="The task's last log lines.")
    attempts: int = Field(0, description="Runs started; more than one after a worker was lost.")
    priority: Priority = Priority.normal
    webhooks: list[WebhookDelivery] = Field(default_factory=list, description="Each webhook event and how its delivery went.")
    batch: str | None = Field(None, description="The batch this task belongs to (GET /api/batches/{batch}).")
    label: str | None = Field(None, description="Its label in that batch.")


class TaskPage(BaseModel):
    """One page of a key's tasks, newest first."""

    tasks: list[TaskRecord]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next (older) page; null on the last one.")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class LiveWorker(BaseModel):
    """One worker as its last heartbeat describes it."""

    name: str = Field(description="Celery hostname, unique per machine and device (e.g. gpu-0@render07).")
    queues: list[str]
    warm: list[str] = Field(description="Models it holds loaded: tasks of these go to it first.")
    loads: int = Field(description="Model loads its processes have made since they started.")
    seen_s: float = Field(description="Seconds since its last heartbeat.")


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    redis: Literal["ok", "unreachable"]
    workers: dict[str, int] = Field(description="Live workers per queue.")
    live: list[LiveWorker] = Field(default_factory=list, description="Every live worker, by name.")


class QueueDemand(BaseModel):
    queued: int = Field(description="Tasks waiting (a task a worker has prefetched still counts here until it starts).")
    running: int
    workers: int = Field(description="Live workers on this queue.")
    demand: int = Field(description="queued + running: the task slots this queue could use now (what to autoscale on).")


class Scaling(BaseModel):
    """What an autoscaler (KEDA's metrics-api scaler) reads: per queue, e.g. `queues.gpu.demand`."""

    queues: dict[str, QueueDemand]


class TaskCreated(BaseModel):
    id: str
    status: TaskStatus = TaskStatus.queued
    position: int | None = None


class FileUploaded(BaseModel):
    ref: str = Field(description="Content address, usable as an input in requests.")
    url: str = Field(description="Signed, expiring download URL.")
    content_type: str
    size: int


class WorkflowTemplate(BaseModel):
    """A trusted ComfyUI template and what a request may set in it."""

    name: str = Field(description="The request's `template`.")
    description: str
    patchable: dict[str, list[str]] = Field(description="Node title (or id) → its settable inputs, for `patches`.")
    inputs: list[str] = Field(description="Image loader nodes by title (or id): each needs a file in `inputs`.")


class ModelInfo(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    domain: Domain
    queue: Queue
    description: str
    capabilities: list[str]
    defaults: dict[str, Any]
    limits: dict[str, Any]
    available: bool = Field(
        description="A live worker on the model's queue can run it now: its weights are present, or the worker may download "
        "them (DDIFFUSION_ALLOW_DOWNLOADS; the first task fetches them), or its provider is configured."
    )
    schedulers: list[str] = Field(default_factory=list, description="Schedulers a request may pick, the default first; empty: the model's own.")
    output_formats: list[str] = Field(
        default_factory=list, description="The `output_format` values a request may ask for, the default first; empty: no files."
    )
    weights_present: bool = Field(
        False,
        description="A live worker has the weights on disk, in its models dir or its Hugging Face cache (always false for "
        "hosted models). Available but not present: the first task downloads them.",
    )
    warm: bool = Field(False, description="A live worker holds the model loaded: no load time before the next task.")
    weights: str = Field(
        description="Where workers look for the weights: <models dir>/<weights> first, then the Hugging Face cache when it "
        "is a repo id (owner/name); `ddiffusion models pull NAME` puts them there."
    )
    templates: list[WorkflowTemplate] | None = Field(None, description="ComfyUI: the workflow templates a request can name.")
