"""A small synchronous ComfyUI client (Celery tasks are sync): httpx for the HTTP routes,
websockets for the event stream.

ComfyUI sends a prompt's events only to the websocket of the `client_id` it was queued with,
and only while that socket is open, so a caller connects first and queues second:

    with client.connect(client_id) as events:
        prompt_id = client.queue_prompt(graph, client_id)
        for event in events.follow(prompt_id): ...

Every call has a timeout. Connection failures are retried a bounded number of times with
backoff, then raised as `PlatformError(code="comfy_unavailable")` naming the URL.
"""

import json
import random
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import websockets.exceptions
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from core.errors import PlatformError

T = TypeVar("T")

# Binary websocket frames: 4-byte big-endian event type, then its payload (ComfyUI's BinaryEventTypes).
PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4
_PREVIEW_FORMATS = {1: "image/jpeg", 2: "image/png"}
# Proxies in front of ComfyUI answer these while it is (re)starting: the request never reached it.
_RETRY_STATUSES = {502, 503, 504}


@dataclass(frozen=True)
class Idle:
    """Nothing arrived for a while; lets the caller check for cancellation."""


@dataclass(frozen=True)
class Executing:
    node: str


@dataclass(frozen=True)
class Progress:
    value: int
    max: int
    node: str | None


@dataclass(frozen=True)
class Preview:
    image: bytes
    content_type: str


@dataclass(frozen=True)
class Done:
    """The prompt finished and its history (outputs) is written."""


@dataclass(frozen=True)
class Failed:
    node: str | None
    node_type: str | None
    message: str
    exception_type: str | None


@dataclass(frozen=True)
class Interrupted:
    node: str | None
    node_type: str | None


ComfyEvent = Idle | Executing | Progress | Preview | Done | Failed | Interrupted


class ComfyClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 30,
        connect_timeout_s: float = 5,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 5,
        idle_s: float = 1.0,
        history_poll_s: float = 15,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.idle_s = idle_s
        self.history_poll_s = history_poll_s
        self._http = httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s))

    def close(self) -> None:
        self._http.close()

    # HTTP routes

    def upload_image(self, data: bytes, filename: str, *, subfolder: str = "", overwrite: bool = True) -> dict[str, str]:
        """POST /upload/image; returns ComfyUI's `{name, subfolder, type}` for a LoadImage input."""
        form = {"subfolder": subfolder, "type": "input", "overwrite": "true" if overwrite else "false"}
        response = self._request("POST", "/upload/image", files={"image": (filename, data)}, data=form)
        self._raise_for_status(response, "upload an image")
        return response.json()

    def queue_prompt(self, graph: dict[str, Any], client_id: str) -> str:
        """POST /prompt; returns the prompt id. A graph ComfyUI refuses raises `comfy_node_errors`."""
        # A read timeout may mean it was queued: retrying could run the prompt twice.
        response = self._request("POST", "/prompt", json={"prompt": graph, "client_id": client_id}, idempotent=False)
        if response.status_code == 400:
            raise _prompt_error(response)
        self._raise_for_status(response, "queue the prompt")
        return str(response.json()["prompt_id"])

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        """GET /history/{prompt_id}: the entry with `outputs` and `status`, or None while not finished."""
        response = self._request("GET", f"/history/{prompt_id}")
        self._raise_for_status(response, "read the history")
        return response.json().get(prompt_id)

    def view(self, filename: str, subfolder: str = "", type: str = "output") -> tuple[bytes, str]:
        """GET /view; returns the file's bytes and content type."""
        response = self._request("GET", "/view", params={"filename": filename, "subfolder": subfolder, "type": type})
        self._raise_for_status(response, f"fetch {filename}")
        return response.content, response.headers.get("content-type", "application/octet-stream").split(";")[0]

    def queue(self) -> dict[str, list[list[Any]]]:
        """GET /queue: `queue_running` and `queue_pending`, items `[number, prompt_id, prompt, extra, outputs]`."""
        response = self._request("GET", "/queue")
        self._raise_for_status(response, "read the queue")
        return response.json()

    def cancel(self, prompt_id: str) -> str:
        """Stop a prompt wherever it is; returns "deleted", "interrupted" or "finished"."""
        queue = self.queue()
        if any(item[1] == prompt_id for item in queue.get("queue_pending", [])):
            self._post_ok("/queue", {"delete": [prompt_id]}, "remove the prompt from the queue")
            # It may have started between the two calls; a delete does nothing to a running prompt.
            queue = self.queue()
            if not any(item[1] == prompt_id for item in queue.get("queue_running", [])):
                return "deleted"
        if any(item[1] == prompt_id for item in queue.get("queue_running", [])):
            # With prompt_id ComfyUI stops only that prompt, never another client's that just started.
            self._post_ok("/interrupt", {"prompt_id": prompt_id}, "interrupt the prompt")
            return "interrupted"
        return "finished"

    # Websocket

    def connect(self, client_id: str) -> "ComfyEvents":
        """Open the event stream for `client_id`; do it before queueing so no event is missed."""
        return ComfyEvents(self, client_id)

    def _open_socket(self, client_id: str) -> ClientConnection:
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        url = urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws", f"clientId={client_id}", ""))

        def attempt() -> ClientConnection:
            # legacy=True: a plain connection that ComfyEvents closes itself, no context manager.
            # Previews can exceed websockets' 1 MiB default frame size.
            return ws_connect(url, open_timeout=self.connect_timeout_s, close_timeout=2, max_size=64 * 2**20, legacy=True)

        return self._retrying(attempt, "open the websocket", (OSError, TimeoutError, websockets.exceptions.InvalidHandshake))

    # Plumbing

    def _request(self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any) -> httpx.Response:
        retry_on: tuple[type[Exception], ...] = (httpx.TransportError,) if idempotent else (httpx.ConnectError, httpx.ConnectTimeout)

        def attempt() -> httpx.Response:
            response = self._http.request(method, path, **kwargs)
            if idempotent and response.status_code in _RETRY_STATUSES:
                raise _BadGateway(response)
            return response

        try:
            return self._retrying(attempt, f"{method} {path}", (*retry_on, _BadGateway))
        except httpx.TimeoutException as exc:
            raise PlatformError(
                f"ComfyUI at {self.base_url} did not answer {method} {path} within {self.timeout_s:g}s", code="comfy_unavailable"
            ) from exc
        except httpx.TransportError as exc:
            raise PlatformError(f"ComfyUI at {self.base_url} failed on {method} {path}: {exc}", code="comfy_unavailable") from exc

    def _retrying(self, attempt: Callable[[], T], what: str, retry_on: tuple[type[Exception], ...]) -> T:
        number = 0
        while True:
            try:
                return attempt()
            except retry_on as exc:
                if number == self.retries:
                    reason = f"HTTP {exc.response.status_code}" if isinstance(exc, _BadGateway) else (str(exc) or type(exc).__name__)
                    raise PlatformError(
                        f"ComfyUI at {self.base_url} is unreachable: could not {what} after {self.retries + 1} attempts ({reason}).",
                        code="comfy_unavailable",
                    ) from exc
                # Full jitter, so workers that lost the sidecar together do not return in step.
                time.sleep(random.uniform(0, min(self.max_backoff_s, self.backoff_s * 2**number)))
                number += 1

    def _post_ok(self, path: str, body: dict[str, Any], what: str) -> None:
        self._raise_for_status(self._request("POST", path, json=body), what)

    def _raise_for_status(self, response: httpx.Response, what: str) -> None:
        if response.is_success:
            return
        raise PlatformError(
            f"ComfyUI at {self.base_url} refused to {what}: HTTP {response.status_code} {response.text[:300]}", code="comfy_error"
        )


