"""The MCP server at /mcp, so assistants drive the platform: the REST api's operations as tools.

Streamable HTTP, stateless and with JSON answers, so any api replica serves any call. Every
HTTP request passes the REST api's own key check first (a FastAPI route with `CurrentKey`), and
the tools call the functions the REST routes call: the same validation, ownership and messages.
An error the REST api answers with its envelope comes back as a tool error (`isError`) whose
text is the envelope's message and whose structured content is the envelope itself.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Request, Response
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, InputRequiredResult, TextContent
from pydantic import BaseModel, Field, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from api import batches, tasks
from api.deps import BaseUrl, CurrentKey, PlatformDep
from api.errors import error_body, validation_body
from api.keys import Principal
from api.routes.history import BatchFilter, Cursor, Limit, ModelFilter, Since
from api.routes.tasks import SINGULAR
from api.tasks import Platform
from core.schemas import (
    REQUEST_TYPES,
    BatchCreated,
    BatchRecord,
    BatchRequest,
    Domain,
    ErrorBody,
    ModelInfo,
    TaskCreated,
    TaskPage,
    TaskRecord,
    TaskStatus,
)

INSTRUCTIONS = """deferred-diffusion runs image, text, video and ComfyUI workflow tasks on a queue.
1. list_models(domain) shows the models; pick one whose `available` is true (the tiny-* models always are).
2. submit_image / submit_text / submit_video / submit_workflow answer at once with the task `id`.
3. get_task(domain, id, wait_s=60) until `status` is succeeded, failed or cancelled; each output's `url` downloads
   the file without a key.
list_tasks shows your tasks, cancel_task stops one; submit_batch makes many at once (get_batch, cancel_batch)."""
# What one get_task may wait for the task to end: the REST api's longest `Prefer: wait`.
WaitSeconds = Annotated[
    int, Field(ge=0, le=tasks.MAX_WAIT_S, description="Seconds to wait for the task to end before answering; 0 answers at once.")
]
TaskId = Annotated[str, Field(max_length=64, description="The task's `id`, as a submit answered it.")]
BatchId = Annotated[str, Field(max_length=64, description="The batch's `id`, as submit_batch answered it.")]
log = structlog.get_logger("api")


@dataclass(frozen=True)
class Caller:
    """Who calls and through which api process: what a REST handler has from its dependencies."""

    platform: Platform
    principal: Principal
    base_url: str


def caller(ctx: Context) -> Caller:
    # The HTTP route put it on the request's state before handing the request to the SDK.
    return ctx.request_context.request.state.mcp_caller


def tool_error(body: ErrorBody) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=body.message)], structured_content={"error": body.model_dump(mode="json")}, is_error=True
    )


class PlatformMCP(MCPServer):
    """MCPServer whose tool errors are the REST api's envelopes, never exception text."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as exc:  # raised in a tool: the SDK keeps the original as the cause
            body = error_body(exc.__cause__) if exc.__cause__ is not None else None
            if body is None:
                log.error("mcp tool failed", tool=name, exc_info=exc.__cause__)
                body = ErrorBody(code="internal_error", message="Internal error; it has been logged.")
            return tool_error(body)
        except ToolError as exc:
            # Arguments that fail the tool's schema: said as REST says a 422 (the loc names the argument).
            if isinstance(exc.__cause__, ValidationError):
                return tool_error(validation_body(exc.__cause__.errors()))
            raise  # an unknown tool: the SDK's own message


def submit_tool(domain: Domain, request_type: type[BaseModel]) -> Callable[..., Awaitable[TaskCreated]]:
    """One submit tool per domain, taking the domain's request model as POST /api/{domain} does."""

    async def submit(request: request_type, ctx: Context) -> TaskCreated:  # type: ignore[valid-type]
        call = caller(ctx)
        return await tasks.submit(call.platform, domain, request, call.principal, None)

    submit.__name__ = f"submit_{SINGULAR[domain]}"
    submit.__doc__ = (
        f"Submit one task to {domain.value}; answers at once with its `id` (then call get_task with domain "
        f'"{domain.value}"). `request` is the body of POST /api/{domain.value}: `model` from list_models("{domain.value}") '
        "and the fields its schema lists. Inputs (images, videos) are given as data: URLs, http(s) URLs or refs of uploaded files."
    )
    return submit


