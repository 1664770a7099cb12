"""Redis connections for every process, from one `DDIFFUSION_REDIS_URL`.

Two forms:
  redis://[:password@]host:port/db                          one server
  sentinel://[:password@]host1:26379,host2:26379/mymaster/db Redis Sentinel: the clients ask the
                                                            sentinels for the current primary and
                                                            follow it across a failover

Every client has short socket timeouts and a small retry budget, so a Redis outage surfaces
within seconds as a RedisError (the api answers 503, workers retry what must not be lost)
instead of hanging a request or a task.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.sentinel
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

CONNECT_TIMEOUT_S = 2
SOCKET_TIMEOUT_S = 5
RETRIES = 2

# Errors that mean "Redis is not answering (or not the primary) right now", as opposed to a bug.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ReadOnlyError)


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int
    password: str | None


def parse_sentinel_url(url: str) -> SentinelTarget:
    """`sentinel://[:password@]host:port[,host:port…]/master[/db]`."""
    rest = url.removeprefix("sentinel://")
    password = None
    if "@" in rest:
        credentials, rest = rest.rsplit("@", 1)
        password = unquote(credentials.partition(":")[2]) or None
    hosts, _, path = rest.partition("/")
    master, _, db = path.partition("/")
    if not hosts or not master:
        raise ValueError(f"A Sentinel URL names its sentinels and the primary's name: sentinel://host:26379,host2:26379/mymaster/0, not {url!r}.")
    sentinels = []
    for host in hosts.split(","):
        name, _, port = host.strip().rpartition(":")
        sentinels.append((name or port, int(port) if name else 26379))
    return SentinelTarget(tuple(sentinels), master, int(db or 0), password)


def is_sentinel(url: str) -> bool:
    return url.startswith("sentinel://")


def _options(decode_responses: bool) -> dict[str, Any]:
    return {
        "decode_responses": decode_responses,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": SOCKET_TIMEOUT_S,
        "health_check_interval": 15,
    }


def connect(url: str, decode_responses: bool = True) -> redis.Redis:
    """A synchronous client (workers, launcher, bench)."""
    options = _options(decode_responses) | {"retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), RETRIES)}
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **options)
    target = parse_sentinel_url(url)
    sentinel = redis.sentinel.Sentinel(
        list(target.sentinels), sentinel_kwargs={"socket_timeout": CONNECT_TIMEOUT_S, "socket_connect_timeout": CONNECT_TIMEOUT_S}
    )
    return sentinel.master_for(target.master, db=target.db, password=target.password, **options)


def connect_async(url: str, max_connections: int = 256) -> redis.asyncio.Redis:
    """The api's client (redis.asyncio)."""
    options = _options(True) | {
        "retry": redis.asyncio.retry.Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), RETRIES),
        "max_connections": max_connections,
    }
    if not is_sentinel(url):
        return redis.asyncio.from_url(url, **options)
    target = parse_sentinel_url(url)
    sentinel = redis.asyncio.sentinel.Sentinel(
        list(target.sentinels), sentinel_kwargs={"socket_timeout": CONNECT_TIMEOUT_S, "socket_connect_timeout": CONNECT_TIMEOUT_S}
    )
    return sentinel.master_for(target.master, db=target.db, password=target.password, **options)


def celery_broker(url: str) -> tuple[str, dict[str, Any]]:
    """Celery's broker URL and the transport options it needs for this URL (kombu's own Sentinel
    form is `sentinel://host:port/db;sentinel://host2:port/db` with a `master_name` option)."""
    options: dict[str, Any] = {"socket_connect_timeout": CONNECT_TIMEOUT_S, "socket_timeout": SOCKET_TIMEOUT_S, "health_check_interval": 15}
    if not is_sentinel(url):
        return url, options
    target = parse_sentinel_url(url)
    credentials = f":{quote(target.password, safe='')}@" if target.password else ""
    broker = ";".join(f"sentinel://{credentials}{host}:{port}/{target.db}" for host, port in target.sentinels)
    return broker, options | {"master_name": target.master, "sentinel_kwargs": {"socket_timeout": CONNECT_TIMEOUT_S}}
