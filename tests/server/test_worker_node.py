"""`ddiffusion-server worker`: a machine joins the platform with one command, a worker per GPU."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.heartbeat import queue_workers_key
from core.records import task_key
from core.schemas import Queue
from server.launcher import gpu_devices, worker_specs
from tests.utils.platform import RedisServer, make_settings, settings_env
from tests.utils.tasks import new_key, wait_for

# About 2 s each on a 2-core CPU: a worker busy with one cannot take the next (prefetch 1).
TASK = {"model": "tiny-sd", "prompt": "farm", "steps": 30, "width": 384, "height": 384}


def test_device_lists_give_one_pinned_gpu_worker_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    host = socket.gethostname()
    specs = worker_specs([Queue.gpu, Queue.cpu], gpu_devices("0,1"))
    threads = str(max(1, (os.cpu_count() or 1) // 2))  # the machine's cores, shared by its two gpu workers
    assert [(spec.hostname, spec.env) for spec in specs] == [
        (f"gpu-0@{host}", {"CUDA_VISIBLE_DEVICES": "0", "OMP_NUM_THREADS": threads}),
        (f"gpu-1@{host}", {"CUDA_VISIBLE_DEVICES": "1", "OMP_NUM_THREADS": threads}),
        (f"cpu@{host}", {}),
    ]
    assert [spec.hostname for spec in worker_specs([Queue.gpu], gpu_devices("cpu"))] == [f"gpu@{host}"]


def test_a_second_machine_joins_with_one_command_and_every_device_gets_a_worker(tmp_path: Path, tiny_models: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    settings = make_settings(server.url, tmp_path / "api-data", tiny_models)
    # The "second machine": its own data dir; the blob store is the api's directory here (the
    # S3 store is what a farm would share; tests/api/test_s3_store.py covers that).
    env = settings_env(settings) | {"DDIFFUSION_DATA_DIR": str(tmp_path / "node-data"), "DDIFFUSION_BLOB_STORE": settings.blobs_dir.as_uri()}
    node = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "worker", "--queues", "gpu", "--devices", "0,1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    host = socket.gethostname()
    try:
        store = server.client()
        deadline = time.monotonic() + 120
        while set(store.zrange(queue_workers_key(Queue.gpu), 0, -1)) != {f"gpu-0@{host}", f"gpu-1@{host}"}:
            assert node.poll() is None, node.stdout.read() if node.stdout else ""
            assert time.monotonic() < deadline, "the node's two gpu workers did not come up"
            time.sleep(0.2)
        pinned = {}
        for pid in subprocess.run(["pgrep", "-P", str(node.pid)], capture_output=True, text=True).stdout.split():
            environ = dict(line.split("=", 1) for line in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in line)
            pinned[environ.get("CUDA_VISIBLE_DEVICES")] = pid
        assert set(pinned) == {"0", "1"}

        with TestClient(create_app(settings)) as client:
            headers = new_key(client)
            assert client.get("/readyz").json()["workers"]["gpu"] == 2
            ids = [client.post("/api/images", json=TASK | {"seed": seed}, headers=headers).json()["id"] for seed in range(2)]
            records = [wait_for(client, "images", task_id, headers, timeout_s=120) for task_id in ids]
        assert [record["status"] for record in records] == ["succeeded"] * 2
        ran_on = {(store.hget(task_key(task_id), "worker") or "").split(" ")[0] for task_id in ids}
        assert ran_on == {f"gpu-0@{host}", f"gpu-1@{host}"}  # both devices' workers share the queue
    finally:
        os.killpg(node.pid, signal.SIGINT)
        output, _ = node.communicate(timeout=60)
        server.stop()
    assert node.returncode == 0, output
    assert f"worker gpu-0@{host} … ok (gpu, CUDA_VISIBLE_DEVICES=0)" in output
