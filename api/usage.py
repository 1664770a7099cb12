"""Usage per key and day (written by the tasks' end step, read here) and daily GPU quotas."""

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from core.errors import InvalidRequestError, QuotaExceededError
from core.records import quota_key, usage_day, usage_key, usage_keys_of
from core.schemas import Quota, UsageDay, UsageReport

if TYPE_CHECKING:  # api.tasks raises quota_error at submit, so it imports this module
    from api.tasks import Platform

MAX_DAYS = 366


def next_reset(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), time(), UTC)


def quota_error(quota_s: float) -> QuotaExceededError:
    now = datetime.now(UTC)
    resets = next_reset(now)
    return QuotaExceededError(
        f"This key has used its {quota_s:g} GPU seconds for today; gpu tasks are taken again from {resets.isoformat()} "
        "(the admin may raise the quota). Hosted models and workflows are not counted against it.",
        retry_after_s=max(1, int((resets - now).total_seconds())),
        resets_at=resets.isoformat(),
    )


def day_range(since: date | None, until: date | None) -> list[date]:
    """since … until inclusive; by default the last 7 days, today included."""
    until = until or datetime.now(UTC).date()
    since = since or until - timedelta(days=6)
    if since > until:
        raise InvalidRequestError("since is after until; swap them.")
    if (until - since).days + 1 > MAX_DAYS:
        raise InvalidRequestError(f"at most {MAX_DAYS} days per report; narrow since … until.")
    return [since + timedelta(days=offset) for offset in range((until - since).days + 1)]


def parse_day(day: date, key_id: str, fields: dict[str, str]) -> UsageDay:
    def prefixed(prefix: str) -> dict[str, str]:
        return {name.removeprefix(prefix): value for name, value in fields.items() if name.startswith(prefix)}

    return UsageDay(
        date=day,
        key_id=key_id,
        tasks={status: int(count) for status, count in prefixed("status:").items()},
        models={model: int(count) for model, count in prefixed("model:").items()},
        gpu_seconds=round(float(fields.get("gpu_s", 0)), 3),
        provider_calls=int(float(fields.get("provider_calls", 0))),
        units={unit: float(amount) for unit, amount in prefixed("units:").items()},
        output_bytes=int(float(fields.get("output_bytes", 0))),
    )


async def report(platform: "Platform", key_id: str | None, since: date | None, until: date | None) -> UsageReport:
    """One key's days, or (key_id None, the admin) every key's: one pipeline of O(days × keys) reads."""
    days = day_range(since, until)
    client = platform.redis
    if key_id is None:
        async with client.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.smembers(usage_keys_of(day.isoformat()))
            keys_per_day = [sorted(members) for members in await pipe.execute()]
    else:
        keys_per_day = [[key_id]] * len(days)
    wanted = [(day, key) for day, keys in zip(days, keys_per_day, strict=True) for key in keys]
    async with client.pipeline(transaction=False) as pipe:
        for day, key in wanted:
            pipe.hgetall(usage_key(key, day.isoformat()))
        found = await pipe.execute()
    entries = [parse_day(day, key, fields) for (day, key), fields in zip(wanted, found, strict=True) if fields]
    return UsageReport(since=days[0], until=days[-1], days=entries)


async def quota(platform: "Platform", key_id: str) -> Quota:
    now = datetime.now(UTC)
    async with platform.redis.pipeline(transaction=False) as pipe:
        pipe.get(quota_key(key_id))
        pipe.hget(usage_key(key_id, usage_day(now.timestamp())), "gpu_s")
        limit, used = await pipe.execute()
    return Quota(
        key_id=key_id,
        gpu_seconds_per_day=float(limit) if limit is not None else None,
        used_today=round(float(used or 0), 3),
        resets_at=next_reset(now),
    )


async def set_quota(platform: "Platform", key_id: str, seconds: float | None) -> Quota:
    if seconds is None:
        await platform.redis.delete(quota_key(key_id))
    else:
        await platform.redis.set(quota_key(key_id), repr(float(seconds)))
    return await quota(platform, key_id)
