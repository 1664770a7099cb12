"""Usage per key and day, counted as tasks end, and the admin's daily GPU-seconds quota."""

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.utils.platform import ADMIN_KEY
from tests.utils.tasks import wait_for

ADMIN = {"X-API-Key": ADMIN_KEY}
IMAGE = {"model": "tiny-sd", "prompt": "counted", "width": 64, "height": 64, "steps": 2}


def run(client: TestClient, headers: dict[str, str], domain: str, body: dict[str, object]) -> dict[str, object]:
    response = client.post(f"/api/{domain}", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return wait_for(client, domain, response.json()["id"], headers, timeout_s=120)


def key_id_of(headers: dict[str, str]) -> str:
    return headers["X-API-Key"].split("_")[1]


def today(client: TestClient, headers: dict[str, str]) -> dict[str, object]:
    report = client.get("/api/usage", headers=headers).json()
    [day] = report["days"]
    assert day["date"] == datetime.now(UTC).date().isoformat()
    return day


def test_usage_counts_tasks_gpu_time_provider_units_and_bytes(platform_client: TestClient, user: dict[str, str]) -> None:
    images = [run(platform_client, user, "images", IMAGE | {"seed": seed}) for seed in (1, 2)]
    text = run(platform_client, user, "texts", {"model": "tiny-llm", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})
    hosted = run(platform_client, user, "images", {"model": "gpt-image-1", "prompt": "a counted teapot"})
    assert all(record["status"] == "succeeded" for record in (*images, text, hosted))

    day = today(platform_client, user)
    assert day["key_id"] == key_id_of(user)
    assert day["tasks"] == {"succeeded": 4}
    assert day["models"] == {"tiny-sd": 2, "tiny-llm": 1, "gpt-image-1": 1}
    run_s = sum(record["timings"]["run_s"] for record in (*images, text))
    assert 0 < day["gpu_seconds"] <= run_s + 1, "GPU time is the gpu tasks' run time"
    assert day["provider_calls"] == 1
    assert day["units"]["images"] == 1 and day["units"]["input_tokens"] > 0
    png_bytes = sum(len(platform_client.get(record["outputs"][0]["url"]).content) for record in (*images, hosted))
    assert day["output_bytes"] == png_bytes

    everyone = platform_client.get("/api/admin/usage", headers=ADMIN).json()["days"]
    assert any(entry["key_id"] == key_id_of(user) and entry["tasks"] == {"succeeded": 4} for entry in everyone)
    mine = platform_client.get("/api/admin/usage", params={"key_id": key_id_of(user)}, headers=ADMIN).json()["days"]
    assert [entry["key_id"] for entry in mine] == [key_id_of(user)]
    assert platform_client.get("/api/admin/usage", headers=user).status_code == 403
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    assert platform_client.get("/api/usage", params={"until": yesterday}, headers=user).json()["days"] == []
    backwards = platform_client.get("/api/usage", params={"since": "2026-12-01", "until": "2026-11-01"}, headers=user)
    assert backwards.status_code == 422


def test_a_key_over_its_gpu_quota_is_refused_gpu_work_until_midnight(platform_client: TestClient, user: dict[str, str]) -> None:
    key_id = key_id_of(user)
    assert run(platform_client, user, "images", IMAGE | {"seed": 3})["status"] == "succeeded"
    used = today(platform_client, user)["gpu_seconds"]
    quota = platform_client.put(f"/api/admin/keys/{key_id}/quota", json={"gpu_seconds_per_day": used / 2}, headers=ADMIN)
    assert quota.status_code == 200 and quota.json()["used_today"] == used

    refused = platform_client.post("/api/images", json=IMAGE, headers=user)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "quota_exceeded"
    resets_at = datetime.fromisoformat(refused.json()["error"]["details"]["resets_at"])
    assert resets_at == datetime.combine(datetime.now(UTC).date() + timedelta(days=1), datetime.min.time(), UTC)
    assert 0 < int(refused.headers["retry-after"]) <= 86400
    batch = platform_client.post("/api/batches", json={"domain": "images", "base": IMAGE, "vary": {"seed": [1, 2]}}, headers=user)
    assert batch.status_code == 429 and batch.json()["error"]["code"] == "quota_exceeded"
    # Hosted models do not use the platform's GPUs.
    assert platform_client.post("/api/images", json={"model": "gpt-image-1", "prompt": "x"}, headers=user).status_code == 202
    assert platform_client.get("/api/usage/quota", headers=user).json()["gpu_seconds_per_day"] == used / 2

    lifted = platform_client.put(f"/api/admin/keys/{key_id}/quota", json={"gpu_seconds_per_day": None}, headers=ADMIN)
    assert lifted.json()["gpu_seconds_per_day"] is None
    assert platform_client.post("/api/images", json=IMAGE, headers=user).status_code == 202
    assert platform_client.put("/api/admin/keys/nosuchkey/quota", json={"gpu_seconds_per_day": 1}, headers=ADMIN).status_code == 404
    assert platform_client.put(f"/api/admin/keys/{key_id}/quota", json={"gpu_seconds_per_day": 1}, headers=user).status_code == 403
