"""Faults with real parts: a worker SIGKILLed mid-task, a task outliving the visibility timeout,
Redis restarted while a task runs and others wait."""

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.heartbeat import queue_workers_key
from core.records import task_key
from core.schemas import Queue
from core.settings import Settings
from tests.utils.platform import RedisServer, WorkerFleet, make_settings
from tests.utils.tasks import new_key, wait_for

# About 3 s on a 2-core CPU: long enough to kill its worker mid-task.
SLOW = {"model": "tiny-sd", "prompt": "slow", "steps": 50, "width": 512, "height": 512, "seed": 3}
QUICK = SLOW | {"steps": 2, "width": 64, "height": 64}
# About 10 s on 2 cores (tiny-sd3's most steps and pixels).
LONG = {"model": "tiny-sd3", "prompt": "long", "steps": 50, "width": 512, "height": 512, "seed": 4}
# Twice that: well past the shortest visibility timeout (5 s) plus kombu's restore sweep (every 2 s with it).
OUTLIVING = LONG | {"num_outputs": 2}
LEASE_S = 3


@pytest.fixture
def stack_factory(tmp_path: Path, tiny_models: Path) -> Iterator:
    """A Redis and workers of this test's own, with short leases."""
    made: list[tuple[RedisServer, WorkerFleet]] = []

    def make(**overrides: object) -> tuple[RedisServer, Settings, WorkerFleet]:
        server = RedisServer(tmp_path / "redis").start()
        settings = make_settings(server.url, tmp_path / "data", tiny_models, **({"task_lease_s": LEASE_S} | overrides))
        fleet = WorkerFleet(settings, tmp_path)
        made.append((server, fleet))
        return server, settings, fleet

    yield make
    for server, fleet in made:
        fleet.stop()
        server.stop()


def test_task_of_a_killed_worker_runs_again_on_another_and_succeeds(stack_factory) -> None:  # type: ignore[no-untyped-def]
    # The visibility timeout is an hour: only the lease and the reaper can bring the task back.
    server, settings, fleet = stack_factory(visibility_timeout_s=3600)
    fleet.start(Queue.gpu, "doomed@test")
    fleet.wait_ready([Queue.gpu])
    with TestClient(create_app(settings)) as client:
        headers = new_key(client)
        task_id = client.post("/api/images", json=SLOW, headers=headers).json()["id"]
        running = wait_for(client, "images", task_id, headers, statuses=("running",))
        assert running["attempts"] == 1
        fleet.start(Queue.gpu, "rescuer@test")
        fleet.kill("doomed@test")  # the whole worker: main process and pool child
        assert client.get(f"/api/images/{task_id}", headers=headers).json()["status"] == "running"
        record = wait_for(client, "images", task_id, headers, timeout_s=120)
        worker = server.client().hget(task_key(task_id), "worker") or ""
    assert record["status"] == "succeeded", record
    assert record["attempts"] == 2
    assert any("doomed@test" in line and "was lost" in line and "requeued" in line for line in record["logs"]), record["logs"]
    assert "rescuer@test" in "".join(record["logs"]) or "rescuer@test" in worker
    assert len(record["outputs"]) == 1


def test_a_task_outliving_the_visibility_timeout_never_runs_twice_at_once(stack_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Kombu redelivers the message after 5 s while the first worker still runs the task.
    server, settings, fleet = stack_factory(visibility_timeout_s=5)
    fleet.start(Queue.gpu, "first@test")
    fleet.start(Queue.gpu, "second@test")
    fleet.wait_ready([Queue.gpu])
    with TestClient(create_app(settings)) as client:
        headers = new_key(client)
        task_id = client.post("/api/images", json=OUTLIVING, headers=headers).json()["id"]
        record = wait_for(client, "images", task_id, headers, timeout_s=180)
    assert record["status"] == "succeeded", record
    assert record["attempts"] == 1
    assert sum("running tiny-sd3" in line for line in record["logs"]) == 1
    # Redelivery comes once the 5 s visibility timeout has passed and an idle worker's restore check
    # (every 2 s here) has run: the task must outlive both, with room, for the test to mean anything.
    assert record["timings"]["run_s"] > 7, "the task must outlive the visibility timeout for this test to mean anything"
    spare = [line for name in ("first", "second") for line in (tmp_path / f"{name}.log").read_text().splitlines() if "a spare turn" in line]
    assert spare, "the redelivered message was not seen and found nothing to run"


def test_a_redis_restart_pauses_the_platform_and_loses_nothing(stack_factory) -> None:  # type: ignore[no-untyped-def]
    server, settings, fleet = stack_factory()
    fleet.start(Queue.gpu)
    fleet.wait_ready([Queue.gpu])
    with TestClient(create_app(settings)) as client:
        headers = new_key(client)
        running_id = client.post("/api/images", json=SLOW, headers=headers).json()["id"]
        queued_ids = [client.post("/api/images", json=QUICK | {"seed": seed}, headers=headers).json()["id"] for seed in range(3)]
        deadline = time.monotonic() + 60
        while client.get(f"/api/images/{running_id}", headers=headers).json()["progress"]["step"] < 2:
            assert time.monotonic() < deadline, "the slow task never made progress"
            time.sleep(0.05)

        server.stop()  # SIGTERM: Redis flushes its append-only file and exits
        submit = client.post("/api/images", json=QUICK, headers=headers)
        assert submit.status_code == 503, submit.text
        assert submit.json()["error"]["code"] == "redis_unavailable" and int(submit.headers["retry-after"]) > 0
        assert client.get(f"/api/images/{running_id}", headers=headers).status_code == 503
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
        time.sleep(2)
        server.start()

        records = [wait_for(client, "images", task_id, headers, timeout_s=120) for task_id in [running_id, *queued_ids]]
        assert [record["status"] for record in records] == ["succeeded"] * 4, records
        assert records[0]["attempts"] == 1, records[0]["logs"]
        after = client.post("/api/images", json=QUICK, headers=headers)
        assert after.status_code == 202
        assert wait_for(client, "images", after.json()["id"], headers, timeout_s=60)["status"] == "succeeded"
    assert server.client().zcard("dd:leases") == 0


def test_a_stopped_worker_hands_its_task_to_another_at_once(stack_factory) -> None:  # type: ignore[no-untyped-def]
    server, settings, fleet = stack_factory(visibility_timeout_s=3600, drain_s=1)
    leaving = fleet.start(Queue.gpu, "leaving@test")
    fleet.wait_ready([Queue.gpu])
    with TestClient(create_app(settings)) as client:
        headers = new_key(client)
        task_id = client.post("/api/images", json=LONG, headers=headers).json()["id"]
        wait_for(client, "images", task_id, headers, statuses=("running",))
        fleet.start(Queue.gpu, "staying@test")
        store = server.client()
        deadline = time.monotonic() + 60
        while "staying@test" not in store.zrange(queue_workers_key(Queue.gpu), 0, -1):
            assert time.monotonic() < deadline, "the second worker never came up"
            time.sleep(0.1)
        leaving.send_signal(signal.SIGTERM)  # as compose stop or a scale-down does
        leaving.wait(60)  # it exits soon after its drain time: the task does not hold it
        record = wait_for(client, "images", task_id, headers, timeout_s=120)
        worker = store.hget(task_key(task_id), "worker") or ""
    assert record["status"] == "succeeded", record
    assert "requeued: worker shutting down" in record["logs"]
    assert record["attempts"] == 1  # a drain is not a lost attempt
    assert worker.startswith("staying@test")
