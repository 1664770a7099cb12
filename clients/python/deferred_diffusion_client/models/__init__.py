"""Contains all the data models used in inputs/outputs"""

from .api_index import ApiIndex
from .api_index_domains import ApiIndexDomains
from .api_key_create import ApiKeyCreate
from .api_key_created import ApiKeyCreated
from .api_key_info import ApiKeyInfo
from .batch_created import BatchCreated
from .batch_record import BatchRecord
from .batch_record_counts import BatchRecordCounts
from .batch_request import BatchRequest
from .batch_request_base import BatchRequestBase
from .batch_request_requests_type_0_item import BatchRequestRequestsType0Item
from .batch_request_vary import BatchRequestVary
from .batch_task import BatchTask
from .box_prompt import BoxPrompt
from .chat_image_part import ChatImagePart
from .chat_message import ChatMessage
from .chat_message_role import ChatMessageRole
from .chat_text_part import ChatTextPart
from .domain import Domain
from .domain_links import DomainLinks
from .error_body import ErrorBody
from .error_info import ErrorInfo
from .error_response import ErrorResponse
from .file_upload import FileUpload
from .file_uploaded import FileUploaded
from .health import Health
from .image_request import ImageRequest
from .image_request_matte import ImageRequestMatte
from .image_request_output_format_type_0 import ImageRequestOutputFormatType0
from .image_request_scale_type_0 import ImageRequestScaleType0
from .image_request_scheduler_type_0 import ImageRequestSchedulerType0
from .live_worker import LiveWorker
from .lora_spec import LoraSpec
from .model_info import ModelInfo
from .model_info_defaults import ModelInfoDefaults
from .model_info_limits import ModelInfoLimits
from .point_prompt import PointPrompt
from .point_prompt_label import PointPromptLabel
from .preview import Preview
from .priority import Priority
from .priority_cap import PriorityCap
from .progress import Progress
from .queue import Queue
from .queue_demand import QueueDemand
from .quota import Quota
from .quota_set import QuotaSet
from .range_ import Range
from .readiness import Readiness
from .readiness_redis import ReadinessRedis
from .readiness_status import ReadinessStatus
from .readiness_workers import ReadinessWorkers
from .scaling import Scaling
from .scaling_queues import ScalingQueues
from .task_created import TaskCreated
from .task_output import TaskOutput
from .task_output_reproducibility_type_0 import TaskOutputReproducibilityType0
from .task_page import TaskPage
from .task_record import TaskRecord
from .task_record_request import TaskRecordRequest
from .task_status import TaskStatus
from .text_request import TextRequest
from .timings import Timings
from .usage_day import UsageDay
from .usage_day_models import UsageDayModels
from .usage_day_tasks import UsageDayTasks
from .usage_day_units import UsageDayUnits
from .usage_report import UsageReport
from .video_request import VideoRequest
from .video_request_output_format_type_0 import VideoRequestOutputFormatType0
from .webhook_delivery import WebhookDelivery
from .webhook_delivery_event import WebhookDeliveryEvent
from .webhook_secret import WebhookSecret
from .webhook_spec import WebhookSpec
from .webhook_spec_events_item import WebhookSpecEventsItem
from .workflow_request import WorkflowRequest
from .workflow_request_inputs import WorkflowRequestInputs
from .workflow_request_patches import WorkflowRequestPatches
from .workflow_request_patches_additional_property import WorkflowRequestPatchesAdditionalProperty
from .workflow_request_workflow_type_0 import WorkflowRequestWorkflowType0
from .workflow_template import WorkflowTemplate
from .workflow_template_patchable import WorkflowTemplatePatchable

__all__ = (
    "ApiIndex",
    "ApiIndexDomains",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyInfo",
    "BatchCreated",
    "BatchRecord",
    "BatchRecordCounts",
    "BatchRequest",
    "BatchRequestBase",
    "BatchRequestRequestsType0Item",
    "BatchRequestVary",
    "BatchTask",
    "BoxPrompt",
    "ChatImagePart",
    "ChatMessage",
    "ChatMessageRole",
    "ChatTextPart",
    "Domain",
    "DomainLinks",
    "ErrorBody",
    "ErrorInfo",
    "ErrorResponse",
    "FileUpload",
    "FileUploaded",
    "Health",
    "ImageRequest",
    "ImageRequestMatte",
    "ImageRequestOutputFormatType0",
    "ImageRequestScaleType0",
    "ImageRequestSchedulerType0",
    "LiveWorker",
    "LoraSpec",
    "ModelInfo",
    "ModelInfoDefaults",
    "ModelInfoLimits",
    "PointPrompt",
    "PointPromptLabel",
    "Preview",
    "Priority",
    "PriorityCap",
    "Progress",
    "Queue",
    "QueueDemand",
    "Quota",
    "QuotaSet",
    "Range",
    "Readiness",
    "ReadinessRedis",
    "ReadinessStatus",
    "ReadinessWorkers",
    "Scaling",
    "ScalingQueues",
    "TaskCreated",
    "TaskOutput",
    "TaskOutputReproducibilityType0",
    "TaskPage",
    "TaskRecord",
    "TaskRecordRequest",
    "TaskStatus",
    "TextRequest",
    "Timings",
    "UsageDay",
    "UsageDayModels",
    "UsageDayTasks",
    "UsageDayUnits",
    "UsageReport",
    "VideoRequest",
    "VideoRequestOutputFormatType0",
    "WebhookDelivery",
    "WebhookDeliveryEvent",
    "WebhookSecret",
    "WebhookSpec",
    "WebhookSpecEventsItem",
    "WorkflowRequest",
    "WorkflowRequestInputs",
    "WorkflowRequestPatches",
    "WorkflowRequestPatchesAdditionalProperty",
    "WorkflowRequestWorkflowType0",
    "WorkflowTemplate",
    "WorkflowTemplatePatchable",
)
