"""What an engine sees of its task: progress, cancellation, logs, inputs and outputs.

Engines are plain classes that take a TaskContext; they know nothing of Celery or Redis, so
they run the same under a worker, in a test or in a benchmark.
"""

import time
from typing import Any

import structlog

from core.blobs import BlobStore
from core.errors import TaskCancelled
from core.records import Lease, TaskStore
from core.schemas import EngineOutput
from workers.lease import Draining, LeaseKeeper, LeaseLost

log = structlog.get_logger("worker")


class TaskContext:
    """Everything here writes through the task's lease: once another worker holds the task,
    the next progress or cancellation check stops this run (LeaseLost)."""

    def __init__(self, store: TaskStore, blobs: BlobStore, keeper: LeaseKeeper) -> None:
        self.task_id = keeper.lease.task_id
        self.store = store
        self.blobs = blobs
        self.keeper = keeper
        self._last_step: tuple[int, float] | None = None
        self._step_s: float | None = None
        # What this run used, added to its key's usage when the task ends (GPU time is counted there).
        self.usage: dict[str, float] = {}

    def progress(self, step: int, total: int) -> None:
        """Record a finished step with an ETA from the measured time per step; stops the task
        here when its client asked to cancel."""
        now = time.monotonic()
        if self._last_step is not None and step > self._last_step[0]:
            step_s = (now - self._last_step[1]) / (step - self._last_step[0])
            # Smoothed, so one slow step (a preview, a LoRA) does not swing the estimate.
            self._step_s = step_s if self._step_s is None else 0.7 * self._step_s + 0.3 * step_s
        self._last_step = (step, now)
        eta_s = self._step_s * (total - step) if self._step_s is not None else None
        self._act_on(self.store.progress(self.lease, step, total, eta_s))

    @property
    def lease(self) -> Lease:
        return self.keeper.lease

    def preview(self, png: bytes, step: int) -> None:
        """Store a preview image and announce it in the record and its event stream."""
        info = self.blobs.put(png, "image/png")
        self.store.preview(self.lease, info.ref, step)

    def stream_text(self, piece: str) -> None:
        """Publish newly generated text: the record's `partial_text` grows as it comes."""
        self.store.append_text(self.lease, piece)

    def restart_text(self) -> None:
        """Drop the partial text of an attempt that failed and will be retried."""
        self.store.clear_text(self.lease)

    def check_cancelled(self) -> None:
        self._act_on(self.store.state(self.lease))

    def log(self, line: str) -> None:
        log.info(line)
        self.store.log(self.lease, line)

    def count(self, name: str, amount: float) -> None:
        """Add to what this run used: output_bytes, provider_calls, units:<what the provider bills>."""
        self.usage[name] = self.usage.get(name, 0) + amount

    def read_input(self, ref: str) -> bytes:
        return self.blobs.read(ref)

    def save_output(self, data: bytes, content_type: str, **meta: Any) -> EngineOutput:
        """Store an output file; returns its entry for the record (the api signs the URL). The
        blob is registered for expiry with the result, so a Redis outage cannot lose it."""
        info = self.blobs.put(data, content_type)
        self.count("output_bytes", len(data))
        return EngineOutput(ref=info.ref, content_type=content_type, **meta)

    def _act_on(self, state: str) -> None:
        self.keeper.check()
        if state == "lost":
            raise LeaseLost()
        if state == "cancel":
            raise TaskCancelled()
        if state == "drain":
            raise Draining()
