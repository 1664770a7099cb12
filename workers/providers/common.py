"""What every provider engine shares: the retry policy for hosted calls, from the settings.

SDK retries stay off (`max_retries=0`) so that retrying is ours (workers/retry.py): bounded,
with full-jitter backoff, honouring `Retry-After`, checking for cancellation between attempts,
and all of it inside `provider_deadline_s`, which also caps each attempt's timeout.
"""

from collections.abc import Callable
from typing import TypeVar

from core.settings import Settings
from workers.context import TaskContext
from workers.retry import RetryPolicy, retry

T = TypeVar("T")


def provider_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        retries=settings.provider_max_retries,
        backoff_s=settings.provider_backoff_s,
        max_backoff_s=settings.provider_max_backoff_s,
        timeout_s=settings.provider_timeout_s,
        deadline_s=settings.provider_deadline_s,
    )


def call_provider(settings: Settings, ctx: TaskContext, attempt: Callable[[float], T]) -> T:
    """Run `attempt(timeout_s)` under the provider policy, logging each retry to the task."""
    return retry(attempt, provider_policy(settings), check_cancelled=ctx.check_cancelled, log=ctx.log)
