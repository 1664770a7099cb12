import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio

from core.queue import broker_list
from core.records import AsyncTaskStore, TaskStore
from core.schemas import Domain, Priority, Queue, TaskStatus
from tests.utils.platform import RedisServer
from tests.utils.tasks import start_first


def admit_many(url: str, key_id: str, count: int, per_key: int, total: int, first: int = 0) -> list[str]:
    async def go() -> list[str]:
        client = redis.asyncio.from_url(url, decode_responses=True)
        store = AsyncTaskStore(client, ttl_s=600)
        results = await asyncio.gather(
            *(
                store.admit(
                    task_id=f"{key_id}-{first + i}",
                    domain=Domain.images,
                    model="tiny-sd",
                    queue=Queue.gpu,
                    key_id=key_id,
                    request={"prompt": "x"},
                    notes=[],
                    message="{}",
                    per_key_limit=per_key,
                    total_limit=total,
                    idempotency=None,
                    key_record=f"dd:key:{key_id}",
                )
                for i in range(count)
            )
        )
        await client.aclose()
        return [result.outcome for result in results]

    return asyncio.run(go())


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own: no worker consumes the messages admitted here."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def test_backlog_limit_holds_exactly_under_concurrent_admission(redis_server: RedisServer) -> None:
    outcomes = admit_many(redis_server.url, "concurrent-key", count=60, per_key=17, total=10_000)
    assert outcomes.count("created") == 17
    assert outcomes.count("backlog_key") == 43


def test_finishing_frees_the_backlog_slot_and_is_idempotent(redis_server: RedisServer) -> None:
    assert admit_many(redis_server.url, "finish-key", count=1, per_key=1, total=10_000) == ["created"]
    assert admit_many(redis_server.url, "finish-key", count=1, per_key=1, total=10_000, first=1) == ["backlog_key"]
    store = TaskStore(redis_server.client(), ttl_s=600, log_lines=10)
    task = store.get("finish-key-0")
    assert task is not None and task.position is not None
    status, attempt, lease = start_first(store, task, "w1")
    assert (status, attempt) == ("running", 1)
    assert store.finish(task, lease, TaskStatus.succeeded, outputs=[{"text": "hi"}]) == "succeeded"
    assert store.finish(task, lease, TaskStatus.failed) == "succeeded"  # a late duplicate changes nothing
    assert store.take("gpu", "w2") is None, "nothing is left to take"
    done = store.get(task.id)
    assert done is not None and done.status == TaskStatus.succeeded and done.outputs == [{"text": "hi"}]
    assert admit_many(redis_server.url, "finish-key", count=1, per_key=1, total=10_000, first=2) == ["created"]


def test_log_is_bounded(redis_server: RedisServer) -> None:
    admit_many(redis_server.url, "log-key", count=1, per_key=5, total=10_000)
    store = TaskStore(redis_server.client(), ttl_s=600, log_lines=10)
    task = store.get("log-key-0")
    assert task is not None
    _, _, lease = start_first(store, task, "w1")
    for line in range(25):
        store.log(lease, f"line {line}")
    task = store.get("log-key-0")
    assert task is not None and task.logs == [f"line {n}" for n in range(15, 25)]


def test_admission_pushes_the_broker_message_only_when_created(redis_server: RedisServer) -> None:
    client = redis_server.client()
    assert sorted(admit_many(redis_server.url, "push-key", count=3, per_key=2, total=10_000)) == ["backlog_key", "created", "created"]
    assert client.llen(broker_list("gpu", Priority.normal)) == 2
