import json

from fastapi.testclient import TestClient

from tests.utils.platform import WorkerFleet
from tests.utils.tasks import wait_for


def test_every_worker_line_of_a_task_is_json_with_its_task_id(platform_client: TestClient, user: dict[str, str], workers: WorkerFleet) -> None:
    task_id = platform_client.post("/api/images", json={"model": "tiny-sd", "prompt": "logs"}, headers=user).json()["id"]
    assert wait_for(platform_client, "images", task_id, user)["status"] == "succeeded"
    [gpu_log] = [path for path in workers.log_dir.iterdir() if path.name.startswith("gpu-")]
    lines = [json.loads(line) for line in gpu_log.read_text().splitlines() if task_id in line]
    assert len(lines) >= 3  # received, running…, done, succeeded
    assert all(line["task_id"] == task_id for line in lines)
    ours = [line for line in lines if line.get("logger") == "worker"]
    assert ours and all(line["model"] == "tiny-sd" and line["queue"] == "gpu" for line in ours)
