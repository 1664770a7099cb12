"""The MCP server at /mcp, driven by the MCP Python SDK's own streamable HTTP client against the
running api (uvicorn on a loopback port) and real workers, as an assistant would drive it."""

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent
from PIL import Image

from api import tasks
from tests.utils.platform import ADMIN_KEY

TINY = {"model": "tiny-sd", "prompt": "a red teapot", "width": 64, "height": 64, "steps": 2, "seed": 7}
# Long enough on the single gpu worker to be cancelled while queued or running.
LONG = TINY | {"width": 256, "height": 256, "steps": 50}
TERMINAL = ("succeeded", "failed", "cancelled")


@asynccontextmanager
async def mcp_session(api_address: str, headers: dict[str, str]) -> AsyncIterator[ClientSession]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120)) as http,
        streamable_http_client(f"{api_address}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def with_session(api_address: str, key: str, steps: Callable[[ClientSession], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        async with mcp_session(api_address, {"X-API-Key": key}) as session:
            return await steps(session)

    return asyncio.run(run())


async def call(session: ClientSession, tool: str, **arguments: Any) -> Any:
    """A tool's structured answer; fails the test on a tool error."""
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def error_of(result: CallToolResult) -> dict[str, Any]:
    """The api's envelope of a tool error, checked to match the text an assistant reads."""
    assert result.is_error
    assert result.structured_content is not None
    error = result.structured_content["error"]
    assert isinstance(result.content[0], TextContent) and result.content[0].text == error["message"]
    return error


async def finished(session: ClientSession, task_id: str) -> dict[str, Any]:
    for _ in range(10):
        record = await call(session, "get_task", domain="images", id=task_id, wait_s=30)
        if record["status"] in TERMINAL:
            return record
    raise TimeoutError(f"task {task_id} still {record['status']}")


def test_tools_are_listed_with_their_request_schemas(api_address: str, user_key: str) -> None:
    async def steps(session: ClientSession) -> None:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        expected = {"list_models", "get_task", "list_tasks", "cancel_task", "submit_batch", "get_batch", "cancel_batch"}
        assert expected | {f"submit_{one}" for one in ("image", "text", "video", "workflow")} <= set(tools)
        steps = tools["submit_image"].input_schema["$defs"]["ImageRequest"]["properties"]["steps"]
        assert {"type": "integer", "minimum": 1, "maximum": 150} in steps["anyOf"]
        assert tools["list_tasks"].input_schema["properties"]["limit"]["maximum"] == 100
        assert all(tool.description for tool in tools.values())

    with_session(api_address, user_key, steps)


def test_list_models_shows_the_available_tiny_models(api_address: str, user_key: str) -> None:
    async def steps(session: ClientSession) -> None:
        models = {model["name"]: model for model in (await call(session, "list_models", domain="images"))["result"]}
        assert models["tiny-sd"]["available"]
        texts = (await call(session, "list_models", domain="texts"))["result"]
        assert any(model["name"].startswith("tiny-") and model["available"] for model in texts)

    with_session(api_address, user_key, steps)


def test_submit_image_then_get_task_until_succeeded_and_download_the_png(api_address: str, user_key: str) -> None:
    async def steps(session: ClientSession) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]:
        created = await call(session, "submit_image", request=TINY)
        assert created["status"] == "queued"
        record = await finished(session, created["id"])
        listed = await call(session, "list_tasks", domain="images", status="succeeded")
        too_late = error_of(await session.call_tool("cancel_task", {"domain": "images", "id": created["id"]}))
        return created["id"], record, listed, too_late

    task_id, record, listed, too_late = with_session(api_address, user_key, steps)
    assert record["status"] == "succeeded", record["error"]
    assert record["request"]["width"] == 64 and len(record["outputs"]) == 1
    download = httpx.get(record["outputs"][0]["url"])  # signed: no key needed
    assert download.status_code == 200
    image = Image.open(io.BytesIO(download.content))
    assert image.format == "PNG" and image.size == (64, 64)
    assert [task["id"] for task in listed["tasks"]] == [task_id]
    rest = httpx.get(f"{api_address}/api/images/{task_id}", headers={"X-API-Key": user_key}).json()
    assert rest["status"] == "succeeded" and rest["outputs"][0]["ref"] == record["outputs"][0]["ref"]
    assert too_late["code"] == "conflict" and too_late["details"] == {"status": "succeeded"}


def test_cancel_task_stops_a_long_task(api_address: str, user_key: str) -> None:
    async def steps(session: ClientSession) -> tuple[dict[str, Any], dict[str, Any]]:
        created = await call(session, "submit_image", request=LONG)
        cancelled = await call(session, "cancel_task", domain="images", id=created["id"])
        return cancelled, await finished(session, created["id"])

    cancelled, record = with_session(api_address, user_key, steps)
    assert cancelled["status"] in ("cancelled", "running")  # a running task stops at its next step
    assert record["status"] == "cancelled" and record["outputs"] == [] and record["progress"]["step"] < 50


