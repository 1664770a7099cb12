"""One task's lifecycle on a worker: start → engine → succeeded | failed | cancelled.

Idempotent, because with acks_late a message can arrive twice: a finished or cancelled task is
skipped; a task found `running` was started by a worker that died, so it runs again (up to
max_attempts) and the log says so.
"""

import time
import traceback
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from core import catalogue
from core.catalogue import ModelEntry
from core.errors import PlatformError, TaskCancelled
from core.records import StoredTask, TaskStore
from core.schemas import ErrorInfo, TaskStatus
from workers.context import TaskContext

log = structlog.get_logger("worker")


class Engine(Protocol):
    def run(self, entry: ModelEntry, params: dict[str, Any], ctx: TaskContext) -> list[dict[str, Any]]: ...


def run_task(task_id: str, store: TaskStore, make_context: Callable[[str], TaskContext], engine_for: Callable[[ModelEntry], Engine], max_attempts: int) -> str:
    """Run one task to a terminal status; returns that status (or why it was skipped)."""
    task = store.get(task_id)
    if task is None:
        log.warning("task record missing; expired or never written", task_id=task_id)
        return "missing"
    structlog.contextvars.bind_contextvars(task_id=task_id, model=task.model, queue=task.queue.value)
    try:
        status, attempt = store.start(task)
        if status != TaskStatus.running:
            log.info("skipped", status=status)
            return status
        ctx = make_context(task_id)
        if attempt > 1:
            ctx.log(f"attempt {attempt}: the previous worker was lost mid-task")
        if attempt > max_attempts:
            error = ErrorInfo(code="worker_lost", message=f"The worker running this task was lost {attempt - 1} times; giving up.")
            return store.finish(task, TaskStatus.failed, error=error)
        return _execute(task, store, ctx, engine_for)
    finally:
        structlog.contextvars.clear_contextvars()


def _execute(task: StoredTask, store: TaskStore, ctx: TaskContext, engine_for: Callable[[ModelEntry], Engine]) -> str:
    started = time.perf_counter()
    try:
        entry = catalogue.CATALOGUE[task.model]
        ctx.log(f"running {task.model} on {entry.engine}")
        outputs = engine_for(entry).run(entry, task.request, ctx)
    except TaskCancelled:
        ctx.log("cancelled at the client's request")
        return store.finish(task, TaskStatus.cancelled, error=ErrorInfo(code="cancelled", message="Cancelled while running."))
    except PlatformError as exc:
        ctx.log(f"failed: {exc.message}")
        return store.finish(task, TaskStatus.failed, error=ErrorInfo(code=exc.code, message=exc.message))
    except Exception as exc:
        # The trace goes to the worker log; the client gets the error's type and message only.
        log.error("engine error", error=traceback.format_exc())
        message = f"The engine failed: {type(exc).__name__}: {str(exc)[:500]}"
        ctx.log(message)
        return store.finish(task, TaskStatus.failed, error=ErrorInfo(code="engine_error", message=message))
    ctx.log(f"done in {time.perf_counter() - started:.3f}s")
    return store.finish(task, TaskStatus.succeeded, outputs=outputs)
