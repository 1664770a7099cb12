"""One task's lifecycle on a worker: start → engine → succeeded | failed | cancelled.

Idempotent, because with acks_late a message can arrive twice: a finished or cancelled task is
skipped, and so is one whose lease another worker holds (a redelivery while it runs). A task
whose worker was lost comes back through the api's reaper (or a redelivery after its lease
expired) and runs again, up to max_attempts; the log says so.
"""

import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import structlog
from celery.exceptions import SoftTimeLimitExceeded
from pydantic import ValidationError

from core import catalogue
from core.catalogue import ModelEntry
from core.errors import PlatformError, TaskCancelled
from core.records import Lease, StoredTask, TaskStore
from core.redis_client import UNAVAILABLE_ERRORS
from core.schemas import EngineOutput, ErrorInfo, TaskStatus
from workers.context import TaskContext
from workers.lease import Draining, LeaseKeeper, LeaseLost

log = structlog.get_logger("worker")


class Engine(Protocol):
    def run(self, entry: ModelEntry, params: dict[str, Any], ctx: TaskContext) -> Sequence[EngineOutput | dict[str, Any]]: ...


def run_task(
    task_id: str,
    store: TaskStore,
    make_context: Callable[[LeaseKeeper], TaskContext],
    engine_for: Callable[[ModelEntry], Engine],
    max_attempts: int,
    hostname: str,
    message_for: Callable[[StoredTask], str],
    dispatch: Callable[[StoredTask], bool] = lambda task: False,
) -> str:
    """Run one task to a terminal status; returns that status (or why it was skipped).
    `message_for` builds the broker message that hands the task back when the worker drains;
    `dispatch` may hand a queued task on to a worker that holds its model warm (workers.affinity)."""
    task = store.get_to_run(task_id)
    if task is None:
        log.warning("task record missing; expired or never written", task_id=task_id)
        return "missing"
    structlog.contextvars.bind_contextvars(task_id=task_id, model=task.model, queue=task.queue.value)
    try:
        if task.status == TaskStatus.queued and dispatch(task):
            return "forwarded"
        status, attempt, lease = store.start(task, hostname)
        if status != TaskStatus.running:
            log.info("skipped", status=status)
            return status
        with LeaseKeeper(store, lease) as keeper:
            ctx = make_context(keeper)
            if attempt > 1:
                ctx.log(f"attempt {attempt} of {max_attempts}, on {hostname}: the previous attempt's worker was lost")
            if attempt > max_attempts:
                error = ErrorInfo(code="worker_lost", message=f"The worker running this task was lost {attempt - 1} times; giving up.")
                return store.finish(task, lease, TaskStatus.failed, error=error, usage=ctx.usage)
            return _execute(task, store, ctx, engine_for, message_for)
    except UNAVAILABLE_ERRORS:
        # Redis stayed away longer than the outage budget: the lease lapses and the reaper
        # requeues the task once Redis is back, so nothing is lost but this run.
        log.error("task abandoned: Redis unreachable", task_id=task_id)
        return "abandoned"
    finally:
        structlog.contextvars.clear_contextvars()


def _execute(
    task: StoredTask, store: TaskStore, ctx: TaskContext, engine_for: Callable[[ModelEntry], Engine], message_for: Callable[[StoredTask], str]
) -> str:
    started = time.perf_counter()
    lease: Lease = ctx.lease
    try:
        entry = catalogue.CATALOGUE[task.model]
        ctx.log(f"running {task.model} on {entry.engine}")
        if entry.hosted:
            ctx.count("provider_calls", 1)
        outputs = [EngineOutput.model_validate(output) for output in engine_for(entry).run(entry, task.request, ctx)]
    except LeaseLost:
        log.warning("stopped: another worker holds this task now; nothing written")
        return "superseded"
    except Draining:
        log.warning("drain time over: handing the task back to its queue")
        return store.requeue(task, lease, message_for(task), "worker shutting down")
    except TaskCancelled:
        ctx.log("cancelled at the client's request")
        return store.finish(task, lease, TaskStatus.cancelled, error=ErrorInfo(code="cancelled", message="Cancelled while running."), usage=ctx.usage)
    except PlatformError as exc:
        ctx.log(f"failed: {exc.message}")
        return store.finish(task, lease, TaskStatus.failed, error=ErrorInfo(code=exc.code, message=exc.message), usage=ctx.usage)
    except SoftTimeLimitExceeded:
        message = f"{task.model} ran past its queue's time limit and was stopped; ask for less work (fewer steps, frames or tokens)."
        ctx.log(message)
        return store.finish(task, lease, TaskStatus.failed, error=ErrorInfo(code="time_limit", message=message), usage=ctx.usage)
    except ValidationError:
        log.error("engine returned an invalid output", error=traceback.format_exc())
        return _failed(task, store, ctx, f"{task.model} produced a result the platform could not read; nothing was kept.")
    except Exception:
        # The trace stays in the worker log; the client is told what happened in words.
        log.error("engine error", error=traceback.format_exc())
        return _failed(task, store, ctx, f"{task.model} failed unexpectedly while running; nothing was produced.")
    ctx.log(f"done in {time.perf_counter() - started:.3f}s")
    return store.finish(task, lease, TaskStatus.succeeded, outputs=[output.model_dump(exclude_none=True) for output in outputs], usage=ctx.usage)


def _failed(task: StoredTask, store: TaskStore, ctx: TaskContext, what: str) -> str:
    message = f"{what} The worker log has the details under task {task.id}."
    ctx.log(message)
    return store.finish(task, ctx.lease, TaskStatus.failed, error=ErrorInfo(code="engine_error", message=message), usage=ctx.usage)
