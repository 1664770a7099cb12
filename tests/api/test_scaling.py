"""/scaling: what KEDA scales workers on (queued + running per queue), and /readyz's queue choice."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.records import TaskStore
from core.schemas import Queue, TaskStatus
from tests.utils.platform import RedisServer, make_settings
from tests.utils.tasks import new_key, start_first


@pytest.fixture
def lone_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of its own: no worker of the session consumes these tasks."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def demand(client: TestClient, queue: str) -> dict[str, int]:
    response = client.get("/scaling")
    assert response.status_code == 200, response.text
    return response.json()["queues"][queue]


def test_demand_counts_queued_and_running_tasks_until_they_end(lone_redis: RedisServer, tmp_path: Path, models_dir: Path) -> None:
    settings = make_settings(lone_redis.url, tmp_path / "data", models_dir)
    with TestClient(create_app(settings)) as client:
        user = new_key(client)
        assert demand(client, "gpu") == {"queued": 0, "running": 0, "workers": 0, "demand": 0}
        ids = [client.post("/api/images", json={"model": "tiny-sd", "prompt": f"p{i}"}, headers=user).json()["id"] for i in range(2)]
        assert demand(client, "gpu") == {"queued": 2, "running": 0, "workers": 0, "demand": 2}
        assert demand(client, "cpu")["demand"] == 0

        # A worker starts one (the workers' own store, as a Celery task does): it moves from queued to running.
        store = TaskStore(lone_redis.client(), ttl_s=600, log_lines=10)
        first = store.get(ids[0])
        assert first is not None
        _, _, lease = start_first(store, first, "gpu@pod-1")
        assert demand(client, "gpu") == {"queued": 1, "running": 1, "workers": 0, "demand": 2}

        # Drained: handed back, it is queued again, not running.
        assert store.requeue(first, lease, "{}", "drain") == "requeued"
        assert demand(client, "gpu") == {"queued": 2, "running": 0, "workers": 0, "demand": 2}

        _, _, lease = start_first(store, first, "gpu@pod-1")
        assert store.finish(first, lease, TaskStatus.succeeded, []) == "succeeded"
        assert demand(client, "gpu") == {"queued": 1, "running": 0, "workers": 0, "demand": 1}
        assert client.delete(f"/api/images/{ids[1]}", headers=user).status_code in (200, 202)
        assert demand(client, "gpu")["demand"] == 0
        assert not lone_redis.client().keys("dd:running:*"), "an empty running set is left behind"


def test_readyz_asks_only_for_the_ready_queues(lone_redis: RedisServer, tmp_path: Path, models_dir: Path) -> None:
    every_queue = make_settings(lone_redis.url, tmp_path / "data", models_dir)
    with TestClient(create_app(every_queue)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503 and response.json()["workers"] == {"gpu": 0, "cpu": 0, "comfy": 0}
    # Autoscaled from zero: a queue without workers must not keep the api out of its Service.
    redis_only = make_settings(lone_redis.url, tmp_path / "data", models_dir, ready_queues=[])
    with TestClient(create_app(redis_only)) as client:
        response = client.get("/readyz")
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == "ready"


def test_ready_queues_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, models_dir: Path) -> None:
    monkeypatch.setenv("DDIFFUSION_READY_QUEUES", "cpu, comfy")
    assert make_settings("redis://127.0.0.1:1/0", tmp_path, models_dir).ready_queues == [Queue.cpu, Queue.comfy]
    monkeypatch.setenv("DDIFFUSION_READY_QUEUES", "")
    assert make_settings("redis://127.0.0.1:1/0", tmp_path, models_dir).ready_queues == []
