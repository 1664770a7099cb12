"""Contracts shared by api and workers: one definition of every request, record and listing."""

from core.schemas.common import (
    Domain,
    EngineOutput,
    ErrorBody,
    ErrorInfo,
    ErrorResponse,
    FileUploaded,
    Health,
    InputRef,
    ModelInfo,
    Preview,
    Progress,
    Queue,
    Readiness,
    TaskCreated,
    TaskOutput,
    TaskRecord,
    TaskStatus,
    Timings,
    WorkflowTemplate,
)
from core.schemas.images import ImageRequest, LoraSpec
from core.schemas.keys import ApiKeyCreate, ApiKeyCreated, ApiKeyInfo
from core.schemas.texts import ChatMessage, TextRequest
from core.schemas.videos import VideoRequest
from core.schemas.workflows import WorkflowRequest

TaskRequest = ImageRequest | TextRequest | VideoRequest | WorkflowRequest

REQUEST_TYPES: dict[Domain, type[TaskRequest]] = {
    Domain.images: ImageRequest,
    Domain.texts: TextRequest,
    Domain.videos: VideoRequest,
    Domain.workflows: WorkflowRequest,
}

__all__ = [
    "REQUEST_TYPES",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyInfo",
    "ChatMessage",
    "Domain",
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
    "Readiness",
    "TaskCreated",
    "EngineOutput",
    "TaskOutput",
    "TaskRecord",
    "TaskRequest",
    "TaskStatus",
    "TextRequest",
    "Timings",
    "VideoRequest",
    "WorkflowRequest",
    "WorkflowTemplate",
]
