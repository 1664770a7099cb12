"""The api's app factory: `uvicorn --factory api.main:create_app`."""

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api import errors
from api.deliveries import deliver_forever
from api.files import InputStore, UrlSigner
from api.keys import KeyStore
from api.limits import BodySizeLimit
from api.mcp import McpEndpoint
from api.reaper import reap_forever
from api.routes import API_PREFIX, API_ROUTERS, index, ops
from api.tasks import Platform
from core.blobs import open_blob_store
from core.logs import configure_logging
from core.queue import make_celery
from core.records import BLOB_EXPIRY_KEY, AsyncTaskStore
from core.redis_client import connect_async
from core.settings import Settings

DESCRIPTION = """Queue-backed inference for studio pipelines: submit, then poll or stream by task id.

**Start here**
1. **Get a key.** `make run` prints the admin key (also in `data/admin_key`); with it, POST /api/admin/keys `{"name": "me"}`
   creates a user key. Click *Authorize* and put the key in **ApiKey** (X-API-Key).
2. **See which models work here:** GET /api/{domain}/models (`images`, `texts`, `videos`, `workflows`); the field
   `available` is true for the models a live worker can run now. The `tiny-*` models always are.
3. **Submit:** POST /api/{domain}. Each has examples: the first needs nothing, the others say what to upload first
   with POST /api/files. The answer is `202` with the task `id`.
4. **Poll or stream:** GET /api/{domain}/{id} until `status` is `succeeded`, or GET /api/{domain}/{id}/events.
5. **Download:** each of the record's `outputs` has a signed `url` that needs no key.

GET /api lists these links."""
SWEEP_EVERY_S = 60
YOUNG_GC_THRESHOLD = 10_000
SHUTDOWN_WAIT_S = 5
log = structlog.get_logger("api")


def build_platform(settings: Settings) -> Platform:
    client = connect_async(settings.redis_url_or_raise())
    blobs = open_blob_store(settings)
    http = httpx.AsyncClient()
    return Platform(
        settings=settings,
        redis=client,
        tasks=AsyncTaskStore(client, settings.result_ttl_s),
        keys=KeyStore(client, settings.admin_key_value()),
        blobs=blobs,
        inputs=InputStore(blobs, settings, http, client),
        signer=UrlSigner(settings.secret_key_value(), settings.url_ttl_s),
        celery=make_celery(settings),
        http=http,
    )


async def sweep_expired_blobs(platform: Platform, batch: int = 500) -> int:
    """Delete blobs whose last use is older than the result TTL; returns how many. ZREM decides
    who deletes, so several api replicas can sweep the same store."""
    due = await platform.redis.zrangebyscore(BLOB_EXPIRY_KEY, "-inf", time.time(), start=0, num=batch)
    deleted = 0
    for ref in due:
        if await platform.redis.zrem(BLOB_EXPIRY_KEY, ref):
            await asyncio.to_thread(platform.blobs.delete, ref)
            deleted += 1
    return deleted


async def sweep_forever(platform: Platform, stop: asyncio.Event) -> None:
    """Sweeps until `stop` is set. Cancellation alone is not enough: a cancel that lands inside a
    Redis call can be swallowed by the client, and the loop would then sweep on forever."""
    while not stop.is_set():
        try:
            while await sweep_expired_blobs(platform):
                pass
        except Exception:
            log.exception("blob sweep failed; retrying later")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SWEEP_EVERY_S)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_json)
    # The MCP SDK logs each stateless session's start and end at INFO: noise, and it would bury an
    # api's last words (what `ddiffusion serve` shows when the api cannot start).
    logging.getLogger("mcp").setLevel(max(logging.WARNING, logging.getLevelName(settings.log_level.upper())))
    max_body_bytes = settings.max_upload_bytes * 4 // 3 + 1024 * 1024
    mcp = McpEndpoint(max_body_bytes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform = build_platform(settings)
        app.state.platform = platform
        stop = asyncio.Event()
        background = [
            asyncio.create_task(sweep_forever(platform, stop)),
            asyncio.create_task(reap_forever(platform, stop)),
            asyncio.create_task(platform.keys.follow_revocations(stop)),
            asyncio.create_task(deliver_forever(platform, stop)),
        ]
        # What the start built (imports, schemas, the catalogue) lives as long as the process:
        # frozen, the collector no longer walks it in every full collection, a pause that
        # otherwise lands on whichever requests are in flight.
        gc.freeze()
        # Young collections every 10,000 allocations, not Python's 700: at 700 each one walked the
        # objects of every request in flight and moved them to older generations to be walked
        # again; with more room most die first (measured: ~10% more submits per second).
        gc.set_threshold(YOUNG_GC_THRESHOLD)
        log.info("api ready", host=settings.host, port=settings.port)
        try:
            async with mcp.running():
                yield
        finally:
            stop.set()
            for task in background:
                task.cancel()
            # Bounded, for the same reason: shutdown must not wait on a swallowed cancel.
            _, pending = await asyncio.wait(background, timeout=SHUTDOWN_WAIT_S)
            if pending:
                log.warning("background tasks did not stop in time", tasks=[task.get_coro().__qualname__ for task in pending])
            await platform.http.aclose()
            await platform.redis.aclose()

    app = FastAPI(
        title="deferred-diffusion",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    errors.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"])
    app.include_router(index.router)
    for router in API_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(ops.router)
    app.include_router(mcp.router())
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="deferred-diffusion API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )

    return app