class ComfyEvents:
    """One client_id's websocket; `follow` turns its messages into events for one prompt."""

    def __init__(self, client: ComfyClient, client_id: str) -> None:
        self.client = client
        self.client_id = client_id
        self._socket = client._open_socket(client_id)

    def __enter__(self) -> "ComfyEvents":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._socket.close()

    def follow(self, prompt_id: str) -> Iterator[ComfyEvent]:
        """Events of `prompt_id` until it is Done, Failed or Interrupted; Idle every `idle_s` of silence.

        A dropped socket is reopened; events sent meanwhile are lost, so /history decides then
        (and after each `history_poll_s` of silence) whether the prompt already finished.
        """
        running = False  # legacy preview frames carry no prompt id: they are ours only while ours runs
        silent_since = time.monotonic()
        while True:
            try:
                message = self._socket.recv(timeout=self.client.idle_s)
            except TimeoutError:
                if time.monotonic() - silent_since >= self.client.history_poll_s:
                    silent_since = time.monotonic()
                    if (final := self._final_from_history(prompt_id)) is not None:
                        yield final
                        return
                yield Idle()
                continue
            except websockets.exceptions.ConnectionClosed:
                self._socket.close()
                self._socket = self.client._open_socket(self.client_id)
                if (final := self._final_from_history(prompt_id)) is not None:
                    yield final
                    return
                continue
            silent_since = time.monotonic()
            if isinstance(message, bytes):
                preview = _parse_preview(message, prompt_id, running)
                if preview is not None:
                    yield preview
                continue
            payload = json.loads(message)
            kind, data = payload.get("type"), payload.get("data") or {}
            if data.get("prompt_id") != prompt_id:
                continue  # status broadcasts, and other prompts of this client id
            event = _parse_message(kind, data)
            if kind == "execution_start":
                running = True
            if event is not None:
                yield event
                if isinstance(event, Done | Failed | Interrupted):
                    return

    def _final_from_history(self, prompt_id: str) -> ComfyEvent | None:
        entry = self.client.history(prompt_id)
        if entry is None:
            return None
        status = entry.get("status") or {}
        if status.get("status_str", "success") == "success":
            return Done()
        for kind, data in status.get("messages", []):
            if kind in ("execution_error", "execution_interrupted"):
                return _parse_message(kind, data)
        return Failed(None, None, "ComfyUI reports the prompt failed without saying why", None)


def _parse_message(kind: str | None, data: dict[str, Any]) -> ComfyEvent | None:
    if kind == "executing":
        # `node: null` is sent after the history is written: the reliable end of a prompt.
        return Done() if data.get("node") is None else Executing(str(data["node"]))
    if kind == "progress":
        node = data.get("node")
        return Progress(int(data["value"]), int(data["max"]), None if node is None else str(node))
    if kind == "execution_error":
        return Failed(_str_or_none(data.get("node_id")), data.get("node_type"), str(data.get("exception_message", "")).strip(), data.get("exception_type"))
    if kind == "execution_interrupted":
        return Interrupted(_str_or_none(data.get("node_id")), data.get("node_type"))
    return None  # execution_start, execution_cached, executed, execution_success, progress_state…


def _parse_preview(frame: bytes, prompt_id: str, running: bool) -> Preview | None:
    if len(frame) < 8:
        return None
    event, word = struct.unpack(">II", frame[:8])
    if event == PREVIEW_IMAGE and running:
        return Preview(frame[8:], _PREVIEW_FORMATS.get(word, "image/jpeg"))
    if event == PREVIEW_IMAGE_WITH_METADATA:
        metadata = json.loads(frame[8 : 8 + word])
        if metadata.get("prompt_id") == prompt_id:
            return Preview(frame[8 + word :], metadata.get("image_type", "image/jpeg"))
    return None


def _prompt_error(response: httpx.Response) -> PlatformError:
    """ComfyUI's 400 on /prompt: `error` {type, message, details} and `node_errors` by node id."""
    try:
        body = response.json()
    except ValueError:
        return PlatformError(f"ComfyUI refused the prompt: {response.text[:300]}", code="comfy_node_errors")
    problems = []
    for node_id, info in (body.get("node_errors") or {}).items():
        for error in info.get("errors", []):
            detail = f" ({error['details']})" if error.get("details") else ""
            problems.append(f"node {node_id} ({info.get('class_type', '?')}): {error.get('message', 'invalid')}{detail}")
    error = body.get("error")
    if isinstance(error, dict):
        summary = error.get("message", "invalid prompt") + (f" ({error['details']})" if error.get("details") and not problems else "")
    else:
        summary = str(error or "invalid prompt")
    message = f"ComfyUI refused the workflow: {summary}" + (f"; {'; '.join(problems)}" if problems else "")
    return PlatformError(message, code="comfy_node_errors", details=body.get("node_errors") or None)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


class _BadGateway(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
