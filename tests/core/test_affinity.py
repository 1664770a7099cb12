"""Model affinity's routing rules (core.affinity), run as the Lua steps they are on a real Redis."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio
from kombu.utils import json as kombu_json

from core.affinity import AFFINITY_KEY, CLAIM_S, FORWARD, RELEASE, holders_key, release_args, release_keys
from core.queue import broker_list, broker_lists, make_celery, model_queue, task_message
from core.records import LEASES_KEY, queue_key, task_key
from core.schemas import Domain, Priority, Queue
from tests.utils.platform import RedisServer, make_settings


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def hold(client: redis.Redis, model: str, worker: str, until: float | None = None) -> None:
    client.zadd(holders_key(model), {worker: time.time() + CLAIM_S if until is None else until})
    client.sadd(AFFINITY_KEY, model)


def order(client: redis.Redis, lane: str) -> list[str]:
    """A lane's queued tasks in the order they start."""
    return client.zrange(queue_key(lane), 0, -1)


def messages(client: redis.Redis, lane: str) -> int:
    return sum(client.llen(name) for name in broker_lists(lane))


SHARED = Queue.gpu.value


def taken(client: redis.Redis, task: str) -> None:
    """A queued task a worker has just taken from the shared lane (core.records TAKE)."""
    client.hset(task_key(task), mapping={"status": "queued", "order": "0", "taken_by": f"token-{task}"})
    client.zadd(LEASES_KEY, {task: time.time() + 15})


def test_a_cold_worker_hands_a_task_to_the_holder_or_claims_the_model_itself(redis_server: RedisServer) -> None:
    client = redis_server.client()
    forward = client.register_script(FORWARD)

    def take(worker: str, model: str, task: str, holds: tuple[str, ...] = ()) -> str:
        taken(client, task)
        now = time.time()
        lane = model_queue(model)
        keys = [holders_key(model), queue_key(lane), AFFINITY_KEY, queue_key(SHARED), broker_list(lane, Priority.normal), task_key(task), LEASES_KEY]
        keys += [queue_key(model_queue(held)) for held in holds]
        return forward(keys, [now, 2, worker, f"message-{task}", now + CLAIM_S, model, "0", task, f"token-{task}"])

    client.zadd(queue_key(SHARED), {"more-work": 10})  # the workers below are not about to idle
    assert take("gpu-0@a", "tiny-sd", "t1") == "claimed"  # nobody held it
    assert client.smembers(AFFINITY_KEY) == {"tiny-sd"}
    assert take("gpu-0@a", "tiny-sd", "t2") == "claimed"  # its own claim does not count as another holder
    assert take("gpu-1@a", "tiny-sd", "t3") == "forwarded"
    assert take("gpu-1@a", "tiny-sd", "t4") == "forwarded"
    assert take("gpu-1@a", "tiny-sd", "t5") == "claimed"  # the holder's backlog is full: load it here too
    assert order(client, model_queue("tiny-sd")) == ["t3", "t4"] and order(client, SHARED) == ["more-work"]
    assert messages(client, model_queue("tiny-sd")) == 2, "each handed-on task brings its turn to run"
    assert client.hget(task_key("t3"), "taken_by") is None and client.zscore(LEASES_KEY, "t3") is None
    assert set(client.zrange(holders_key("tiny-sd"), 0, -1)) == {"gpu-0@a", "gpu-1@a"}

    hold(client, "tiny-sdxl", "gpu-1@a", until=time.time() - 1)  # a lapsed claim: its worker died
    assert take("gpu-0@a", "tiny-sdxl", "t6") == "claimed"
    assert set(client.zrange(holders_key("tiny-sdxl"), 0, -1)) == {"gpu-0@a"}

    taken(client, "cancelled-meanwhile")
    client.hdel(task_key("cancelled-meanwhile"), "taken_by")
    now = time.time()
    lane = model_queue("tiny-sd")
    gone = [holders_key("tiny-sd"), queue_key(lane), AFFINITY_KEY, queue_key(SHARED), broker_list(lane, Priority.normal), task_key("cancelled-meanwhile"), LEASES_KEY]
    args = [now, 2, "gpu-1@a", "m", now + CLAIM_S, "tiny-sd", "0", "cancelled-meanwhile", "token-cancelled-meanwhile"]
    assert forward(gone, args) == "taken", "only the worker that took a task hands it on"


