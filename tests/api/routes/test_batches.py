"""Batches and wedges: expanded, checked task by task, admitted all or none, followed as one."""

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.utils.platform import RedisServer, make_settings
from tests.utils.tasks import new_key

BASE = {"model": "tiny-sd", "prompt": "a wedge", "width": 64, "height": 64, "steps": 2}
SLOW = BASE | {"width": 512, "height": 512, "steps": 40}


def create(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/batches", json=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/api/batches/{response.json()['id']}"
    return response.json()


def finished(client: TestClient, headers: dict[str, str], batch_id: str, timeout_s: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        batch = client.get(f"/api/batches/{batch_id}", headers=headers).json()
        if batch["done"]:
            return batch
        assert time.monotonic() < deadline, batch["counts"]
        time.sleep(0.2)


def test_a_wedge_runs_every_combination(platform_client: TestClient, user: dict[str, str]) -> None:
    created = create(platform_client, user, {"domain": "images", "base": BASE, "vary": {"seed": {"from": 1, "to": 3}, "guidance": [5, 7.5]}})
    assert len(created["tasks"]) == 6 and all(task["position"] is not None for task in created["tasks"])
    batch = finished(platform_client, user, created["id"])
    assert batch["counts"]["succeeded"] == 6 and batch["fraction"] == 1.0
    assert [task["id"] for task in batch["tasks"]] == [task["id"] for task in created["tasks"]], "in order"
    combos = {(task["request"]["guidance"], task["request"]["seed"]) for task in batch["tasks"]}
    assert combos == {(g, s) for g in (5, 7.5) for s in (1, 2, 3)}
    assert all(task["batch"] == created["id"] and task["outputs"][0]["url"] for task in batch["tasks"])


def test_a_frame_range_keeps_its_labels_on_tasks_and_outputs(platform_client: TestClient, user: dict[str, str]) -> None:
    body = {"domain": "images", "base": BASE, "requests": [{"seed": 1001}, {"seed": 1002}], "labels": ["1001", "1002"]}
    created = create(platform_client, user, body)
    assert [task["label"] for task in created["tasks"]] == ["1001", "1002"]
    batch = finished(platform_client, user, created["id"])
    for task, frame in zip(batch["tasks"], ("1001", "1002"), strict=True):
        assert task["label"] == frame and task["outputs"][0]["label"] == frame
        assert task["request"]["seed"] == int(frame)
    one = platform_client.get(f"/api/images/{batch['tasks'][0]['id']}", headers=user).json()
    assert (one["batch"], one["label"]) == (created["id"], "1001")
    listed = platform_client.get("/api/tasks", params={"batch": created["id"], "limit": 1}, headers=user).json()
    assert [task["label"] for task in listed["tasks"]] == ["1002"], "newest first"
    rest = platform_client.get("/api/tasks", params={"batch": created["id"], "limit": 1, "cursor": listed["next_cursor"]}, headers=user).json()
    assert [task["label"] for task in rest["tasks"]] == ["1001"] and rest["next_cursor"] is None
    other = new_key(platform_client, "someone-else")
    assert platform_client.get("/api/tasks", params={"batch": created["id"]}, headers=other).json()["tasks"] == []


def test_the_stream_ends_when_every_task_has(platform_client: TestClient, user: dict[str, str]) -> None:
    created = create(platform_client, user, {"domain": "images", "base": BASE, "vary": {"seed": [7, 8]}})
    with platform_client.stream("GET", f"/api/batches/{created['id']}/events", headers=user) as stream:
        events = [json.loads(line[5:]) for line in stream.iter_lines() if line.startswith("data:")]
    assert events[-1]["done"] is True and events[-1]["counts"]["succeeded"] == 2
    assert all(not event["done"] for event in events[:-1])


def test_a_bad_task_refuses_the_whole_batch_naming_it(client: TestClient, user: dict[str, str]) -> None:
    bad_field = client.post("/api/batches", json={"domain": "images", "base": BASE, "requests": [{}, {}, {"steps": 999}]}, headers=user)
    assert bad_field.status_code == 422
    assert bad_field.json()["error"]["details"][0]["loc"][:3] == ["body", "tasks", 2]
    labelled = {"domain": "images", "base": BASE, "requests": [{}, {"model": "no-such-model"}], "labels": ["a", "b"]}
    unknown = client.post("/api/batches", json=labelled, headers=user)
    assert unknown.status_code == 422 and unknown.json()["error"]["message"].startswith("task 1 (b):")
    too_big = client.post("/api/batches", json={"domain": "images", "base": BASE, "vary": {"seed": {"from": 1, "to": 500}}}, headers=user)
    assert too_big.status_code == 422 and "at most" in too_big.json()["error"]["message"]
    tiny_step = client.post("/api/batches", json={"domain": "images", "base": BASE, "vary": {"seed": {"from": 0, "to": 1, "step": 5e-324}}}, headers=user)
    assert tiny_step.status_code == 422 and "more than" in tiny_step.json()["error"]["message"]
    backwards = client.post("/api/batches", json={"domain": "images", "base": BASE, "vary": {"seed": {"from": 3, "to": 1}}}, headers=user)
    assert backwards.status_code == 422 and "is empty" in backwards.json()["error"]["message"]
    wrong_labels = client.post("/api/batches", json={"domain": "images", "base": BASE, "vary": {"seed": [1, 2]}, "labels": ["x"]}, headers=user)
    assert wrong_labels.status_code == 422 and "one label per task" in wrong_labels.json()["error"]["message"]
    assert client.get("/api/tasks", headers=user).json()["tasks"] == [], "nothing was admitted"


@pytest.fixture
def small_backlog(tmp_path: Path, models_dir: Path) -> Iterator[tuple[TestClient, RedisServer]]:
    server = RedisServer(tmp_path / "redis").start()
    with TestClient(create_app(make_settings(server.url, tmp_path / "data", models_dir, backlog_per_key=3))) as client:
        yield client, server
    server.stop()


def test_a_batch_past_the_backlog_is_refused_whole_and_cancel_reaches_every_task(small_backlog: tuple[TestClient, RedisServer]) -> None:
    client, server = small_backlog
    user = new_key(client)
    refused = client.post("/api/batches", json={"domain": "images", "base": BASE, "vary": {"seed": [1, 2, 3, 4]}}, headers=user)
    assert refused.status_code == 429 and "split the batch" in refused.json()["error"]["message"]
    assert not server.client().keys("dd:task:*") and not server.client().keys("dd:batch:*"), "all or nothing"

    created = create(client, user, {"domain": "images", "base": SLOW, "vary": {"seed": [1, 2, 3]}})
    cancelled = client.delete(f"/api/batches/{created['id']}", headers=user)
    assert cancelled.status_code == 200
    assert cancelled.json()["counts"]["cancelled"] == 3 and cancelled.json()["done"] is True  # no worker: all were queued
    assert server.client().ttl(f"dd:batch:{created['id']}") > 0, "a finished batch expires with its tasks"
    other = new_key(client, "other")
    assert client.get(f"/api/batches/{created['id']}", headers=other).status_code == 404
