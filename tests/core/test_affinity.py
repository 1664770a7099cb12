"""Model affinity's routing rules (core.affinity), run as the Lua steps they are on a real Redis."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio

from core.affinity import AFFINITY_KEY, CLAIM_S, FORWARD, RELEASE, holders_key, model_queue, release_keys
from core.schemas import Queue
from tests.utils.platform import RedisServer


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def hold(client: redis.Redis, model: str, worker: str, until: float | None = None) -> None:
    client.zadd(holders_key(model), {worker: time.time() + CLAIM_S if until is None else until})
    client.sadd(AFFINITY_KEY, model)


def consumed_order(client: redis.Redis, key: str) -> list[str]:
    """The list's messages in the order kombu would take them (it pops on the right)."""
    return list(reversed(client.lrange(key, 0, -1)))


def test_a_cold_worker_hands_a_task_to_the_holder_or_claims_the_model_itself(redis_server: RedisServer) -> None:
    client = redis_server.client()
    forward = client.register_script(FORWARD)

    def take(worker: str, model: str, message: str, holds: tuple[str, ...] = ()) -> str:
        now = time.time()
        keys = [holders_key(model), model_queue(model), AFFINITY_KEY, Queue.gpu.value, *map(model_queue, holds)]
        return forward(keys, [now, 2, worker, message, now + CLAIM_S, model, "0"])

    client.lpush(Queue.gpu.value, "more-work")  # the workers below are not about to idle
    assert take("gpu-0@a", "tiny-sd", "m1") == "claimed"  # nobody held it
    assert client.smembers(AFFINITY_KEY) == {"tiny-sd"}
    assert take("gpu-0@a", "tiny-sd", "m2") == "claimed"  # its own claim does not count as another holder
    assert take("gpu-1@a", "tiny-sd", "m3") == "forwarded"
    assert take("gpu-1@a", "tiny-sd", "m4") == "forwarded"
    assert take("gpu-1@a", "tiny-sd", "m5") == "claimed"  # the holder's backlog is full: load it here too
    assert consumed_order(client, model_queue("tiny-sd")) == ["m3", "m4"]
    assert set(client.zrange(holders_key("tiny-sd"), 0, -1)) == {"gpu-0@a", "gpu-1@a"}

    hold(client, "tiny-sdxl", "gpu-1@a", until=time.time() - 1)  # a lapsed claim: its worker died
    assert take("gpu-0@a", "tiny-sdxl", "m6") == "claimed"
    assert set(client.zrange(holders_key("tiny-sdxl"), 0, -1)) == {"gpu-0@a"}


def test_an_idle_worker_with_room_runs_the_task_rather_than_wait_for_the_holder(redis_server: RedisServer) -> None:
    client = redis_server.client()
    forward = client.register_script(FORWARD)
    hold(client, "tiny-sd", "gpu-0@a")
    hold(client, "tiny-sdxl", "gpu-1@a")

    def take(message: str, would_evict: bool = False) -> str:
        now = time.time()
        keys = [holders_key("tiny-sd"), model_queue("tiny-sd"), AFFINITY_KEY, Queue.gpu.value, model_queue("tiny-sdxl")]
        return forward(keys, [now, 2, "gpu-1@a", message, now + CLAIM_S, "tiny-sd", "1" if would_evict else "0"])

    client.lpush(model_queue("tiny-sdxl"), "its-own-work")
    assert take("m1") == "forwarded"  # gpu-1 has tasks of its own model waiting
    client.delete(model_queue("tiny-sdxl"))
    assert take("m2", would_evict=True) == "forwarded"  # idle, but it would throw out the model it holds
    assert take("m3") == "claimed"  # idle with room for it: it runs it rather than wait
    assert consumed_order(client, model_queue("tiny-sd")) == ["m1", "m2"]


def test_when_the_last_holder_goes_its_waiting_tasks_return_to_the_front_of_the_shared_queue_in_order(redis_server: RedisServer) -> None:
    client = redis_server.client()
    release = client.register_script(RELEASE)
    hold(client, "tiny-sd", "gpu-0@a")
    hold(client, "tiny-sd", "gpu-1@a")
    for message in ("w1", "w2", "w3"):
        client.lpush(model_queue("tiny-sd"), message)
    for message in ("s1", "s2"):
        client.lpush(Queue.gpu.value, message)

    assert release(release_keys("tiny-sd"), ["gpu-0@a", time.time()]) == 0  # another holder is left
    assert client.llen(model_queue("tiny-sd")) == 3
    assert release(release_keys("tiny-sd"), ["gpu-1@a", time.time()]) == 3
    assert client.llen(model_queue("tiny-sd")) == 0
    # They had waited longest: next in line, in their own order, before the shared queue's own.
    assert consumed_order(client, Queue.gpu.value) == ["w1", "w2", "w3", "s1", "s2"]


def test_the_api_rescues_tasks_whose_only_holder_was_killed(redis_server: RedisServer) -> None:
    from api.reaper import rescue_model_queues

    client = redis_server.client()
    hold(client, "tiny-sd", "gpu-0@gone", until=time.time() + 0.5)
    client.lpush(model_queue("tiny-sd"), "waiting")

    async def rescue() -> int:
        api_client = redis.asyncio.from_url(redis_server.url, decode_responses=True)
        try:
            return await rescue_model_queues(api_client)
        finally:
            await api_client.aclose()

    assert asyncio.run(rescue()) == 0  # the claim is alive: the holder may come back to it
    time.sleep(0.6)
    assert asyncio.run(rescue()) == 1
    assert consumed_order(client, Queue.gpu.value) == ["waiting"]
