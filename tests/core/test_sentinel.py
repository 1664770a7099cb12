"""Redis failover on Sentinel with real parts: three sentinels, a primary and two replicas, a real
gpu worker and the api in-process, the primary SIGKILLed while submits stream in. And the rule
behind it: a 202 only once a replica holds the task."""

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.records import ACTIVE_KEY, task_key
from core.schemas import Queue
from server.redis import RedisServer, SentinelTopology
from tests.utils.platform import WorkerFleet, make_settings
from tests.utils.tasks import new_key, wait_for

TINY = {"model": "tiny-sd", "prompt": "failover", "steps": 1, "width": 64, "height": 64, "seed": 1}
SUBMIT_EVERY_S = 0.075
RETRY_503_AFTER_S = 0.1  # sooner than Retry-After, so the test measures the failover, not the back-off
RECOVERY_LIMIT_S = 20


@dataclass
class Attempt:
    sent_at: float
    answered_at: float
    status: int
    task_id: str | None


@dataclass
class SubmitStream:
    """Submits one task every SUBMIT_EVERY_S, each with its own Idempotency-Key, retrying 503s
    with the same key until the task gets its 202."""

    client: TestClient
    headers: dict[str, str]
    attempts: list[Attempt] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    unavailable: list[dict] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            key = uuid.uuid4().hex
            while True:
                sent_at = time.monotonic()
                response = self.client.post("/api/images", json=TINY, headers=self.headers | {"Idempotency-Key": key})
                task_id = response.json().get("id") if response.status_code == 202 else None
                self.attempts.append(Attempt(sent_at, time.monotonic(), response.status_code, task_id))
                if response.status_code == 202:
                    self.accepted.append(task_id)
                    break
                if response.status_code != 503:
                    return  # anything else fails the test's status assertion
                self.unavailable.append(response.json()["error"] | {"retry_after": response.headers.get("Retry-After")})
                time.sleep(RETRY_503_AFTER_S)
            time.sleep(SUBMIT_EVERY_S)


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[SentinelTopology]:
    # Two replicas: with one, a 202 needing one replica could not be given after the failover
    # until the killed primary came back (that is the rule working, not the failover).
    topology = SentinelTopology(tmp_path / "redis", replicas=2).start()
    yield topology
    topology.stop()


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout_s}s")
        time.sleep(0.05)


def test_submits_and_tasks_survive_a_primary_kill(topology: SentinelTopology, tmp_path: Path, tiny_models: Path) -> None:
    settings = make_settings(topology.url, tmp_path / "data", tiny_models, redis_min_replicas=1, visibility_timeout_s=10)
    fleet = WorkerFleet(settings, tmp_path)
    fleet.start(Queue.gpu)
    try:
        # A 500 must come back as a status to assert on, not as an exception in the stream thread.
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            headers = new_key(client)

            def worker_ready() -> bool:
                models = client.get("/api/images/models", headers=headers).json()
                return any(model["name"] == "tiny-sd" and model["available"] for model in models)

            wait_until(worker_ready, 60, f"no gpu worker; see {tmp_path}")
            # Warm the model first, so the kill lands while the worker is consuming, not loading.
            warm_up = client.post("/api/images", json=TINY, headers=headers).json()["id"]
            assert wait_for(client, "images", warm_up, headers)["status"] == "succeeded"
            stream = SubmitStream(client, headers)
            thread = threading.Thread(target=stream.run, daemon=True)
            thread.start()
            wait_until(lambda: len(stream.accepted) >= 5, 15, "no 202s before the kill")

            old_primary = topology.primary()
            killed_at = time.monotonic()
            topology.kill_primary()
            wait_until(lambda: any(a.sent_at > killed_at and a.status == 503 for a in stream.attempts), 10, "no 503 after the kill")
            first_503 = min(a.sent_at for a in stream.attempts if a.sent_at > killed_at and a.status == 503)
            wait_until(lambda: any(a.sent_at > first_503 and a.status == 202 for a in stream.attempts), RECOVERY_LIMIT_S, "no 202 after the failover")
            recovered_at = min(a.answered_at for a in stream.attempts if a.sent_at > first_503 and a.status == 202)
            accepted_by_then = len(stream.accepted)
            wait_until(lambda: len(stream.accepted) >= accepted_by_then + 5, 10, "202s did not keep coming after the failover")
            stream.stop.set()
            thread.join(10)

            failover_s = recovered_at - killed_at
            print(f"failover: kill -> first 202 again in {failover_s:.2f}s; {len(stream.accepted)} tasks, {len(stream.unavailable)} 503s")
            assert topology.primary() is not old_primary
            assert failover_s < RECOVERY_LIMIT_S
            assert {a.status for a in stream.attempts} == {202, 503}
            assert all(error["code"] == "redis_unavailable" and "Idempotency-Key" in error["message"] and error["retry_after"] for error in stream.unavailable)
            assert len(set(stream.accepted)) == len(stream.accepted)
            deadline = time.monotonic() + 60
            records = [wait_for(client, "images", task_id, headers, timeout_s=max(1, deadline - time.monotonic())) for task_id in stream.accepted]
        assert [record["status"] for record in records] == ["succeeded"] * len(records), [r for r in records if r["status"] != "succeeded"]
    finally:
        fleet.stop()


def test_submit_is_503_until_a_replica_holds_the_task(tmp_path: Path) -> None:
    primary = RedisServer(tmp_path / "primary").start()
    replica = RedisServer(tmp_path / "replica", replica_of=primary.port).start()
    try:
        wait_until(lambda: primary.client().info("replication")["connected_slaves"] == 1, 10, "the replica did not attach")
        settings = make_settings(primary.url, tmp_path / "data", tmp_path / "models", redis_min_replicas=1)
        with TestClient(create_app(settings)) as client:
            headers = new_key(client) | {"Idempotency-Key": "one-task"}
            assert replica.process is not None
            os.kill(replica.process.pid, signal.SIGSTOP)  # attached, but acknowledges nothing
            try:
                refused = client.post("/api/images", json=TINY, headers=headers)
            finally:
                os.kill(replica.process.pid, signal.SIGCONT)
            assert refused.status_code == 503
            assert int(refused.headers["Retry-After"]) > 0
            error = refused.json()["error"]
            assert error["code"] == "redis_unavailable"
            assert "0 of 1 Redis replicas" in error["message"] and "same Idempotency-Key" in error["message"]
            accepted = client.post("/api/images", json=TINY, headers=headers)
            assert accepted.status_code == 202
            # The retry found the task the refused attempt had written: one task, not two.
            assert replica.client().hget(task_key(accepted.json()["id"]), "status") == "queued"
            assert primary.client().scard(ACTIVE_KEY) == 1
    finally:
        replica.stop()
        primary.stop()
