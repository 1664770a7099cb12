"""`Prefer: wait=N` on a submit: the finished record (200) when the task ends within N seconds,
else the usual 202 (RFC 7240; the wait is capped at 60 s)."""

from fastapi.testclient import TestClient

from tests.utils.tasks import partly_invalid_workflow, wait_for

QUICK = {"model": "tiny-sd", "prompt": "a quick one", "width": 64, "height": 64, "steps": 2, "seed": 5}
# Several seconds on a CPU: longer than a one-second wait.
SLOW = {"model": "tiny-sd", "prompt": "a slow one", "width": 512, "height": 512, "steps": 40, "seed": 6}


def test_a_task_that_ends_within_the_wait_answers_200_with_its_record(platform_client: TestClient, user: dict[str, str]) -> None:
    response = platform_client.post("/api/images", json=QUICK, headers=user | {"Prefer": "wait=30"})
    assert response.status_code == 200, response.text
    record = response.json()
    assert int(response.headers["content-length"]) == len(response.content)
    assert record["status"] == "succeeded" and record["outputs"][0]["url"], record
    assert response.headers["location"] == f"/api/images/{record['id']}"
    assert response.headers["preference-applied"] == "wait=30"
    assert platform_client.get(record["outputs"][0]["url"]).content[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_task_still_running_after_the_wait_answers_202(platform_client: TestClient, user: dict[str, str]) -> None:
    response = platform_client.post("/api/images", json=SLOW, headers=user | {"Prefer": "wait=1"})
    assert response.status_code == 202, response.text
    created = response.json()
    assert set(created) == {"id", "status", "position"}
    assert wait_for(platform_client, "images", created["id"], user, timeout_s=120)["status"] == "succeeded"


def test_the_wait_is_capped_and_anything_else_is_ignored(platform_client: TestClient, user: dict[str, str]) -> None:
    capped = platform_client.post("/api/images", json=QUICK | {"seed": 8}, headers=user | {"Prefer": "respond-async, wait=600"})
    assert capped.status_code == 200 and capped.headers["preference-applied"] == "wait=60"
    for prefer in ("wait=soon", "wait=-1", "return=minimal", ""):
        plain = platform_client.post("/api/images", json=QUICK | {"seed": 9}, headers=user | {"Prefer": prefer})
        assert plain.status_code == 202 and "preference-applied" not in plain.headers, prefer


def test_a_failing_task_answers_200_with_its_error(platform_client: TestClient, user: dict[str, str]) -> None:
    response = platform_client.post("/api/workflows", json={"workflow": partly_invalid_workflow()}, headers=user | {"Prefer": "wait=30"})
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["status"] == "failed" and record["error"]["code"] == "comfy_node_errors", record
