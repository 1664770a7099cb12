"""The worker's heartbeat thread against a real Redis: what a worker claims while it runs, drains
and leaves."""

import json
import os
import time
from pathlib import Path

import pytest

from core.affinity import holders_key
from core.heartbeat import warm_key, worker_key
from server.redis import RedisServer
from tests.utils.platform import make_settings
from workers import heartbeat
from workers.heartbeat import start_heartbeat

WORKER = "gpu-0@heartbeat-test"


def test_a_draining_worker_claims_its_warm_model_no_more_and_leaves_holding_nothing(
    tmp_path: Path, tiny_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(heartbeat, "HEARTBEAT_S", 0.02)  # many beats in the drain below
    server = RedisServer(tmp_path / "redis").start()
    client = server.client()
    # This process stands for the worker's pool process holding tiny-sd warm.
    client.hset(warm_key(os.getpid()), str(os.getpid()), json.dumps({"warm": ["tiny-sd"], "loads": 1}))
    on_shutting_down, on_shutdown = start_heartbeat(client, WORKER, ["gpu"], make_settings(server.url, tmp_path / "data", tiny_models))
    try:
        deadline = time.monotonic() + 10
        while client.zscore(holders_key("tiny-sd"), WORKER) is None:
            assert time.monotonic() < deadline, "the running worker never claimed its warm model"
            time.sleep(0.01)
        on_shutting_down()
        time.sleep(0.5)  # the drain: the model is still warm and the heartbeat still beats
        assert client.zscore(holders_key("tiny-sd"), WORKER) is None, "a draining worker claimed its model again"
        assert client.exists(worker_key(WORKER)), "it still beats while it drains"
        on_shutdown()
        assert client.zcard(holders_key("tiny-sd")) == 0 and not client.exists(worker_key(WORKER))
    finally:
        on_shutdown()  # the thread stops even when an assertion failed (leaving twice is harmless)
        server.stop()
