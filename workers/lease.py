"""A running task's lease, renewed from a thread of its own.

The thread does not depend on the engine's step loop, so a 60 s denoising step (or a long
provider call) keeps the lease; only a dead or cut-off worker loses it, and then the api's
reaper requeues the task.
"""

import threading
from types import TracebackType

import structlog

from core.records import Lease, TaskStore
from core.redis_client import UNAVAILABLE_ERRORS

log = structlog.get_logger("worker")

# While Redis is unreachable, renewals are retried this often (the lease itself may lapse).
RETRY_S = 1.0


class LeaseLost(Exception):
    """The task's lease is held by another worker now, or the task ended elsewhere: stop
    without writing anything."""


class Draining(Exception):
    """The worker is shutting down and the task did not finish within the drain time: hand it
    back to its queue now, for another worker."""


class LeaseKeeper:
    def __init__(self, store: TaskStore, lease: Lease) -> None:
        self.store = store
        self.lease = lease
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_until_stopped, name=f"lease-{lease.task_id[:8]}", daemon=True)

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost()

    def _renew_until_stopped(self) -> None:
        every = self.store.lease_s / 3
        while not self._stop.wait(every):
            try:
                held = self.store.renew(self.lease)
            except UNAVAILABLE_ERRORS as exc:
                log.warning("lease renewal failed; retrying", error=str(exc))
                every = RETRY_S
                continue
            every = self.store.lease_s / 3
            if not held:
                log.warning("lease lost: another worker holds the task now, or it ended")
                self.lost.set()
                return
