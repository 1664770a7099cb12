from enum import Enum


class WebhookDeliveryEvent(str, Enum):
    BATCH_COMPLETED = "batch_completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    RUNNING = "running"
    SUCCEEDED = "succeeded"

    def __str__(self) -> str:
        return str(self.value)
