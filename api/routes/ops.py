"""Health, readiness and Prometheus metrics; no key needed (keep them off the public edge)."""

import time

import redis.asyncio
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from api.deps import PlatformDep
from api.tasks import live_workers
from core.affinity import AFFINITY_KEY
from core.queue import model_queue
from core.records import ACTIVE_KEY, STATS_RUN_COUNT_KEY, STATS_RUN_SUM_KEY, STATS_STATUS_KEY, queue_key, running_key
from core.schemas import Health, LiveWorker, Queue, QueueDemand, Readiness, Scaling

router = APIRouter(tags=["ops"])


@router.get("/healthz", operation_id="healthz", summary="Liveness")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="Readiness: Redis reachable and a worker on every queue",
    responses={503: {"model": Readiness, "description": "Not ready: Redis unreachable or a queue without workers."}},
)
async def readyz(platform: PlatformDep, response: Response) -> Readiness:
    """`workers` counts every queue; only those of `DDIFFUSION_READY_QUEUES` (all, by default) must have one."""
    try:
        await platform.redis.ping()
    except Exception:
        response.status_code = 503
        return Readiness(status="not_ready", redis="unreachable", workers={})
    workers = await live_workers(platform.redis)
    per_queue = {queue.value: sum(queue.value in worker.queues for worker in workers.values()) for queue in Queue}
    ready = all(per_queue[queue.value] for queue in platform.settings.ready_queues)
    response.status_code = 200 if ready else 503
    now = time.time()
    live = [
        LiveWorker(name=name, queues=beat.queues, warm=beat.warm, loads=beat.loads, seen_s=round(max(0.0, now - beat.at), 1))
        for name, beat in sorted(workers.items())
    ]
    return Readiness(status="ready" if ready else "not_ready", redis="ok", workers=per_queue, live=live)


async def model_lane_depths(client: redis.asyncio.Redis) -> dict[str, int]:
    """gpu tasks waiting in each model's lane (core.affinity): queued gpu work, like the shared queue's."""
    models = sorted(await client.smembers(AFFINITY_KEY))
    async with client.pipeline(transaction=False) as pipe:
        for model in models:
            pipe.zcard(queue_key(model_queue(model)))
        return dict(zip(models, await pipe.execute(), strict=True))


@router.get("/scaling", operation_id="scaling", summary="Queue demand for autoscalers")
async def scaling(platform: PlatformDep) -> Scaling:
    """Per queue: tasks queued, tasks running and live workers. KEDA's metrics-api scaler reads
    `queues.<queue>.demand` (queued + running), so a task that a worker has prefetched or is
    running keeps its worker, and scale-down only takes what no task needs."""
    async with platform.redis.pipeline(transaction=False) as pipe:
        for queue in Queue:
            pipe.zcard(queue_key(queue))
            pipe.scard(running_key(queue))
        counts = await pipe.execute()
    waiting_for_holders = sum((await model_lane_depths(platform.redis)).values())
    workers = await live_workers(platform.redis)
    queues = {}
    for index, queue in enumerate(Queue):
        queued, running = counts[2 * index] + (waiting_for_holders if queue == Queue.gpu else 0), counts[2 * index + 1]
        live = sum(queue.value in worker.queues for worker in workers.values())
        queues[queue.value] = QueueDemand(queued=queued, running=running, workers=live, demand=queued + running)
    return Scaling(queues=queues)


@router.get("/metrics", operation_id="metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(platform: PlatformDep) -> Response:
    """Read from Redis at scrape time, so every api replica reports the same platform-wide figures."""
    client = platform.redis
    async with client.pipeline(transaction=False) as pipe:
        for queue in Queue:
            pipe.zcard(queue_key(queue))
        pipe.scard(ACTIVE_KEY)
        pipe.hgetall(STATS_STATUS_KEY)
        pipe.hgetall(STATS_RUN_SUM_KEY)
        pipe.hgetall(STATS_RUN_COUNT_KEY)
        *depths, active, finished, run_sums, run_counts = await pipe.execute()
    by_model = await model_lane_depths(client)
    depths[list(Queue).index(Queue.gpu)] += sum(by_model.values())
    workers = await live_workers(client)
    registry = CollectorRegistry()
    depth = Gauge("ddiffusion_queue_depth", "Tasks waiting in a queue.", ["queue"], registry=registry)
    for queue, count in zip(Queue, depths, strict=True):
        depth.labels(queue.value).set(count)
    by_status = Gauge("ddiffusion_tasks", "Tasks by status (terminal ones counted since the data began).", ["status"], registry=registry)
    queued = sum(depths)
    by_status.labels("queued").set(queued)
    by_status.labels("running").set(max(0, active - queued))
    for status, count in finished.items():
        by_status.labels(status).set(float(count))
    run_sum = Gauge("ddiffusion_task_run_seconds_sum", "Total run time of succeeded tasks.", ["model"], registry=registry)
    run_count = Gauge("ddiffusion_task_run_seconds_count", "Succeeded tasks.", ["model"], registry=registry)
    for model, total in run_sums.items():
        run_sum.labels(model).set(float(total))
        run_count.labels(model).set(float(run_counts.get(model, 0)))
    alive = Gauge("ddiffusion_workers", "Live workers per queue.", ["queue"], registry=registry)
    for queue in Queue:
        alive.labels(queue.value).set(sum(queue.value in worker.queues for worker in workers.values()))
    up = Gauge("ddiffusion_worker_up", "A live worker, by name and queue.", ["worker", "queue"], registry=registry)
    loads = Gauge(
        "ddiffusion_worker_model_loads", "Model loads a worker's processes have made since they started.", ["worker"], registry=registry
    )
    warm = Gauge("ddiffusion_worker_warm_models", "Models a worker holds loaded.", ["worker"], registry=registry)
    for name, beat in workers.items():
        for queue_name in beat.queues:
            up.labels(name, queue_name).set(1)
        loads.labels(name).set(beat.loads)
        warm.labels(name).set(len(beat.warm))
    waiting = Gauge(
        "ddiffusion_affinity_queue_depth", "gpu tasks waiting for a worker that holds their model warm.", ["model"], registry=registry
    )
    for model, count in by_model.items():
        waiting.labels(model).set(count)
    Gauge("ddiffusion_scrape_timestamp_seconds", "When these figures were read.", registry=registry).set(time.time())
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
