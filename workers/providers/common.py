"""What every provider engine shares: its settings and the retry policy for hosted calls.

SDK retries stay off (`max_retries=0`) so that retrying is ours: bounded, with full-jitter
backoff, honouring `Retry-After`, and checking for cancellation between attempts.
"""

import random
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import TypeVar

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import PlatformError
from workers.context import TaskContext

# Long waits are cut into slices so a cancel reaches a task sleeping through a backoff.
_CANCEL_POLL_S = 0.5

T = TypeVar("T")


class ProviderSettings(BaseSettings):
    """Provider configuration, read from the environment when an engine is built."""

    model_config = SettingsConfigDict(env_prefix="DDIFFUSION_PROVIDER_", env_file=".env", extra="ignore")

    openai_api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=AliasChoices("OPENAI_BASE_URL"))
    replicate_api_token: SecretStr | None = Field(None, validation_alias=AliasChoices("REPLICATE_API_TOKEN"))
    replicate_base_url: str | None = Field(None, validation_alias=AliasChoices("DDIFFUSION_REPLICATE_BASE_URL"))
    replicate_deadline_s: float = Field(
        540, gt=0, description="A Replicate prediction still running after this is cancelled there; keep it below the cpu time limit."
    )
    replicate_poll_s: float = Field(1.0, gt=0, description="How often a running Replicate prediction is polled.")
    timeout_s: float = Field(120, gt=0, description="Per-request connect/read timeout.")
    max_retries: int = Field(4, ge=0, description="Retries after the first attempt on 429, 5xx and network errors.")
    backoff_s: float = Field(1.0, ge=0, description="Base of the exponential backoff.")
    max_backoff_s: float = Field(30, ge=0, description="Cap on any one wait, Retry-After included.")


class Retryable(Exception):
    """One failed attempt worth another try; `error` is what to raise if it was the last."""

    def __init__(self, error: PlatformError, retry_after_s: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after_s = retry_after_s


def with_retries(settings: ProviderSettings, ctx: TaskContext, attempt_once: Callable[[], T]) -> T:
    """Run `attempt_once` until it returns, retrying on Retryable up to settings.max_retries."""
    retries = settings.max_retries
    attempt = 0
    while True:
        ctx.check_cancelled()
        try:
            return attempt_once()
        except Retryable as failure:
            if attempt == retries:
                raise failure.error from failure
            delay = backoff_delay(settings, attempt, failure.retry_after_s)
            attempt += 1
            ctx.log(f"{failure.error.message}; retry {attempt}/{retries} in {delay:.2f}s")
            wait(ctx, delay)


def backoff_delay(settings: ProviderSettings, attempt: int, retry_after_s: float | None) -> float:
    cap = settings.max_backoff_s
    if retry_after_s is not None:
        return min(max(retry_after_s, 0.0), cap)
    # Full jitter keeps many workers hit by the same outage from retrying in step.
    return random.uniform(0, min(cap, settings.backoff_s * 2**attempt))


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds the provider asked us to wait: `retry-after-ms`, or `retry-after` as seconds or an HTTP date."""
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def wait(ctx: TaskContext, seconds: float) -> None:
    """Sleep, waking to notice a cancel."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, _CANCEL_POLL_S))
        ctx.check_cancelled()
