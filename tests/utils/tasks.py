"""Small helpers for driving the api in tests."""

import base64
import io
import json
import time
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image

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
