"""Broker messages stay small: inputs go to the blob store, the message carries the task id."""

import json
import os
from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from core.queue import broker_list
from core.schemas import Priority
from tests.utils.platform import RedisServer, make_settings
from tests.utils.tasks import data_url, new_key


def test_message_stays_under_4kb_with_a_10mb_input(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()  # no workers: the message stays in the list
    try:
        with TestClient(create_app(make_settings(server.url, tmp_path / "data", tmp_path / "models"))) as client:
            headers = new_key(client)
            image = _noise_png(1900, 1900)
            assert len(image) > 10_000_000
            response = client.post("/api/images", json={"model": "tiny-sd", "prompt": "plate", "image": data_url(image)}, headers=headers)
            assert response.status_code == 202, response.text
            task_id = response.json()["id"]
        [message] = server.client().lrange(broker_list("gpu", Priority.normal), 0, -1)
        assert len(message.encode()) < 4096
        envelope = json.loads(message)
        assert envelope["headers"]["id"] == task_id and envelope["headers"]["task"] == "images.generate"
        record = server.client().hget(f"dd:task:{task_id}", "request")
        assert json.loads(record)["image"].startswith("sha256:") and len(record) < 1024
    finally:
        server.stop()


def _noise_png(width: int, height: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()
