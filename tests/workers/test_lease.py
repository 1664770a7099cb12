"""The lease keeper renews from its own thread, whatever the engine is doing."""

import asyncio
import time
from pathlib import Path

import pytest
import redis.asyncio

from core.records import AsyncTaskStore, TaskStore
from core.schemas import Domain, Queue
from tests.utils.platform import RedisServer
from tests.utils.tasks import start_first
from workers.lease import LeaseKeeper, LeaseLost

LEASE_S = 0.3


def test_a_step_longer_than_the_lease_keeps_it_and_a_taken_lease_stops_the_run(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:

        async def admit_and_reap(reap: bool) -> str:
            client = redis.asyncio.from_url(server.url, decode_responses=True)
            store = AsyncTaskStore(client, ttl_s=600)
            if not reap:
                await store.admit(
                    task_id="t", domain=Domain.images, model="tiny-sd", queue=Queue.gpu, key_id="k", request={}, notes=[],
                    message="m", per_key_limit=9, total_limit=9, idempotency=None, key_record="dd:key:k",
                )  # fmt: skip
                await client.aclose()
                return ""
            task = await store.get("t")
            assert task is not None
            outcome, _ = await store.reap(task, "m", 3)
            await client.aclose()
            return outcome

        asyncio.run(admit_and_reap(False))
        store = TaskStore(server.client(), ttl_s=600, log_lines=10, lease_s=LEASE_S)
        task = store.get("t")
        assert task is not None
        _, _, lease = start_first(store, task, "w")
        with LeaseKeeper(store, lease) as keeper:
            time.sleep(LEASE_S * 4)  # one long "step": the engine never calls back
            assert asyncio.run(admit_and_reap(True)) == "alive"
            keeper.check()
            server.client().hset("dd:task:t", "lease", "someone-else")  # another worker took it over
            deadline = time.monotonic() + 5
            while not keeper.lost.is_set():
                assert time.monotonic() < deadline, "the keeper never noticed it lost the lease"
                time.sleep(0.05)
            with pytest.raises(LeaseLost):
                keeper.check()
    finally:
        server.stop()
