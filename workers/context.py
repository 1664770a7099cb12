"""What an engine sees of its task: progress, cancellation, logs, inputs and outputs.

Engines are plain classes that take a TaskContext; they know nothing of Celery or Redis, so
they run the same under a worker, in a test or in a benchmark.
"""

import time
from typing import Any

import redis
import structlog

from core.blobs import BlobStore
from core.errors import TaskCancelled
from core.records import BLOB_EXPIRY_KEY, TaskStore

log = structlog.get_logger("worker")


class TaskContext:
    def __init__(self, task_id: str, store: TaskStore, blobs: BlobStore, client: redis.Redis, ttl_s: int) -> None:
        self.task_id = task_id
        self.store = store
        self.blobs = blobs
        self.client = client
        self.ttl_s = ttl_s
        self._last_step: tuple[int, float] | None = None
        self._step_s: float | None = None

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
        if self.store.progress(self.task_id, step, total, eta_s):
            raise TaskCancelled()

    def preview(self, png: bytes, step: int) -> None:
        """Store a preview image and announce it in the record and its event stream."""
        info = self.blobs.put(png, "image/png")
        self.client.zadd(BLOB_EXPIRY_KEY, {info.ref: time.time() + self.ttl_s}, gt=True)
        self.store.preview(self.task_id, info.ref, step)

    def stream_text(self, piece: str) -> None:
        """Publish newly generated text: the record's `partial_text` grows as it comes."""
        self.store.append_text(self.task_id, piece)

    def restart_text(self) -> None:
        """Drop the partial text of an attempt that failed and will be retried."""
        self.store.clear_text(self.task_id)

    def check_cancelled(self) -> None:
        if self.store.cancel_requested(self.task_id):
            raise TaskCancelled()

    def log(self, line: str) -> None:
        log.info(line)
        self.store.log(self.task_id, line)

    def read_input(self, ref: str) -> bytes:
        return self.blobs.read(ref)

    def save_output(self, data: bytes, content_type: str, **meta: Any) -> dict[str, Any]:
        """Store an output file; returns its entry for the record (the api signs the URL)."""
        info = self.blobs.put(data, content_type)
        self.client.zadd(BLOB_EXPIRY_KEY, {info.ref: time.time() + self.ttl_s}, gt=True)
        return {"ref": info.ref, "content_type": content_type, **meta}
