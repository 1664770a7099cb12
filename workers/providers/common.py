"""What every provider engine shares: the retry policy for hosted calls.

SDK retries stay off (`max_retries=0`) so that retrying is ours: bounded, with full-jitter
backoff, honouring `Retry-After`, and checking for cancellation between attempts.
"""

import random
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import TypeVar

from core.errors import PlatformError
from core.settings import Settings
from workers.context import TaskContext

# Long waits are cut into slices so a cancel reaches a task sleeping through a backoff.
_CANCEL_POLL_S = 0.5

T = TypeVar("T")


class Retryable(Exception):
    """One failed attempt worth another try; `error` is what to raise if it was the last."""

    def __init__(self, error: PlatformError, retry_after_s: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after_s = retry_after_s


def with_retries(settings: Settings, ctx: TaskContext, attempt_once: Callable[[], T]) -> T:
    """Run `attempt_once` until it returns, retrying on Retryable up to settings.provider_max_retries."""
    retries = settings.provider_max_retries
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


def backoff_delay(settings: Settings, attempt: int, retry_after_s: float | None) -> float:
    cap = settings.provider_max_backoff_s
    if retry_after_s is not None:
        return min(max(retry_after_s, 0.0), cap)
    # Full jitter keeps many workers hit by the same outage from retrying in step.
    return random.uniform(0, min(cap, settings.provider_backoff_s * 2**attempt))


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
