"""A TaskContext stand-in for driving engines directly, without Redis or a worker: the bench
measures engines with it and the tests (as `tests.utils.context.FakeContext`) exercise them."""

import hashlib
import time
from typing import Any

from core.errors import TaskCancelled


class MemoryContext:
    """An in-memory TaskContext: blobs in a dict, each step's end time noted (so the bench measures
    time per step, not infers it); cancels from `progress` after `cancel_after` calls, or from
    `check_cancelled` after `cancel_checks_after` calls."""

    def __init__(self, cancel_after: int | None = None, cancel_checks_after: int | None = None) -> None:
        self.task_id = "memory-task"  # names sequence frames: <task id>.<frame>.<ext>
        self.blobs: dict[str, bytes] = {}
        self.saved: list[dict[str, Any]] = []
        self.steps: list[tuple[int, int]] = []
        self.step_times: list[float] = []
        self.lines: list[str] = []
        self.previews: list[tuple[int, bytes]] = []
        self.text = ""
        self.checks = 0
        self.cancel_after = cancel_after
        self.cancel_checks_after = cancel_checks_after
        self.usage: dict[str, float] = {}

    def progress(self, step: int, total: int) -> None:
        self.steps.append((step, total))
        self.step_times.append(time.perf_counter())
        if self.cancel_after is not None and len(self.steps) >= self.cancel_after:
            raise TaskCancelled()

    def preview(self, png: bytes, step: int) -> None:
        self.previews.append((step, png))

    def stream_text(self, piece: str) -> None:
        self.text += piece

    def restart_text(self) -> None:
        self.text = ""

    def check_cancelled(self) -> None:
        self.checks += 1
        if self.cancel_checks_after is not None and self.checks > self.cancel_checks_after:
            raise TaskCancelled()

    def log(self, line: str) -> None:
        self.lines.append(line)

    def count(self, name: str, amount: float) -> None:
        self.usage[name] = self.usage.get(name, 0) + amount

    def put_input(self, data: bytes) -> str:
        ref = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[ref] = data
        return ref

    def read_input(self, ref: str) -> bytes:
        return self.blobs[ref]

    def save_output(self, data: bytes, content_type: str, **meta: Any) -> dict[str, Any]:
        ref = self.put_input(data)
        entry = {"ref": ref, "content_type": content_type, **meta}
        self.saved.append(entry)
        return entry
