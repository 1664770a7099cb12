"""Contracts shared by api and workers: one definition of every request, record and listing."""

from core.schemas.batches import BatchCreated, BatchRecord, BatchRequest, BatchTask, Range
from core.schemas.common import (
    Domain,
    EngineOutput,
    ErrorBody,
    ErrorInfo,
    ErrorResponse,
    FileUploaded,
    Health,
    InputRef,
    LiveWorker,
    ModelInfo,
    Preview,
    Priority,
    Progress,
    Queue,
    QueueDemand,
    Readiness,
    RequestExample,
    Scaling,
    TaskCreated,
    TaskOutput,
    TaskPage,
    TaskRecord,
    TaskStatus,
    Timings,
    WebhookDelivery,
    WebhookSecret,
    WebhookSpec,
    WorkflowTemplate,
)
from core.schemas.images import IMAGE_EXAMPLES, ImageRequest, LoraSpec
from core.schemas.index import ApiIndex, DomainLinks
from core.schemas.keys import ApiKeyCreate, ApiKeyCreated, ApiKeyInfo, PriorityCap
from core.schemas.texts import TEXT_EXAMPLES, ChatMessage, TextRequest
from core.schemas.usage import Quota, QuotaSet, UsageDay, UsageReport
from core.schemas.videos import VIDEO_EXAMPLES, VideoRequest
from core.schemas.workflows import WORKFLOW_EXAMPLES, WorkflowRequest

TaskRequest = ImageRequest | TextRequest | VideoRequest | WorkflowRequest

REQUEST_TYPES: dict[Domain, type[TaskRequest]] = {
    Domain.images: ImageRequest,
    Domain.texts: TextRequest,
    Domain.videos: VideoRequest,
    Domain.workflows: WorkflowRequest,
}

# Named request bodies per domain for the OpenAPI (Swagger UI's dropdown); the first is the default.
REQUEST_EXAMPLES: dict[Domain, dict[str, RequestExample]] = {
    Domain.images: IMAGE_EXAMPLES,
    Domain.texts: TEXT_EXAMPLES,
    Domain.videos: VIDEO_EXAMPLES,
    Domain.workflows: WORKFLOW_EXAMPLES,
}

__all__ = [
    "Priority",
    "PriorityCap",
    "WebhookDelivery",
    "WebhookSecret",
    "WebhookSpec",
    "Quota",
    "QuotaSet",
    "UsageDay",
    "UsageReport",
    "BatchCreated",
    "BatchRecord",
    "BatchRequest",
    "BatchTask",
    "Range",
    "REQUEST_EXAMPLES",
    "REQUEST_TYPES",
    "ApiIndex",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyInfo",
    "ChatMessage",
    "Domain",
    "DomainLinks",
    "ErrorBody",
    "ErrorInfo",
    "ErrorResponse",
    "FileUploaded",
    "Health",
    "ImageRequest",
    "InputRef",
    "LoraSpec",
    "ModelInfo",
    "Preview",
    "Progress",
    "Queue",
    "QueueDemand",
    "LiveWorker",
    "Readiness",
    "RequestExample",
    "Scaling",
    "TaskCreated",
    "EngineOutput",
    "TaskOutput",
    "TaskPage",
    "TaskRecord",
    "TaskRequest",
    "TaskStatus",
    "TextRequest",
    "Timings",
    "VideoRequest",
    "WorkflowRequest",
    "WorkflowTemplate",
]