def test_submit_batch_makes_a_task_per_seed(api_address: str, user_key: str) -> None:
    async def steps(session: ClientSession) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        request = {"domain": "images", "base": TINY, "vary": {"seed": {"from": 1, "to": 3}}}
        created = await call(session, "submit_batch", request=request)
        for task in created["tasks"]:
            await finished(session, task["id"])
        batch = await call(session, "get_batch", id=created["id"])
        listed = await call(session, "list_tasks", batch=created["id"])
        return created, batch, listed

    created, batch, listed = with_session(api_address, user_key, steps)
    assert len(created["tasks"]) == 3
    assert batch["done"] and batch["counts"]["succeeded"] == 3
    assert sorted(task["request"]["seed"] for task in batch["tasks"]) == [1, 2, 3]
    assert {task["id"] for task in listed["tasks"]} == {task["id"] for task in created["tasks"]}


def test_bad_requests_are_tool_errors_with_the_api_messages(api_address: str, user_key: str) -> None:
    too_many = TINY | {"steps": 100}  # within the schema's 150, above tiny-sd's 50

    async def steps(session: ClientSession) -> dict[str, dict[str, Any]]:
        return {
            "limit": error_of(await session.call_tool("submit_image", {"request": too_many})),
            "schema": error_of(await session.call_tool("submit_image", {"request": TINY | {"steps": 500}})),
            "batch": error_of(await session.call_tool("submit_batch", {"request": {"domain": "images", "base": too_many}})),
            "unknown": error_of(await session.call_tool("get_task", {"domain": "images", "id": "no-such-task"})),
            "cursor": error_of(await session.call_tool("list_tasks", {"cursor": "abc"})),
        }

    errors = with_session(api_address, user_key, steps)
    rest = httpx.post(f"{api_address}/api/images", json=too_many, headers={"X-API-Key": user_key})
    assert rest.status_code == 422
    assert errors["limit"] == rest.json()["error"]
    assert errors["batch"]["message"] == f"task 0: {rest.json()['error']['message']}"
    schema = errors["schema"]
    assert schema["code"] == "validation_error"
    assert schema["message"] == "Invalid request: request.steps: Input should be less than or equal to 150"
    assert errors["unknown"] == {"code": "unknown_task", "message": "No images task 'no-such-task' for this key.", "details": None}
    assert errors["cursor"]["code"] == "invalid_request"


def test_a_crash_in_a_tool_is_an_internal_error_that_tells_nothing(
    api_address: str, user_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def crash(*args: object) -> None:
        raise RuntimeError("secret database password is hunter2")

    monkeypatch.setattr(tasks, "list_models", crash)  # the api runs in this process, in a thread
    result = with_session(api_address, user_key, lambda session: session.call_tool("list_models", {"domain": "images"}))
    assert error_of(result) == {"code": "internal_error", "message": "Internal error; it has been logged.", "details": None}


def test_a_missing_or_unknown_key_is_401_before_mcp_and_there_is_no_get_stream(api_address: str, user_key: str) -> None:
    hello = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    accept = {"Accept": "application/json, text/event-stream"}
    missing = httpx.post(f"{api_address}/mcp", json=hello, headers=accept)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthenticated"
    unknown = httpx.post(f"{api_address}/mcp", json=hello, headers=accept | {"Authorization": "Bearer dd_nope_nope"})
    assert unknown.status_code == 401
    assert unknown.json()["error"] == {"code": "unauthenticated", "message": "Unknown or revoked API key.", "details": None}
    stream = httpx.get(f"{api_address}/mcp", headers={"Accept": "text/event-stream", "X-API-Key": user_key})
    assert stream.status_code == 405  # stateless: nothing to stream, as the spec says it


def test_a_bearer_key_works_and_another_key_cannot_see_the_task(api_address: str, user_key: str) -> None:
    other = httpx.post(f"{api_address}/api/admin/keys", json={"name": "other"}, headers={"X-API-Key": ADMIN_KEY}).json()["key"]

    async def steps() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with mcp_session(api_address, {"Authorization": f"Bearer {user_key}"}) as mine:
            created = await call(mine, "submit_image", request=TINY)
        async with mcp_session(api_address, {"X-API-Key": other}) as theirs:
            got = error_of(await theirs.call_tool("get_task", {"domain": "images", "id": created["id"]}))
            cancel = error_of(await theirs.call_tool("cancel_task", {"domain": "images", "id": created["id"]}))
            listed = await call(theirs, "list_tasks")
        return got, cancel, listed

    got, cancel, listed = asyncio.run(steps())
    assert got["code"] == cancel["code"] == "unknown_task"
    assert listed["tasks"] == []
