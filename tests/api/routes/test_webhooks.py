"""Webhooks end to end: a loopback receiver checks every delivery with the standardwebhooks
library, answers 500 at first (so retries happen), and the record keeps each attempt."""

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from api.main import create_app
from core.settings import Settings
from tests.utils.platform import ADMIN_KEY
from tests.utils.tasks import new_key, wait_for

ADMIN = {"X-API-Key": ADMIN_KEY}
IMAGE = {"model": "tiny-sd", "prompt": "hooked", "width": 64, "height": 64, "steps": 2}


class Receiver:
    """Records verified deliveries; fails the first `failures` requests with a 500."""

    def __init__(self, failures: int = 0) -> None:
        self.secret: str | None = None
        self.failures = failures
        self.received: list[dict[str, Any]] = []
        self.rejected = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["content-length"]))
                try:
                    payload = Webhook(receiver.secret or "").verify(body, dict(self.headers))
                except Exception:  # noqa: BLE001 - any verification failure is a rejection
                    receiver.rejected += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                if receiver.failures > 0:
                    receiver.failures -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.received.append({"id": self.headers["webhook-id"], "event": self.headers["webhook-event"], "payload": payload})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout_s: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count:
            assert time.monotonic() < deadline, (self.received, self.rejected)
            time.sleep(0.1)
        return self.received


@pytest.fixture
def hooked(settings: Settings, workers: object) -> Iterator[TestClient]:
    """The api with webhooks allowed to loopback, the session's workers behind it."""
    with TestClient(create_app(settings.model_copy(update={"webhook_allowed_hosts": ["127.0.0.1"]}))) as client:
        yield client


def signed_key(client: TestClient, receiver: Receiver) -> dict[str, str]:
    headers = new_key(client, "hooked")
    key_id = headers["X-API-Key"].split("_")[1]
    created = client.post(f"/api/admin/keys/{key_id}/webhook-secret", headers=ADMIN)
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    receiver.secret = created.json()["secret"]
    return headers


def test_deliveries_are_signed_retried_and_noted_on_the_record(hooked: TestClient) -> None:
    receiver = Receiver(failures=1)
    headers = signed_key(hooked, receiver)
    body = IMAGE | {"webhook": {"url": receiver.url, "events": ["running", "succeeded"]}}
    task_id = hooked.post("/api/images", json=body, headers=headers).json()["id"]
    assert wait_for(hooked, "images", task_id, headers)["status"] == "succeeded"
    received = receiver.wait_for(2)
    assert sorted(delivery["event"] for delivery in received) == ["running", "succeeded"]
    succeeded = next(delivery["payload"] for delivery in received if delivery["event"] == "succeeded")
    assert succeeded["status"] == "succeeded"
    assert succeeded["id"] == task_id and succeeded["outputs"][0]["url"], "the record as GET returns it"
    assert len({delivery["id"] for delivery in received}) == 2
    assert receiver.rejected == 0

    deadline = time.monotonic() + 10
    while len(notes := hooked.get(f"/api/images/{task_id}", headers=headers).json()["webhooks"]) < 2 or not all(n["delivered_at"] for n in notes):
        assert time.monotonic() < deadline, notes
        time.sleep(0.1)
    assert sorted(note["attempts"] for note in notes) == [1, 2], "the first answer was a 500: retried once"
    assert "webhook" not in hooked.get(f"/api/images/{task_id}", headers=headers).json()["request"]


def test_a_batch_reports_batch_completed_once(hooked: TestClient) -> None:
    receiver = Receiver()
    headers = signed_key(hooked, receiver)
    body = {"domain": "images", "base": IMAGE, "vary": {"seed": [1, 2]}, "webhook": {"url": receiver.url, "events": ["succeeded", "batch_completed"]}}
    created = hooked.post("/api/batches", json=body, headers=headers)
    assert created.status_code == 202, created.text
    received = receiver.wait_for(3)
    completed = [d["payload"] for d in received if d["event"] == "batch_completed"]
    assert len(completed) == 1 and completed[0]["done"] is True and completed[0]["counts"]["succeeded"] == 2
    assert sum(1 for d in received if d["event"] == "succeeded") == 2
    time.sleep(1)
    assert len(receiver.received) == 3, "nothing twice"


def test_what_cannot_be_delivered_is_refused_at_submit(hooked: TestClient, client: TestClient) -> None:
    receiver = Receiver()
    headers = signed_key(hooked, receiver)
    elsewhere = hooked.post("/api/images", json=IMAGE | {"webhook": {"url": "http://10.0.0.5/hooks"}}, headers=headers)
    assert elsewhere.status_code == 422 and "DDIFFUSION_WEBHOOK_ALLOWED_HOSTS" in elsewhere.json()["error"]["message"]
    unsigned = new_key(hooked, "no-secret")
    no_secret = hooked.post("/api/images", json=IMAGE | {"webhook": {"url": receiver.url}}, headers=unsigned)
    assert no_secret.status_code == 422 and "webhook-secret" in no_secret.json()["error"]["message"]
    batch_event = hooked.post("/api/images", json=IMAGE | {"webhook": {"url": receiver.url, "events": ["batch_completed"]}}, headers=headers)
    assert batch_event.status_code == 422
    # The session's api allows no host at all: webhooks are off there, and it says so.
    off = client.post("/api/images", json=IMAGE | {"webhook": {"url": receiver.url}}, headers=headers)
    assert off.status_code == 422 and "webhooks are off" in off.json()["error"]["message"]
    assert hooked.post("/api/admin/keys/nosuchkey/webhook-secret", headers=ADMIN).status_code == 404
    assert json.loads(json.dumps(receiver.received)) == []
