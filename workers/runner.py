"""One task's lifecycle on a worker: pick → start → engine → succeeded | failed | cancelled.

A message is a turn to run (core.queue): the worker starts the first task of the message's lane,
by priority and fair turn, whichever task the message was made for. So a message that arrives
twice (acks_late) is only a spare turn: it starts the next task, or finds the lane empty. A task
whose worker was lost comes back through the api's reaper and runs again, up to max_attempts;
the log says so.
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
    lane: str,
    store: TaskStore,
    make_context: Callable[[LeaseKeeper], TaskContext],
    engine_for: Callable[[ModelEntry], Engine],
    max_attempts: int,
    hostname: str,
    message_for: Callable[[StoredTask], str],
    dispatch: Callable[[StoredTask, Lease], str] = lambda task, lease: "run",
) -> str:
    """Start the first task waiting in `lane` and run it to a terminal status; returns that status
    (`idle` when nothing waits: a spare turn). `message_for` builds the broker message that hands
    the task back when the worker drains; `dispatch` may hand the task on to a worker that holds
    its model warm (workers.affinity: `run`, `forwarded`, or `taken` when it no longer waits)."""
    try:
        picked = _pick(lane, store, hostname, dispatch)
        if isinstance(picked, str):
            return picked
        task, attempt, lease = picked
        structlog.contextvars.bind_contextvars(task_id=task.id, model=task.model, queue=task.queue.value)
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
        log.error("turn abandoned: Redis unreachable", lane=lane)
        return "abandoned"
    finally:
        structlog.contextvars.clear_contextvars()


def _pick(lane: str, store: TaskStore, hostname: str, dispatch: Callable[[StoredTask, Lease], str]) -> tuple[StoredTask, int, Lease] | str:
    """Take the lane's first task and start it: the task, its attempt and lease; or `idle` /
    `forwarded`. A task cancelled between taking and starting is passed over for the next."""
    while True:
        lease = store.take(lane, hostname)
        if lease is None:
            log.info("nothing waits in the lane: a spare turn", lane=lane)
            return "idle"
        task = store.get_to_run(lease.task_id)
        if task is None:
            log.warning("a queued task's record is gone; passed over", task_id=lease.task_id, lane=lane)
            continue
        outcome = dispatch(task, lease)
        if outcome == "forwarded":
            return outcome
        if outcome == "taken":
            continue
        status, attempt = store.start(task, lease)
        if status == TaskStatus.running:
            return task, attempt, lease


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
