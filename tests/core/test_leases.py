"""Leases and the reaper at the store level, against a real Redis: who may run and write a task."""

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio

from core.queue import broker_list
from core.records import LEASES_KEY, AsyncTaskStore, StoredTask, TaskStore, drain_key, logs_key, task_key
from core.schemas import Domain, Priority, Queue, TaskStatus
from tests.utils.platform import RedisServer
from tests.utils.tasks import start_first

LEASE_S = 0.3
NORMAL_LIST = broker_list("gpu", Priority.normal)  # where kombu keeps normal-priority gpu messages


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def admit(url: str, task_id: str) -> None:
    async def go() -> None:
        client = redis.asyncio.from_url(url, decode_responses=True)
        store = AsyncTaskStore(client, ttl_s=600)
        admission = await store.admit(
            task_id=task_id, domain=Domain.images, model="tiny-sd", queue=Queue.gpu, key_id="k", request={"prompt": "x"},
            notes=["a note"], message="first-message", per_key_limit=100, total_limit=100, idempotency=None, key_record="dd:key:k",
        )  # fmt: skip
        assert admission.outcome == "created"
        await client.aclose()

    asyncio.run(go())


def reap(url: str, task: StoredTask, max_attempts: int = 3, reapers: int = 1) -> list[tuple[str, str]]:
    async def go() -> list[tuple[str, str]]:
        client = redis.asyncio.from_url(url, decode_responses=True)
        store = AsyncTaskStore(client, ttl_s=600)
        outcomes = await asyncio.gather(*(store.reap(task, "reaped-message", max_attempts) for _ in range(reapers)))
        await client.aclose()
        return list(outcomes)

    return asyncio.run(go())


def started(server: RedisServer, task_id: str = "t1") -> tuple[TaskStore, StoredTask]:
    admit(server.url, task_id)
    store = TaskStore(server.client(), ttl_s=600, log_lines=50, lease_s=LEASE_S)
    task = store.get(task_id)
    assert task is not None
    return store, task


def test_a_running_task_does_not_start_twice(server: RedisServer) -> None:
    store, task = started(server)
    assert start_first(store, task, "first")[:2] == ("running", 1)
    assert store.take("gpu", "second") is None
    again = store.get(task.id)
    assert again is not None and again.attempts == 1


def test_a_task_taken_by_a_worker_lost_before_starting_it_goes_back_to_its_place(server: RedisServer) -> None:
    store, task = started(server)
    client = server.client()
    taken = store.take("gpu", "doomed@host")
    assert taken is not None and taken.task_id == task.id
    assert store.get(task.id).position == 0, "a task being started is next"  # type: ignore[union-attr]
    time.sleep(LEASE_S + 0.1)
    assert reap(server.url, task) == [("returned", "")]
    record = store.get(task.id)
    assert record is not None and record.status == TaskStatus.queued and record.attempts == 0 and record.position == 0
    assert client.lrange(NORMAL_LIST, -1, -1) == ["reaped-message"], "with a turn to run it"
    assert store.start(task, taken)[0] == "taken", "the lost worker's reservation is void"
    assert start_first(store, task, "next@host")[:2] == ("running", 1)


def test_a_task_whose_lease_expired_runs_again_once_reaped_and_the_old_worker_is_superseded(server: RedisServer) -> None:
    store, task = started(server)
    _, _, first = start_first(store, task, "first")
    time.sleep(LEASE_S + 0.1)
    assert store.take("gpu", "second") is None, "only the reaper hands a lost worker's task on"
    assert reap(server.url, task)[0][0] == "requeued"
    status, attempt, second = start_first(store, task, "second")
    assert (status, attempt) == ("running", 2)
    assert store.progress(first, 1, 2) == "lost"  # the old worker may not write any more
    assert store.finish(task, first, TaskStatus.succeeded, outputs=[{"text": "old"}]) == "superseded"
    assert store.finish(task, second, TaskStatus.succeeded, outputs=[{"text": "new"}]) == "succeeded"
    done = store.get(task.id)
    assert done is not None and done.outputs == [{"text": "new"}]


