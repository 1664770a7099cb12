"""Batches and wedges: many tasks of one domain admitted together, each with an optional label."""

import itertools
import math
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.errors import InvalidRequestError
from core.schemas.common import Domain, TaskRecord, TaskStatus, WebhookDelivery, WebhookSpec

_WEDGE = {
    "domain": "images",
    "base": {"model": "tiny-sd", "prompt": "a red teapot", "width": 64, "height": 64, "steps": 4},
    "vary": {"seed": {"from": 1, "to": 4}, "guidance": [5, 7.5]},
}


class Range(BaseModel):
    """`from` … `to` inclusive, by `step` (1 unless set): {"from": 1, "to": 8} is 1, 2, … 8."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: float = Field(alias="from", allow_inf_nan=False)
    stop: float = Field(alias="to", allow_inf_nan=False)
    step: float = Field(1, gt=0, allow_inf_nan=False)

    def values(self, limit: int) -> list[int | float]:
        steps = (self.stop - self.start) / self.step
        if steps < 0:
            raise InvalidRequestError(f"range from {self.start:g} to {self.stop:g} is empty; `to` must not be below `from`.")
        # A tiny step makes the quotient astronomically large, even infinite: compare before counting.
        if not steps < limit:
            raise InvalidRequestError(f"range from {self.start:g} to {self.stop:g} by {self.step:g} has more than {limit} values; a batch holds at most {limit}: use a larger step.")
        count = math.floor(steps + 1e-9) + 1
        whole = all(float(value).is_integer() for value in (self.start, self.step))
        return [int(self.start + i * self.step) if whole else round(self.start + i * self.step, 10) for i in range(count)]


class BatchRequest(BaseModel):
    """A `base` request of one domain, with `vary` (a cross product of values per field), or an
    explicit list of `requests` merged over the base; `labels` name the tasks in order (frame
    numbers, wedge names) and come back on each task and output."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": _WEDGE})

    domain: Domain
    base: dict[str, Any] = Field(default_factory=dict, description="Fields every task shares: a request of `domain`.")
    vary: dict[str, list[Any] | Range] = Field(
        default_factory=dict, description="Per field, a list of values or a range; every combination is one task."
    )
    requests: list[dict[str, Any]] | None = Field(None, max_length=1000, description="Instead of `vary`: each one task, over `base`.")
    labels: list[str] | None = Field(None, max_length=1000, description="One per task, in order: kept on the task and its outputs.")
    webhook: WebhookSpec | None = Field(None, description="For every task of the batch, and `batch_completed` once all have ended.")

    @model_validator(mode="after")
    def _one_way(self) -> "BatchRequest":
        if self.vary and self.requests is not None:
            raise ValueError("give either `vary` or `requests`, not both")
        if any(len(label) > 200 for label in self.labels or []):
            raise ValueError("labels are at most 200 characters")
        return self

    def expand(self, limit: int) -> list[tuple[dict[str, Any], str | None]]:
        """Each task's request fields and label, in order; at most `limit` tasks."""
        if self.requests is not None:
            fields = [self.base | item for item in self.requests]
        else:
            names = sorted(self.vary)
            values = [self.vary[name].values(limit) if isinstance(self.vary[name], Range) else self.vary[name] for name in names]
            count = math.prod(len(options) for options in values)
            if count > limit:
                raise InvalidRequestError(f"vary makes {count} tasks; a batch holds at most {limit}: vary fewer fields or values.")
            fields = [self.base | dict(zip(names, combination, strict=True)) for combination in itertools.product(*values)]
        if not fields:
            raise InvalidRequestError("the batch has no tasks: give `vary` values or `requests`.")
        if len(fields) > limit:
            raise InvalidRequestError(f"{len(fields)} requests; a batch holds at most {limit}.")
        if self.labels is not None and len(self.labels) != len(fields):
            raise InvalidRequestError(f"{len(self.labels)} labels for {len(fields)} tasks: give one label per task, in order.")
        labels: list[str | None] = list(self.labels) if self.labels is not None else [None] * len(fields)
        return list(zip(fields, labels, strict=True))


class BatchTask(BaseModel):
    id: str
    label: str | None = None
    position: int | None = None


class BatchCreated(BaseModel):
    id: str
    tasks: list[BatchTask]


class BatchRecord(BaseModel):
    """A batch as its tasks stand: counts by status, overall progress, and every task in order."""

    id: str
    domain: Domain
    created_at: datetime
    done: bool = Field(description="Every task has ended (succeeded, failed or cancelled).")
    counts: dict[TaskStatus, int]
    fraction: float = Field(description="Progress over all tasks, 0 to 1.")
    tasks: list[TaskRecord]
    webhooks: list[WebhookDelivery] = Field(default_factory=list, description="The batch_completed webhook and how its delivery went.")
