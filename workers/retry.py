"""The one retry policy for every external call a worker makes (hosted providers, ComfyUI).

Bounded attempts, full-jitter exponential backoff with a cap, a retry-after hint honoured
(within the cap), an optional overall deadline that also caps each attempt's timeout, and a
cancellation check between attempts. An attempt says what went wrong by raising `Retryable`
(worth another try) or any other exception (final).
"""

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar

from core.errors import PlatformError

T = TypeVar("T")

# Long waits are cut into slices so a cancel reaches a task sleeping through a backoff.
_CANCEL_POLL_S = 0.5


@dataclass(frozen=True)
class RetryPolicy:
    retries: int  # attempts after the first
    backoff_s: float  # base of the exponential backoff
    max_backoff_s: float  # cap on any one wait, a retry-after hint included
    timeout_s: float  # what one attempt may take
    deadline_s: float | None = None  # what all attempts and waits may take together


class Retryable(Exception):
    """One failed attempt worth another try; `error` is what to raise if it was the last."""

    def __init__(self, error: PlatformError, retry_after_s: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after_s = retry_after_s


def retry(
    attempt: Callable[[float], T],
    policy: RetryPolicy,
    *,
    check_cancelled: Callable[[], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> T:
    """Run `attempt(timeout_s)` until it returns. `timeout_s` is the policy's, lowered to the time
    left before the deadline; no attempt starts once the deadline has passed."""
    ends_at = None if policy.deadline_s is None else time.monotonic() + policy.deadline_s
    number = 0
    while True:
        if check_cancelled is not None:
            check_cancelled()
        timeout_s = policy.timeout_s if ends_at is None else min(policy.timeout_s, ends_at - time.monotonic())
        try:
            return attempt(timeout_s)
        except Retryable as failure:
            if number == policy.retries:
                raise failure.error from failure
            delay = backoff_delay(policy, number, failure.retry_after_s)
            if ends_at is not None and time.monotonic() + delay >= ends_at:
                error = failure.error
                spent = f"; gave up when the {policy.deadline_s:g}s deadline for this call (retries included) ran out"
                raise PlatformError(error.message + spent, code=error.code) from failure
            number += 1
            if log is not None:
                log(f"{failure.error.message}; retry {number}/{policy.retries} in {delay:.2f}s")
            pause(delay, check_cancelled)


def backoff_delay(policy: RetryPolicy, number: int, retry_after_s: float | None) -> float:
    """The wait before retry `number + 1`: the hint when there is one, else full jitter."""
    if retry_after_s is not None:
        return min(max(retry_after_s, 0.0), policy.max_backoff_s)
    # Full jitter keeps many workers hit by the same outage from retrying in step.
    return random.uniform(0, min(policy.max_backoff_s, policy.backoff_s * 2**number))


def pause(seconds: float, check_cancelled: Callable[[], None] | None = None) -> None:
    """Sleep, waking to notice a cancel."""
    ends_at = time.monotonic() + seconds
    while (left := ends_at - time.monotonic()) > 0:
        time.sleep(min(left, _CANCEL_POLL_S))
        if check_cancelled is not None:
            check_cancelled()


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds a server asked us to wait: `retry-after-ms`, or `retry-after` as seconds or an HTTP date."""
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
