"""Task lifecycle through the api with real workers: events, cancellation, positions."""

import json

from fastapi.testclient import TestClient

from tests.utils.tasks import wait_for


def submit(client: TestClient, headers: dict[str, str], **fields: object) -> str:
    body = {"model": "tiny-sd", "prompt": "lifecycle", "steps": 2, "seed": 1} | fields
    response = client.post("/api/images", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def test_events_stream_every_change_and_end_after_terminal(platform_client: TestClient, user: dict[str, str]) -> None:
    task_id = submit(platform_client, user, steps=6)
    records = []
    with platform_client.stream("GET", f"/api/images/{task_id}/events", headers=user) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:"):
                records.append(json.loads(line.removeprefix("data:").strip()))
    statuses = [record["status"] for record in records]
    assert statuses[-1] == "succeeded"
    assert "running" in statuses
    steps = [record["progress"]["step"] for record in records if record["status"] == "running"]
    assert steps == sorted(steps) and max(steps, default=0) >= 1
    assert records[-1]["outputs"][0]["url"]


def test_cancel_queued_task_never_runs(platform_client: TestClient, user: dict[str, str], admin: dict[str, str]) -> None:
    # A long task holds the single gpu worker, so the next one waits in the queue.
    blocker = submit(platform_client, admin, steps=50, width=256, height=256)
    wait_for(platform_client, "images", blocker, admin, statuses=("running",))
    queued = submit(platform_client, user)
    record = platform_client.get(f"/api/images/{queued}", headers=user).json()
    assert record["status"] == "queued" and record["position"] == 0
    cancelled = platform_client.delete(f"/api/images/{queued}", headers=user)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    platform_client.delete(f"/api/images/{blocker}", headers=admin)
    wait_for(platform_client, "images", blocker, admin)
    follower = submit(platform_client, user)
    wait_for(platform_client, "images", follower, user)
    record = platform_client.get(f"/api/images/{queued}", headers=user).json()
    assert record["status"] == "cancelled"
    assert record["started_at"] is None and record["attempts"] == 0


def test_cancel_running_task_stops_at_next_step(platform_client: TestClient, user: dict[str, str]) -> None:
    task_id = submit(platform_client, user, steps=50, width=256, height=256)
    wait_for(platform_client, "images", task_id, user, statuses=("running",))
    response = platform_client.delete(f"/api/images/{task_id}", headers=user)
    assert response.status_code == 200
    record = wait_for(platform_client, "images", task_id, user)
    assert record["status"] == "cancelled"
    assert record["progress"]["step"] < 50
    assert record["outputs"] == []
    assert platform_client.delete(f"/api/images/{task_id}", headers=user).json()["status"] == "cancelled"


def test_cancelling_a_finished_task_is_409(platform_client: TestClient, user: dict[str, str]) -> None:
    task_id = submit(platform_client, user)
    wait_for(platform_client, "images", task_id, user)
    response = platform_client.delete(f"/api/images/{task_id}", headers=user)
    assert response.status_code == 409
    assert response.json()["error"]["details"] == {"status": "succeeded"}


def test_positions_come_in_submit_order(platform_client: TestClient, user: dict[str, str], admin: dict[str, str]) -> None:
    blocker = submit(platform_client, admin, steps=50, width=256, height=256)
    wait_for(platform_client, "images", blocker, admin, statuses=("running",))
    ids = [submit(platform_client, user) for _ in range(3)]
    positions = [platform_client.get(f"/api/images/{task_id}", headers=user).json()["position"] for task_id in ids]
    assert positions == sorted(positions) and len(set(positions)) == 3
    platform_client.delete(f"/api/images/{blocker}", headers=admin)
    for task_id in ids:
        assert wait_for(platform_client, "images", task_id, user)["status"] == "succeeded"
