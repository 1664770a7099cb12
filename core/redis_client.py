"""Redis connections for every process, from one `DDIFFUSION_REDIS_URL`.

Two forms:
  redis://[:password@]host:port/db                          one server
  sentinel://[:password@]host1:26379,host2:26379/mymaster/db Redis Sentinel: the clients ask the
                                                            sentinels for the current primary and
                                                            follow it across a failover

Every client has short socket timeouts and a small retry budget, so a Redis outage surfaces
within seconds as a RedisError (the api answers 503, workers retry what must not be lost)
instead of hanging a request or a task.

The password is the Redis servers' (primary and replicas); the sentinels are asked without one.
"""

import functools
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.sentinel
from redis.backoff import ExponentialWithJitterBackoff
from redis.connection import HiredisRespSerializer
from redis.retry import Retry

CONNECT_TIMEOUT_S = 2
SOCKET_TIMEOUT_S = 5
RETRIES = 2
SENTINEL_HOST = re.compile(r"(?:\[(?P<ipv6>[^\]]+)\]|(?P<name>[^:\[\]]+))(?::(?P<port>\d+))?")
# Asking a sentinel must fail fast too: the client then asks the next one.
SENTINEL_KWARGS = {"socket_timeout": CONNECT_TIMEOUT_S, "socket_connect_timeout": CONNECT_TIMEOUT_S}

# Errors that mean "Redis is not answering (or not the primary) right now", as opposed to a bug.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ReadOnlyError)


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int
    username: str | None
    password: str | None


def parse_sentinel_url(url: str) -> SentinelTarget:
    """`sentinel://[[user]:password@]host:port[,host:port…]/master[/db]`; IPv6 hosts in brackets."""
    rest = url.removeprefix("sentinel://")
    username = password = None
    if "@" in rest:
        credentials, rest = rest.rsplit("@", 1)
        user, _, secret = credentials.partition(":")
        username, password = unquote(user) or None, unquote(secret) or None
    hosts, _, path = rest.partition("/")
    master, _, db = path.partition("/")
    if not hosts or not master:
        raise ValueError(f"A Sentinel URL names its sentinels and the primary's name: sentinel://host:26379,host2:26379/mymaster/0, not {url!r}.")
    sentinels = []
    for host in hosts.split(","):
        match = SENTINEL_HOST.fullmatch(host.strip())
        if match is None:
            raise ValueError(f"{host!r} in {url!r} is not host, host:port or [ipv6]:port.")
        sentinels.append((match["ipv6"] or match["name"], int(match["port"] or 26379)))
    return SentinelTarget(tuple(sentinels), master, int(db or 0), username, password)


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
    """A synchronous client (workers, launcher, bench). Workers ride out an outage or a failover
    in core.records.TaskStore (best-effort progress, durable start and end), not in here."""
    options = _options(decode_responses) | {"retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), RETRIES)}
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **options)
    target = parse_sentinel_url(url)
    # Reconnects ask the sentinels again, so a retry lands on the new primary once it is promoted.
    sentinel = redis.sentinel.Sentinel(list(target.sentinels), sentinel_kwargs=SENTINEL_KWARGS)
    return sentinel.master_for(target.master, db=target.db, username=target.username, password=target.password, **options)


def connect_async(url: str, max_connections: int = 256) -> redis.asyncio.Redis:
    """The api's client (redis.asyncio), packing commands with hiredis."""
    options = _options(True) | {
        "retry": redis.asyncio.retry.Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), RETRIES),
        "max_connections": max_connections,
    }
    if not is_sentinel(url):
        client = redis.asyncio.from_url(url, **options)
    else:
        target = parse_sentinel_url(url)
        # Short on purpose: during a failover the api answers 503 at once and the client retries.
        sentinel = redis.asyncio.sentinel.Sentinel(list(target.sentinels), sentinel_kwargs=SENTINEL_KWARGS)
        client = sentinel.master_for(target.master, db=target.db, username=target.username, password=target.password, **options)
    pool = client.connection_pool
    pool.connection_class = with_hiredis_packing(pool.connection_class)
    return client


class HiredisPacking:
    """redis.asyncio packs each command in Python, a tenth of a submit's CPU for SUBMIT's 27
    arguments; redis-py's sync client packs with hiredis, the same bytes about six times faster.
    Mixed into whichever connection class the URL chose (TCP, TLS, unix socket, Sentinel's)."""

    _serializer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        return self._serializer.pack(*args)


@functools.cache
def with_hiredis_packing(connection_class: type) -> type:
    return type(connection_class.__name__, (HiredisPacking, connection_class), {})


def celery_broker(url: str) -> tuple[str, dict[str, Any]]:
    """Celery's broker URL and the transport options it needs for this URL (kombu's own Sentinel
    form is `sentinel://[user:password@]host:port/db;sentinel://host2:port/db`, with the primary's
    name in the `master_name` option; kombu takes the credentials and db from the first part)."""
    options: dict[str, Any] = {"socket_connect_timeout": CONNECT_TIMEOUT_S, "socket_timeout": SOCKET_TIMEOUT_S, "health_check_interval": 15}
    if not is_sentinel(url):
        return url, options
    target = parse_sentinel_url(url)
    credentials = ""
    if target.username or target.password:
        credentials = f"{quote(target.username or '', safe='')}:{quote(target.password or '', safe='')}@"
    broker = ";".join(f"sentinel://{credentials}{_url_host(host)}:{port}/{target.db}" for host, port in target.sentinels)
    return broker, options | {"master_name": target.master, "sentinel_kwargs": SENTINEL_KWARGS}


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
