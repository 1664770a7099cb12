"""What starts next, with real workers and queued tasks: interactive before normal before batch,
keys taking turns within a priority, and positions that say where each task stands."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.schemas import Queue
from core.settings import Settings
from tests.utils.platform import RedisServer, WorkerFleet, make_settings
from tests.utils.tasks import new_key, wait_for

QUICK = {"model": "tiny-sd", "prompt": "turns", "steps": 2, "width": 64, "height": 64, "seed": 1}
# About 2 s on 2 cores: the worker is busy with it while the others queue.
SLOW = QUICK | {"steps": 30, "width": 384, "height": 384}


@pytest.fixture
def stack(tmp_path: Path, tiny_models: Path) -> Iterator[tuple[Settings, WorkerFleet]]:
    """A Redis of this test's own and a fleet that starts no worker until the test says so."""
    server = RedisServer(tmp_path / "redis").start()
    settings = make_settings(server.url, tmp_path / "data", tiny_models)
    fleet = WorkerFleet(settings, tmp_path)
    yield settings, fleet
    fleet.stop()
    server.stop()


def submit(client: TestClient, key: dict[str, str], priority: str = "normal", body: dict | None = None) -> str:
    response = client.post("/api/images", json=(body or QUICK) | {"priority": priority}, headers=key)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def positions(client: TestClient, key_of: dict[str, dict[str, str]]) -> list[str]:
    """Queued task ids, ordered by the position each record shows."""
    found = {task_id: client.get(f"/api/images/{task_id}", headers=key).json()["position"] for task_id, key in key_of.items()}
    assert sorted(found.values()) == list(range(len(found))), f"positions are distinct and dense: {found}"
    return sorted(found, key=found.__getitem__)


def start_order(client: TestClient, key_of: dict[str, dict[str, str]]) -> list[str]:
    records = {task_id: wait_for(client, "images", task_id, key, timeout_s=120) for task_id, key in key_of.items()}
    assert all(record["status"] == "succeeded" for record in records.values()), records
    return sorted(records, key=lambda task_id: records[task_id]["started_at"])


def test_priorities_come_first_keys_take_turns_and_positions_are_the_start_order(stack: tuple[Settings, WorkerFleet]) -> None:
    settings, fleet = stack
    with TestClient(create_app(settings)) as client:
        wedge, artist, dailies = new_key(client, "wedge"), new_key(client, "artist"), new_key(client, "dailies")
        wedge_tasks = [submit(client, wedge) for _ in range(5)]
        overnight = submit(client, wedge, "batch")
        artist_task = submit(client, artist)
        dailies_task = submit(client, dailies, "interactive")
        key_of = {task_id: wedge for task_id in [*wedge_tasks, overnight]} | {artist_task: artist, dailies_task: dailies}

        expected = positions(client, key_of)
        assert expected[0] == dailies_task, "interactive before any normal or batch task"
        assert expected.index(artist_task) <= 2, "the artist's turn comes with the wedge's first, not after its five"
        assert expected[-1] == overnight, "batch after every normal task"
        assert [task for task in expected if task in wedge_tasks] == wedge_tasks, "one key's tasks keep their order"

        fleet.start(Queue.gpu, "only@test")  # one worker: tasks start one by one in the order shown
        assert start_order(client, key_of) == expected


def test_another_keys_new_task_waits_only_for_what_the_busy_worker_runs(stack: tuple[Settings, WorkerFleet]) -> None:
    settings, fleet = stack
    fleet.start(Queue.gpu, "busy@test")
    fleet.wait_ready([Queue.gpu])
    with TestClient(create_app(settings)) as client:
        wedge, artist = new_key(client, "wedge"), new_key(client, "artist")
        wedge_tasks = [submit(client, wedge, body=SLOW)] + [submit(client, wedge) for _ in range(12)]
        wait_for(client, "images", wedge_tasks[0], wedge, statuses=("running",))
        artist_task = submit(client, artist)
        assert client.get(f"/api/images/{artist_task}", headers=artist).json()["position"] == 0
        assert client.get(f"/api/images/{wedge_tasks[1]}", headers=wedge).json()["position"] == 1, "the wedge's next moved back one"
        order = start_order(client, {task_id: wedge for task_id in wedge_tasks} | {artist_task: artist})
    assert order[:2] == [wedge_tasks[0], artist_task], "it starts as soon as the running task ends"


def test_a_cancelled_wedge_gives_its_turns_up(stack: tuple[Settings, WorkerFleet]) -> None:
    settings, _ = stack
    with TestClient(create_app(settings)) as client:
        wedge, artist = new_key(client, "wedge"), new_key(client, "artist")
        for task_id in [submit(client, wedge) for _ in range(6)]:
            assert client.delete(f"/api/images/{task_id}", headers=wedge).status_code == 200
        artist_tasks = [submit(client, artist) for _ in range(3)]
        again = submit(client, wedge)
        assert client.get(f"/api/images/{again}", headers=wedge).json()["position"] <= 1, "its turn comes with the artist's first"
        assert [client.get(f"/api/images/{task_id}", headers=artist).json()["position"] for task_id in artist_tasks[1:]] == [2, 3]


def test_the_admin_caps_a_keys_priority(client: TestClient, admin: dict[str, str]) -> None:
    created = client.post("/api/admin/keys", json={"name": "farm-wedges", "max_priority": "normal"}, headers=admin).json()
    assert created["max_priority"] == "normal"
    key = {"X-API-Key": created["key"]}
    refused = client.post("/api/images", json=QUICK | {"priority": "interactive"}, headers=key)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "priority_not_allowed"
    assert "at most `normal`" in refused.json()["error"]["message"]
    batch = {"domain": "images", "base": QUICK | {"priority": "interactive"}, "vary": {"seed": [1, 2]}}
    assert client.post("/api/batches", json=batch, headers=key).status_code == 403
    assert client.get("/api/tasks", headers=key).json()["tasks"] == [], "nothing was admitted"

    capped = client.put(f"/api/admin/keys/{created['id']}/priority", json={"max_priority": "batch"}, headers=admin)
    assert capped.status_code == 200 and capped.json() == {"max_priority": "batch"}
    assert client.post("/api/images", json=QUICK, headers=key).status_code == 403, "normal is above the new cap"
    accepted = client.post("/api/images", json=QUICK | {"priority": "batch"}, headers=key)
    assert accepted.status_code == 202
    record = client.get(f"/api/images/{accepted.json()['id']}", headers=key).json()
    assert record["priority"] == "batch" and "priority" not in record["request"]
    listed = {info["id"]: info for info in client.get("/api/admin/keys", headers=admin).json()}
    assert listed[created["id"]]["max_priority"] == "batch"
    assert client.put("/api/admin/keys/nope/priority", json={"max_priority": "batch"}, headers=admin).status_code == 404