def test_reaper_requeues_at_the_front_and_names_the_lost_worker(server: RedisServer) -> None:
    store, task = started(server)
    client = server.client()
    client.lpush(NORMAL_LIST, "a-later-message")
    _, _, lease = start_first(store, task, "doomed@host")
    lost = f"doomed@host (pid {os.getpid()})"
    assert reap(server.url, task) == [("alive", "")]
    time.sleep(LEASE_S + 0.1)
    assert reap(server.url, task, reapers=4).count(("requeued", lost)) == 1  # several api processes, one requeue
    record = store.get(task.id)
    assert record is not None and record.status == TaskStatus.queued and record.position == 0
    assert client.lrange(NORMAL_LIST, -1, -1) == ["reaped-message"]  # kombu pops from the right: it runs next
    assert any(f"{lost} was lost" in line and "attempt 2 of 3" in line for line in record.logs)
    assert store.progress(lease, 1, 2) == "lost"
    assert client.zscore(LEASES_KEY, task.id) is None


def test_reaper_fails_the_task_after_max_attempts(server: RedisServer) -> None:
    store, task = started(server)
    for attempt in (1, 2):
        assert start_first(store, task, f"w{attempt}")[:2] == ("running", attempt)
        time.sleep(LEASE_S + 0.1)
        expected = "requeued" if attempt < 2 else "failed"
        assert reap(server.url, task, max_attempts=2)[0][0] == expected
    record = store.get(task.id)
    assert record is not None and record.status == TaskStatus.failed
    assert record.error is not None and record.error.code == "worker_lost" and "w2" in record.error.message
    assert server.client().ttl(task_key(task.id)) > 0


def test_a_lost_task_its_client_cancelled_ends_cancelled_instead_of_running_again(server: RedisServer) -> None:
    store, task = started(server)
    start_first(store, task, "w")
    server.client().hset(task_key(task.id), "cancel", "1")  # as DELETE /api/images/{id} does while it runs
    time.sleep(LEASE_S + 0.1)
    assert reap(server.url, task) == [("cancelled", f"w (pid {os.getpid()})")]
    record = store.get(task.id)
    assert record is not None and record.status == TaskStatus.cancelled
    assert "reaped-message" not in server.client().lrange(NORMAL_LIST, 0, -1)  # not requeued


def test_a_record_expires_only_once_its_task_ends(server: RedisServer) -> None:
    store, task = started(server)
    client = server.client()
    assert client.ttl(task_key(task.id)) == -1 and client.ttl(logs_key(task.id)) == -1
    _, _, lease = start_first(store, task, "w")
    store.log(lease, "working")
    assert client.ttl(task_key(task.id)) == -1
    store.finish(task, lease, TaskStatus.succeeded, outputs=[{"text": "done"}])
    assert 590 < client.ttl(task_key(task.id)) <= 600 and 590 < client.ttl(logs_key(task.id)) <= 600


def test_worker_writes_never_recreate_a_vanished_record(server: RedisServer) -> None:
    store, task = started(server)
    _, _, lease = start_first(store, task, "w")
    client = server.client()
    client.delete(task_key(task.id), logs_key(task.id))
    assert store.progress(lease, 3, 10) == "lost"
    store.log(lease, "a line")
    store.preview(lease, "sha256:" + "0" * 64, 3)
    store.append_text(lease, "text")
    assert client.keys(f"dd:task:{task.id}*") == []
    assert store.get(task.id) is None


def test_a_draining_worker_hands_its_task_back_at_the_front_without_counting_the_attempt(server: RedisServer) -> None:
    store, task = started(server)
    client = server.client()
    _, _, lease = start_first(store, task, "leaving@host")
    client.set(drain_key("leaving@host"), time.time() + 60)
    assert store.progress(lease, 1, 10) == "ok"  # shutting down, but still within its drain time
    client.set(drain_key("leaving@host"), time.time() - 1)
    assert store.progress(lease, 2, 10) == "drain" and store.state(lease) == "drain"
    assert store.requeue(task, lease, "handed-back", "worker shutting down") == "requeued"
    record = store.get(task.id)
    assert record is not None and record.status == TaskStatus.queued and record.position == 0 and record.attempts == 0
    assert "requeued: worker shutting down" in record.logs
    assert client.lrange(NORMAL_LIST, -1, -1) == ["handed-back"] and client.zscore(LEASES_KEY, task.id) is None
    assert start_first(store, task, "staying@host")[:2] == ("running", 1)  # the next worker's attempt is the first
