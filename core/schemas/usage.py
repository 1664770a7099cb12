"""Usage per key and day, and the admin's daily GPU-seconds quota."""

from datetime import date, datetime

from pydantic import BaseModel, Field


class UsageDay(BaseModel):
    """One key's use on one UTC day, counted as its tasks ended."""

    date: date
    key_id: str
    tasks: dict[str, int] = Field(description="Ended tasks by status.")
    models: dict[str, int] = Field(description="Ended tasks by model.")
    gpu_seconds: float = Field(description="Run time on gpu workers, whatever the outcome.")
    provider_calls: int = Field(description="Tasks run at a hosted provider (OpenAI, Replicate).")
    units: dict[str, float] = Field(description="What providers billed, where they say: e.g. input_tokens, output_tokens, images.")
    output_bytes: int


class UsageReport(BaseModel):
    since: date
    until: date
    days: list[UsageDay] = Field(description="Per key and day, oldest first; days without use are left out.")


class QuotaSet(BaseModel):
    gpu_seconds_per_day: float | None = Field(None, ge=0, description="null removes the quota.")


class Quota(BaseModel):
    key_id: str
    gpu_seconds_per_day: float | None
    used_today: float = Field(description="GPU seconds of tasks that ended today (UTC).")
    resets_at: datetime = Field(description="When today's count starts again (midnight UTC).")
