"""Model affinity with real workers: a task goes to the worker that holds its model warm."""

import time
from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from core.affinity import AFFINITY_KEY, CLAIM_S, holders_key, model_queue
from core.heartbeat import queue_workers_key
from core.records import task_key
from core.schemas import Queue
from tests.utils.platform import RedisServer, WorkerFleet, make_settings
from tests.utils.tasks import new_key, wait_for
from workers.affinity import refresh_claims

WORKERS = ("gpu-0@affinity", "gpu-1@affinity")
MODELS = ("tiny-sd", "tiny-sdxl")
# Each tiny model is about 4.5 MB: a budget of 6 MB keeps one warm per worker, so without
# affinity every task that lands on the other model's worker would evict and load.
ONE_MODEL_GB = 0.006


def test_two_models_alternating_on_two_workers_cost_one_load_each(tmp_path: Path, tiny_models: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    settings = make_settings(server.url, tmp_path / "data", tiny_models, model_memory_gb=ONE_MODEL_GB)
    fleet = WorkerFleet(settings, tmp_path, {"OMP_NUM_THREADS": "1"})  # two workers on two cores, as the launcher shares them
    store = server.client()
    try:
        for name in WORKERS:
            fleet.start(Queue.gpu, name)
        deadline = time.monotonic() + 90
        while set(store.zrange(queue_workers_key(Queue.gpu), 0, -1)) != set(WORKERS):
            assert time.monotonic() < deadline, "the two gpu workers did not come up"
            time.sleep(0.1)
        with TestClient(create_app(settings)) as client:
            headers = new_key(client)
            # Unequal work, so the worker of the quick model is free first and would take the other's tasks.
            requests = [{"model": MODELS[i % 2], "prompt": f"shot {i}", "steps": 16 if i % 2 else 2, "seed": i} for i in range(20)]
            ids = [client.post("/api/images", json=request, headers=headers).json()["id"] for request in requests]
            records = [wait_for(client, "images", task_id, headers, timeout_s=120) for task_id in ids]
        assert [record["status"] for record in records] == ["succeeded"] * 20
        loads = [line for record in records for line in record["logs"] if line.startswith("loaded ")]
        assert len(loads) <= 2, loads
        ran_on = {
            model: {
                store.hget(task_key(task_id), "worker").split(" ")[0]
                for task_id, request in zip(ids, requests, strict=True)
                if request["model"] == model
            }
            for model in MODELS
        }
        assert sorted(len(workers) for workers in ran_on.values()) == [1, 1] and ran_on[MODELS[0]] != ran_on[MODELS[1]], ran_on
        for model in MODELS:
            assert store.llen(model_queue(model)) == 0
            assert set(store.zrange(holders_key(model), 0, -1)) == ran_on[model]
    finally:
        fleet.stop()
    # A worker that shuts down gives up its claims.
    assert all(store.zcard(holders_key(model)) == 0 for model in MODELS)
    server.stop()


def test_the_heartbeat_renews_claims_and_claims_warm_models_again_after_they_lapsed(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        client = server.client()
        client.sadd(AFFINITY_KEY, "tiny-sd", "tiny-sdxl", "tiny-flux")
        client.zadd(holders_key("tiny-flux"), {"gpu-0@a": time.time() + 1})  # claimed, still loading
        # tiny-sd: warm, but its claim lapsed while Redis was away; tiny-sdxl: released, not warm.
        refresh_claims(client, "gpu-0@a", warm=["tiny-sd"])
        assert client.zscore(holders_key("tiny-sd"), "gpu-0@a") > time.time() + CLAIM_S - 5
        assert client.zscore(holders_key("tiny-flux"), "gpu-0@a") > time.time() + CLAIM_S - 5
        assert client.zcard(holders_key("tiny-sdxl")) == 0
    finally:
        server.stop()