def test_an_idle_worker_with_room_runs_the_task_rather_than_wait_for_the_holder(redis_server: RedisServer) -> None:
    client = redis_server.client()
    forward = client.register_script(FORWARD)
    hold(client, "tiny-sd", "gpu-0@a")
    hold(client, "tiny-sdxl", "gpu-1@a")

    def take(task: str, would_evict: bool = False) -> str:
        taken(client, task)
        now = time.time()
        lane = model_queue("tiny-sd")
        keys = [holders_key("tiny-sd"), queue_key(lane), AFFINITY_KEY, queue_key(SHARED), broker_list(lane, Priority.normal), task_key(task), LEASES_KEY]
        keys.append(queue_key(model_queue("tiny-sdxl")))
        args = [now, 2, "gpu-1@a", f"message-{task}", now + CLAIM_S, "tiny-sd", "1" if would_evict else "0", task, f"token-{task}"]
        return forward(keys, args)

    client.zadd(queue_key(model_queue("tiny-sdxl")), {"its-own-work": 0})
    assert take("t1") == "forwarded"  # gpu-1 has tasks of its own model waiting
    client.delete(queue_key(model_queue("tiny-sdxl")))
    assert take("t2", would_evict=True) == "forwarded"  # idle, but it would throw out the model it holds
    assert take("t3") == "claimed"  # idle with room for it: it runs it rather than wait
    assert order(client, model_queue("tiny-sd")) == ["t1", "t2"]


def routed_to(message: str) -> str:
    return kombu_json.loads(message)["properties"]["delivery_info"]["routing_key"]


def test_when_the_last_holder_goes_its_waiting_tasks_return_to_the_shared_queue_in_their_places(redis_server: RedisServer) -> None:
    client = redis_server.client()
    release = client.register_script(RELEASE)
    hold(client, "tiny-sd", "gpu-0@a")
    hold(client, "tiny-sd", "gpu-1@a")
    lane = model_queue("tiny-sd")
    app = make_celery(make_settings(redis_server.url, Path("unused"), Path("unused")))
    sent = {task: task_message(app, Domain.images, lane, task, priority) for task, priority in [("w1", Priority.normal), ("w2", Priority.normal), ("w3", Priority.interactive)]}
    client.zadd(queue_key(lane), {"w1": 1, "w2": 2, "w3": 4})
    client.lpush(broker_list(lane, Priority.normal), sent["w1"], sent["w2"])
    client.lpush(broker_list(lane, Priority.interactive), sent["w3"])
    client.zadd(queue_key(SHARED), {"s1": 3, "s2": 5})

    assert release(release_keys("tiny-sd"), release_args("tiny-sd", "gpu-0@a")) == 0  # another holder is left
    assert order(client, lane) == ["w1", "w2", "w3"]
    assert release(release_keys("tiny-sd"), release_args("tiny-sd", "gpu-1@a")) == 3
    assert order(client, lane) == [] and messages(client, lane) == 0
    assert order(client, SHARED) == ["w1", "w2", "s1", "w3", "s2"], "each keeps its place in the order"
    interactive = client.lrange(broker_list(SHARED, Priority.interactive), 0, -1)
    normal = client.lrange(broker_list(SHARED, Priority.normal), 0, -1)
    assert [kombu_json.loads(m)["headers"]["id"] for m in interactive] == ["w3"], "messages keep their priority"
    assert [kombu_json.loads(m)["headers"]["id"] for m in normal] == ["w2", "w1"], "and their order (kombu pops on the right)"
    # A message is a turn to run the first task of its routing key's lane: one still routed to the
    # model's lane would find it empty, and the task it came for would wait for a turn forever.
    assert {routed_to(m) for m in interactive + normal} == {SHARED}


def test_the_api_rescues_tasks_whose_only_holder_was_killed(redis_server: RedisServer) -> None:
    from api.reaper import rescue_model_queues

    client = redis_server.client()
    hold(client, "tiny-sd", "gpu-0@gone", until=time.time() + 0.5)
    client.zadd(queue_key(model_queue("tiny-sd")), {"waiting": 1})
    client.lpush(broker_list(model_queue("tiny-sd"), Priority.normal), "its-message")

    async def rescue() -> int:
        api_client = redis.asyncio.from_url(redis_server.url, decode_responses=True)
        try:
            return await rescue_model_queues(api_client)
        finally:
            await api_client.aclose()

    assert asyncio.run(rescue()) == 0  # the claim is alive: the holder may come back to it
    time.sleep(0.6)
    assert asyncio.run(rescue()) == 1
    assert order(client, SHARED) == ["waiting"] and client.lrange(broker_list(SHARED, Priority.normal), 0, -1) == ["its-message"]
