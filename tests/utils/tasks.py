"""Small helpers for driving the api in tests."""

import base64
import io
import json
import time
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image

from core.records import Lease, StoredTask, TaskStore
from tests.utils.platform import ADMIN_KEY

ADMIN = {"X-API-Key": ADMIN_KEY}


def new_key(client: TestClient, name: str = "artist") -> dict[str, str]:
    response = client.post("/api/admin/keys", json={"name": name}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return {"X-API-Key": response.json()["key"]}


def wait_for(client: TestClient, domain: str, task_id: str, headers: dict[str, str], statuses: tuple[str, ...] = ("succeeded", "failed", "cancelled"), timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        record = client.get(f"/api/{domain}/{task_id}", headers=headers).json()
        if record.get("status") in statuses:
            return record
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task_id} still {record.get('status')} after {timeout_s}s: {record}")
        time.sleep(0.05)


def png_bytes(width: int = 64, height: int = 64, color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(data: bytes, content_type: str = "image/png") -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


def event_records(client: TestClient, domain: str, task_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every record a task's event stream sends, up to its terminal one."""
    records = []
    with client.stream("GET", f"/api/{domain}/{task_id}/events", headers=headers) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                records.append(json.loads(line.removeprefix("data:").strip()))
    return records


def partly_invalid_workflow() -> dict[str, Any]:
    """A ComfyUI graph with one valid output (node 6) and one whose checkpoint is not installed
    (nodes 7-9): ComfyUI answers 200 with node_errors, and the task fails naming node 7."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
        "2": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["1", 1]}},
        "4": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 2, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal",
                                                   "denoise": 1.0, "model": ["1", 0], "positive": ["3", 0], "negative": ["3", 0],
                                                   "latent_image": ["2", 0]}},
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "SaveImage", "inputs": {"filename_prefix": "kept", "images": ["5", 0]}},
        "7": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "not-installed.safetensors"}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["7", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "lost", "images": ["8", 0]}},
    }  # fmt: skip


def start_first(store: TaskStore, task: StoredTask, hostname: str) -> tuple[str, int, Lease]:
    """Take the first task of `task`'s queue and start it, as a worker does; it must be `task`."""
    lease = store.take(task.queue, hostname)
    assert lease is not None and lease.task_id == task.id, f"{task.id} is not first in {task.queue}: {lease}"
    status, attempt = store.start(task, lease)
    return status, attempt, lease
