"""GET /api/tasks: one key's tasks, newest first, filtered by one index each, paged by cursor."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.records import TaskStore
from core.schemas import TaskStatus
from tests.utils.platform import ADMIN_KEY, RedisServer, make_settings
from tests.utils.tasks import new_key, start_first, wait_for

IMAGE = {"model": "tiny-sd", "prompt": "history", "width": 64, "height": 64, "steps": 2}


def listed(client: TestClient, headers: dict[str, str], **params: object) -> list[str]:
    response = client.get("/api/tasks", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [task["id"] for task in response.json()["tasks"]]


def test_a_keys_tasks_newest_first_by_domain_model_and_status(platform_client: TestClient, user: dict[str, str]) -> None:
    images = [platform_client.post("/api/images", json=IMAGE | {"seed": i}, headers=user).json()["id"] for i in range(3)]
    text = platform_client.post("/api/texts", json={"model": "tiny-llm", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}, headers=user).json()["id"]
    for task_id in images:
        assert wait_for(platform_client, "images", task_id, user)["status"] == "succeeded"
    assert wait_for(platform_client, "texts", text, user)["status"] == "succeeded"

    page = platform_client.get("/api/tasks", headers=user).json()
    assert [task["id"] for task in page["tasks"]] == [text, *reversed(images)]
    assert page["next_cursor"] is None
    assert page["tasks"][1]["outputs"][0]["url"], "records as GET returns them, signed URLs included"
    assert listed(platform_client, user, domain="images") == list(reversed(images))
    assert listed(platform_client, user, model="tiny-llm") == [text]
    assert listed(platform_client, user, model="tiny-llm", domain="images") == []
    assert listed(platform_client, user, status="succeeded", domain="images") == list(reversed(images))
    assert listed(platform_client, user, status="queued") == listed(platform_client, user, status="running") == []


def test_pages_follow_the_cursor_without_gaps_or_repeats(platform_client: TestClient, user: dict[str, str]) -> None:
    made = [platform_client.post("/api/images", json=IMAGE | {"seed": 10 + i}, headers=user).json()["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        page = platform_client.get("/api/tasks", params={"limit": 2} | ({"cursor": cursor} if cursor else {}), headers=user).json()
        assert len(page["tasks"]) <= 2
        seen += [task["id"] for task in page["tasks"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))


def test_since_keeps_the_later_tasks(platform_client: TestClient, user: dict[str, str]) -> None:
    first = platform_client.post("/api/images", json=IMAGE | {"seed": 20}, headers=user).json()["id"]
    time.sleep(0.05)
    cut = datetime.now(UTC)
    later = platform_client.post("/api/images", json=IMAGE | {"seed": 21}, headers=user).json()["id"]
    assert listed(platform_client, user, since=cut.isoformat()) == [later]
    assert listed(platform_client, user) == [later, first]


def test_only_the_admin_sees_another_keys_tasks(client: TestClient, user: dict[str, str]) -> None:
    task_id = client.post("/api/images", json=IMAGE | {"seed": 30}, headers=user).json()["id"]
    other = new_key(client, "other")
    assert listed(client, other) == []
    owner = client.get(f"/api/images/{task_id}", headers=user).json()
    key_id = user["X-API-Key"].split("_")[1]
    assert owner["id"] == task_id
    assert listed(client, {"X-API-Key": ADMIN_KEY}, key_id=key_id) == [task_id]
    refused = client.get("/api/tasks", params={"key_id": key_id}, headers=other)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    bad = client.get("/api/tasks", params={"cursor": "not-a-cursor"}, headers=user)
    assert bad.status_code == 422 and "next_cursor" in bad.json()["error"]["message"]
    assert client.get("/api/tasks").status_code == 401


@pytest.fixture
def lone_client(tmp_path: Path, models_dir: Path) -> Iterator[tuple[TestClient, RedisServer]]:
    """No worker consumes these tasks: the test moves them itself, as a worker's store does."""
    server = RedisServer(tmp_path / "redis").start()
    with TestClient(create_app(make_settings(server.url, tmp_path / "data", models_dir))) as client:
        yield client, server
    server.stop()


def test_the_status_indexes_follow_every_transition(lone_client: tuple[TestClient, RedisServer]) -> None:
    client, server = lone_client
    user = new_key(client)
    ids = [client.post("/api/images", json=IMAGE | {"seed": i}, headers=user).json()["id"] for i in range(3)]
    assert listed(client, user, status="queued") == list(reversed(ids))

    store = TaskStore(server.client(), ttl_s=600, log_lines=10)
    task = store.get(ids[0])
    assert task is not None
    _, _, lease = start_first(store, task, "gpu@test")
    assert listed(client, user, status="running", domain="images") == [ids[0]]
    assert store.requeue(task, lease, "{}", "drain") == "requeued"
    assert listed(client, user, status="running") == []
    _, _, lease = start_first(store, task, "gpu@test")
    assert store.finish(task, lease, TaskStatus.failed) == "failed"
    assert client.delete(f"/api/images/{ids[1]}", headers=user).status_code == 200
    assert listed(client, user, status="failed", model="tiny-sd") == [ids[0]]
    assert listed(client, user, status="cancelled") == [ids[1]]
    assert listed(client, user, status="queued") == [ids[2]]

    # Every index expires (none outlives the records it lists), except those of live tasks, which
    # empty themselves as the tasks end; an expired record leaves its entries on the next read.
    redis = server.client()
    names = redis.keys("dd:hist:*")
    assert names and all(redis.ttl(name) > 600 for name in names if not name.endswith((":s:queued", ":s:running")))
    assert set(redis.zrange(f"dd:hist:{user['X-API-Key'].split('_')[1]}:s:queued", 0, -1)) == {ids[2]}
    redis.delete(f"dd:task:{ids[2]}")
    assert listed(client, user) == [ids[1], ids[0]]
    assert ids[2] not in redis.zrange(names[0].split(":s:")[0].split(":m:")[0].split(":d:")[0], 0, -1)
