"""Faults with real parts: a worker SIGKILLed mid-task, a Redis restart with tasks queued."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.schemas import Queue
from core.settings import Settings
from tests.utils.platform import RedisServer, WorkerFleet, make_settings
from tests.utils.tasks import new_key, wait_for

# About 3 s on a 2-core CPU: long enough to kill its worker mid-task.
SLOW = {"model": "tiny-sd", "prompt": "slow", "steps": 50, "width": 512, "height": 512, "seed": 3}


@pytest.fixture
def own_stack(tmp_path: Path, tiny_models: Path) -> Iterator[tuple[RedisServer, Settings, WorkerFleet]]:
    """A Redis and workers of this test's own, with a short visibility timeout."""
    server = RedisServer(tmp_path / "redis").start()
    settings = make_settings(server.url, tmp_path / "data", tiny_models, visibility_timeout_s=5)
    fleet = WorkerFleet(settings, tmp_path)
    yield server, settings, fleet
    fleet.stop()
    server.stop()


def test_task_of_a_killed_worker_runs_again_and_succeeds(own_stack: tuple[RedisServer, Settings, WorkerFleet]) -> None:
    server, settings, fleet = own_stack
    fleet.start(Queue.gpu, "doomed@test")
    fleet.wait_ready([Queue.gpu])
    with TestClient(create_app(settings)) as client:
        headers = new_key(client)
        task_id = client.post("/api/images", json=SLOW, headers=headers).json()["id"]
        running = wait_for(client, "images", task_id, headers, statuses=("running",))
        assert running["attempts"] == 1
        fleet.kill("doomed@test")
        assert client.get(f"/api/images/{task_id}", headers=headers).json()["status"] == "running"
        fleet.start(Queue.gpu, "rescuer@test")
        record = wait_for(client, "images", task_id, headers, timeout_s=120)
    assert record["status"] == "succeeded", record
    assert record["attempts"] == 2
    assert any("previous worker was lost" in line for line in record["logs"])
    assert len(record["outputs"]) == 1


def test_queued_tasks_survive_a_redis_restart(own_stack: tuple[RedisServer, Settings, WorkerFleet]) -> None:
    server, settings, fleet = own_stack
    with TestClient(create_app(settings)) as client:
        headers = new_key(client)
        ids = [client.post("/api/images", json=SLOW | {"steps": 2, "width": 64, "height": 64}, headers=headers).json()["id"] for _ in range(3)]
    server.stop()  # SIGTERM: Redis flushes its append-only file and exits
    server.start()
    fleet.start(Queue.gpu)
    with TestClient(create_app(settings)) as client:
        records = [wait_for(client, "images", task_id, headers, timeout_s=120) for task_id in ids]
    assert [record["status"] for record in records] == ["succeeded"] * 3
