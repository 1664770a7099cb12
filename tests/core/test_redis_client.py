"""The one Redis URL: parsing, kombu's translation, and every client against a real Sentinel
topology whose servers need a password."""

import asyncio
import uuid
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio.connection
import redis.asyncio.sentinel
from kombu import Connection

from core.redis_client import HiredisPacking, SentinelTarget, celery_broker, connect, connect_async, parse_sentinel_url
from server.redis import SentinelTopology
from tests.utils.platform import RedisServer

PASSWORD = "p@ss:w/rd"  # characters that must be quoted in a URL


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("sentinel://s1:26380,s2/mymaster", SentinelTarget((("s1", 26380), ("s2", 26379)), "mymaster", 0, None, None)),
        ("sentinel://:p%40ss@s1:1,s2:2/cache/3", SentinelTarget((("s1", 1), ("s2", 2)), "cache", 3, None, "p@ss")),
        ("sentinel://ops:secret@s1:1/m/1", SentinelTarget((("s1", 1),), "m", 1, "ops", "secret")),
        ("sentinel://[::1]:26380,[fe80::2]/m", SentinelTarget((("::1", 26380), ("fe80::2", 26379)), "m", 0, None, None)),
    ],
)
def test_sentinel_urls_parse(url: str, target: SentinelTarget) -> None:
    assert parse_sentinel_url(url) == target


@pytest.mark.parametrize(("url", "says"), [("sentinel://s1:26379", "primary's name"), ("sentinel://s1:port/m", "not host, host:port")])
def test_bad_sentinel_urls_say_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_sentinel_url(url)


def test_the_async_client_packs_with_hiredis_the_bytes_redis_py_packs(redis_server: RedisServer) -> None:
    """The api's client packs commands with hiredis (C) instead of redis.asyncio's Python packer:
    the same RESP bytes, and arguments of every kind a script gets come back as sent."""
    args = ("EVALSHA", "0" * 40, 2, "dd:task:1", "dd:queue:gpu", "é ünïcode", 1.25, 10**20, b"\x00raw", "")
    python_packed = b"".join(redis.asyncio.connection.Connection().pack_command(*args))

    async def round_trip() -> tuple[bytes, list[str]]:
        client = connect_async(redis_server.url)
        connection = client.connection_pool.make_connection()
        echo = client.register_script("return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[5]}")
        sent = await echo(["dd:task:1", "dd:queue:gpu"], ["é ünïcode", 1.25, 10**20, "unused", ""])
        await client.aclose()
        return b"".join(connection.pack_command(*args)), sent

    hiredis_packed, sent = asyncio.run(round_trip())
    assert hiredis_packed == python_packed
    assert sent == ["dd:task:1", "dd:queue:gpu", "é ünïcode", "1.25", "100000000000000000000", ""]
    for url in ("redis://127.0.0.1:1/0", "rediss://127.0.0.1:1/0", "unix:///tmp/redis.sock"):
        connection_class = connect_async(url).connection_pool.connection_class
        assert issubclass(connection_class, HiredisPacking), url
    assert issubclass(connect_async("rediss://127.0.0.1:1/0").connection_pool.connection_class, redis.asyncio.connection.SSLConnection)


def test_plain_urls_go_to_kombu_unchanged() -> None:
    broker, options = celery_broker("redis://:pw@h:6379/2")
    assert broker == "redis://:pw@h:6379/2"
    assert "master_name" not in options


def test_kombu_reads_back_what_the_sentinel_url_says() -> None:
    broker, options = celery_broker("sentinel://ops:p%40ss%3Aw@s1:26380,[::1]:26381/cache/3")
    connection = Connection(broker, transport_options=options)
    assert connection.transport_cls == "sentinel"
    # kombu takes credentials and db from the first URL, and every sentinel from the alternates.
    assert (connection.hostname, connection.port, connection.userid, connection.password, connection.virtual_host) == ("s1", 26380, "ops", "p@ss:w", "3")
    assert [Connection(alt).hostname for alt in connection.alt] == ["s1", "::1"]
    assert connection.transport_options["master_name"] == "cache"
    assert connection.transport_options["sentinel_kwargs"]["socket_connect_timeout"] > 0


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelTopology]:
    topology = SentinelTopology(tmp_path_factory.mktemp("sentinel"), password=PASSWORD).start()
    yield topology
    topology.stop()


def test_sync_client_writes_to_the_primary(guarded: SentinelTopology) -> None:
    key = uuid.uuid4().hex
    client = connect(guarded.url)
    client.set(key, "sync")
    assert guarded.primary().client().get(key) == "sync"
    client.close()


def test_async_client_writes_to_the_primary(guarded: SentinelTopology) -> None:
    key = uuid.uuid4().hex

    async def write() -> None:
        client = connect_async(guarded.url)
        assert issubclass(client.connection_pool.connection_class, (HiredisPacking, redis.asyncio.sentinel.SentinelManagedConnection))
        await client.set(key, "async")
        await client.aclose()

    asyncio.run(write())
    assert guarded.primary().client().get(key) == "async"


def test_kombu_sends_and_receives_through_the_sentinels(guarded: SentinelTopology) -> None:
    broker, options = celery_broker(guarded.url)
    queue = f"q-{uuid.uuid4().hex}"
    with Connection(broker, transport_options=options) as connection:
        with connection.SimpleQueue(queue) as simple:
            simple.put({"task": "ping"})
            message = simple.get(timeout=5)
            message.ack()
    assert message.payload == {"task": "ping"}


def test_a_wrong_password_is_refused(guarded: SentinelTopology) -> None:
    with pytest.raises(redis.AuthenticationError):
        connect(guarded.url.replace("p%40ss", "wrong")).ping()