def build_server() -> PlatformMCP:
    server = PlatformMCP("deferred-diffusion", instructions=INSTRUCTIONS, version="0.1.0")

    @server.tool()
    async def list_models(domain: Domain, ctx: Context) -> list[ModelInfo]:
        """The models of a domain (images, texts, videos or workflows), with their defaults and limits; `available` is
        true where a live worker can run the model here. Pass a model's `name` as `model` when submitting."""
        call = caller(ctx)
        return await tasks.list_models(call.platform, domain)

    for domain, request_type in REQUEST_TYPES.items():
        server.add_tool(submit_tool(domain, request_type))

    @server.tool()
    async def get_task(domain: Domain, id: TaskId, ctx: Context, wait_s: WaitSeconds = 0) -> TaskRecord:
        """A task's record: `status` (queued, running, succeeded, failed, cancelled), queue position, progress, `error`, and
        once succeeded its `outputs`, each with a signed `url` that downloads the file without a key. `domain` is the one
        the task was submitted to. With `wait_s`, answers as soon as the task ends, or after wait_s with its progress."""
        call = caller(ctx)
        task = await tasks.get_owned(call.platform, domain, id, call.principal)
        if wait_s and not task.status.is_terminal():
            # None when it has not ended in time: then the record as it is now.
            task = await tasks.wait_for_end(call.platform, id, wait_s) or await tasks.get_owned(call.platform, domain, id, call.principal)
        return tasks.render(call.platform, task, call.base_url)

    @server.tool()
    async def list_tasks(
        ctx: Context,
        domain: Domain | None = None,
        status: TaskStatus | None = None,
        model: ModelFilter = None,
        batch: BatchFilter = None,
        since: Since = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> TaskPage:
        """Your tasks, newest first, as get_task returns them; the filters combine. For the next page pass the answer's
        `next_cursor` as `cursor` (null when there is no more)."""
        call = caller(ctx)
        return await tasks.history(
            call.platform, call.principal, call.base_url,
            domain=domain, model=model, status=status, since=since, cursor=cursor, limit=limit, key_id=None, batch=batch,
        )  # fmt: skip

    @server.tool()
    async def cancel_task(domain: Domain, id: TaskId, ctx: Context) -> TaskRecord:
        """Cancel a task: a queued one never runs, a running one stops at its next step. Answers with its record."""
        call = caller(ctx)
        task = await tasks.cancel(call.platform, domain, id, call.principal)
        return tasks.render(call.platform, task, call.base_url)

    @server.tool()
    async def submit_batch(request: BatchRequest, ctx: Context) -> BatchCreated:
        """Many tasks of one domain at once, e.g. a wedge of seeds: `base` is a request of `domain`; `vary` maps fields to
        lists of values or {"from", "to", "step"} ranges (every combination is one task), or `requests` lists per-task
        fields over `base`. All are checked first and admitted together, or none. Follow it with get_batch."""
        call = caller(ctx)
        return await batches.submit(call.platform, request, call.principal)

    @server.tool()
    async def get_batch(id: BatchId, ctx: Context) -> BatchRecord:
        """A batch: counts by status, overall progress (`fraction`), `done` once every task has ended, and every task's record."""
        call = caller(ctx)
        fields, found = await batches.read(call.platform, id, call.principal)
        return batches.render(call.platform, fields, found, call.base_url)

    @server.tool()
    async def cancel_batch(id: BatchId, ctx: Context) -> BatchRecord:
        """Cancel every unfinished task of a batch: queued ones never run, running ones stop at their next step."""
        call = caller(ctx)
        return await batches.cancel(call.platform, id, call.principal, call.base_url)

    return server


class Handover(Response):
    """A route's answer that hands the request on to an ASGI app, which answers it itself."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__()
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class McpEndpoint:
    """The MCP server and its route; `running()` belongs in the app's lifespan."""

    def __init__(self, max_body_bytes: int) -> None:
        self.server = build_server()
        self.max_body_bytes = max_body_bytes

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        # A session manager runs only once, so each lifespan makes a fresh one (the app it returns is not used:
        # the route below is the door). No DNS-rebinding check: every request needs a key a browser page cannot know.
        self.server.streamable_http_app(
            stateless_http=True,
            json_response=True,
            max_request_body_size=self.max_body_bytes,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        async with self.server.session_manager.run():
            yield

    def router(self) -> APIRouter:
        router = APIRouter()

        # POST only: stateless, the server has nothing to say on a GET stream, and the spec's answer to a GET is then 405.
        @router.post("/mcp", include_in_schema=False)
        async def mcp(request: Request, platform: PlatformDep, key: CurrentKey, base_url: BaseUrl) -> Response:
            request.state.mcp_caller = Caller(platform, key, base_url)
            return Handover(self.server.session_manager.handle_request)

        return router
