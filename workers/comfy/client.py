"""A small synchronous ComfyUI client (Celery tasks are sync): httpx for the HTTP routes,
websockets for the event stream.

ComfyUI sends a prompt's events only to the websocket of the `client_id` it was queued with,
and only while that socket is open, so a caller connects first and queues second:

    with client.connect(client_id) as events:
        prompt_id = client.queue_prompt(graph, client_id)
        for event in events.follow(prompt_id): ...

Every call has a timeout. Connection failures are retried (workers/retry.py) a bounded number
of times with backoff, then raised as `PlatformError(code="comfy_unavailable")` naming the URL;
a dropped websocket is reopened for up to `reconnect_window_s`, as a restarting ComfyUI needs.
Every text from ComfyUI that goes into an error passes `scrub`: no sidecar paths, no tracebacks.
"""

import json
import re
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import websockets.exceptions
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from core.errors import PlatformError
from workers.retry import Retryable, RetryPolicy, retry, retry_after_s

# Binary websocket frames: 4-byte big-endian event type, then its payload (ComfyUI's BinaryEventTypes).
PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4
_PREVIEW_FORMATS = {1: "image/jpeg", 2: "image/png"}
# Proxies in front of ComfyUI answer these while it is (re)starting: the request never reached it.
_RETRY_STATUSES = {502, 503, 504}
# ComfyUI restarting (reloading custom nodes and models) takes tens of seconds.
RECONNECT_WINDOW_S = 45.0


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


@dataclass(frozen=True)
class Lost:
    """ComfyUI has the prompt in neither its queue nor its history: it restarted and forgot it."""


ComfyEvent = Idle | Executing | Progress | Preview | Done | Failed | Interrupted | Lost


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
        reconnect_window_s: float = RECONNECT_WINDOW_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.idle_s = idle_s
        self.history_poll_s = history_poll_s
        self.reconnect_window_s = reconnect_window_s
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
        """POST /prompt; returns the prompt id. A graph ComfyUI refuses, even in part, raises `comfy_node_errors`."""
        # A read timeout may mean it was queued: retrying could run the prompt twice.
        response = self._request("POST", "/prompt", json={"prompt": graph, "client_id": client_id}, idempotent=False)
        if response.status_code == 400:
            raise _prompt_error(response)
        self._raise_for_status(response, "queue the prompt")
        body = response.json()
        prompt_id = str(body["prompt_id"])
        if problems := _node_problems(body.get("node_errors")):
            # ComfyUI queued the valid output branches only: a run that would end short, so it is stopped.
            try:
                outcome = f"ComfyUI had queued the valid branches as prompt {prompt_id}; it was {self.cancel(prompt_id)}"
            except PlatformError:
                outcome = f"ComfyUI queued the valid branches as prompt {prompt_id} and could not be told to stop it"
            raise PlatformError(
                f"ComfyUI refused part of the workflow: {'; '.join(problems)}. {outcome}. Fix these nodes and submit again.",
                code="comfy_node_errors",
            )
        return prompt_id

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

    def _open_socket(self, client_id: str, *, reconnecting: bool = False) -> ClientConnection:
        """The websocket; a reopening keeps trying for `reconnect_window_s`, a first opening for the usual retries."""
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        url = urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws", f"clientId={client_id}", ""))
        if reconnecting:
            what = f"reopen the websocket within {self.reconnect_window_s:g}s"
            # Attempts are bounded by the window; the count only keeps the loop finite.
            policy = RetryPolicy(10_000, self.backoff_s, self.max_backoff_s, self.connect_timeout_s, self.reconnect_window_s)
        else:
            what = f"open the websocket after {self.retries + 1} attempts"
            policy = self._policy()

        def attempt(timeout_s: float) -> ClientConnection:
            try:
                # legacy=True: a plain connection that ComfyEvents closes itself, no context manager.
                # Previews can exceed websockets' 1 MiB default frame size.
                return ws_connect(url, open_timeout=timeout_s, close_timeout=2, max_size=64 * 2**20, legacy=True)
            except (OSError, TimeoutError, websockets.exceptions.InvalidHandshake) as exc:
                reason = "the handshake was refused" if isinstance(exc, websockets.exceptions.InvalidHandshake) else "could not connect"
                raise Retryable(self._unreachable(what, reason)) from exc

        return retry(attempt, policy)

    # Plumbing

    def _policy(self) -> RetryPolicy:
        return RetryPolicy(self.retries, self.backoff_s, self.max_backoff_s, self.timeout_s)

    def _request(self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any) -> httpx.Response:
        what = f"{method} {path} after {self.retries + 1} attempts"

        def attempt(timeout_s: float) -> httpx.Response:
            try:
                response = self._http.request(method, path, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise Retryable(self._unreachable(what, "could not connect")) from exc
            except httpx.TimeoutException as exc:
                error = PlatformError(
                    f"ComfyUI at {self.base_url} did not answer {method} {path} within {timeout_s:g}s", code="comfy_unavailable"
                )
                raise (Retryable(error) if idempotent else error) from exc
            except httpx.TransportError as exc:
                error = PlatformError(f"The connection to ComfyUI at {self.base_url} broke during {method} {path}.", code="comfy_unavailable")
                raise (Retryable(error) if idempotent else error) from exc
            if idempotent and response.status_code in _RETRY_STATUSES:
                raise Retryable(self._unreachable(what, f"HTTP {response.status_code}"), retry_after_s(response.headers))
            return response

        return retry(attempt, self._policy())

    def _unreachable(self, what: str, reason: str) -> PlatformError:
        return PlatformError(f"ComfyUI at {self.base_url} is unreachable: could not {what} ({reason}).", code="comfy_unavailable")

    def _post_ok(self, path: str, body: dict[str, Any], what: str) -> None:
        self._raise_for_status(self._request("POST", path, json=body), what)

    def _raise_for_status(self, response: httpx.Response, what: str) -> None:
        if response.is_success:
            return
        raise PlatformError(
            f"ComfyUI at {self.base_url} refused to {what}: HTTP {response.status_code} {scrub(response.text)[:300]}", code="comfy_error"
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
        (and after each `history_poll_s` of silence) whether the prompt already finished, and
        /queue whether ComfyUI still has it at all: Lost when it has neither.
        """
        running = False  # legacy preview frames carry no prompt id: they are ours only while ours runs
        silent_since = time.monotonic()
        while True:
            try:
                message = self._socket.recv(timeout=self.client.idle_s)
            except TimeoutError:
                if time.monotonic() - silent_since >= self.client.history_poll_s:
                    silent_since = time.monotonic()
                    if (final := self._whereabouts(prompt_id)) is not None:
                        yield final
                        return
                yield Idle()
                continue
            except websockets.exceptions.ConnectionClosed:
                self._socket.close()
                self._socket = self.client._open_socket(self.client_id, reconnecting=True)
                silent_since = time.monotonic()
                if (final := self._whereabouts(prompt_id)) is not None:
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

    def _whereabouts(self, prompt_id: str) -> ComfyEvent | None:
        """The prompt's end (from /history), Lost when ComfyUI no longer has it, None while it waits or runs."""
        if (final := self._final_from_history(prompt_id)) is not None:
            return final
        queue = self.client.queue()
        if any(item[1] == prompt_id for item in [*queue.get("queue_running", []), *queue.get("queue_pending", [])]):
            return None
        # Asked again: it may have finished between the two calls (ComfyUI moves it to the history at once).
        return self._final_from_history(prompt_id) or Lost()

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
        # `traceback` (a list of frames) is ComfyUI's internals: it stays out.
        return Failed(_str_or_none(data.get("node_id")), data.get("node_type"), scrub(str(data.get("exception_message", ""))), data.get("exception_type"))
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
        return PlatformError(f"ComfyUI refused the prompt: {scrub(response.text)[:300]}", code="comfy_node_errors")
    problems = _node_problems(body.get("node_errors"))
    error = body.get("error")
    if isinstance(error, dict):
        summary = error.get("message", "invalid prompt") + (f" ({error['details']})" if error.get("details") and not problems else "")
    else:
        summary = str(error or "invalid prompt")
    message = f"ComfyUI refused the workflow: {scrub(summary)}" + (f"; {'; '.join(problems)}" if problems else "")
    return PlatformError(message, code="comfy_node_errors")


def _node_problems(node_errors: Any) -> list[str]:
    """ComfyUI's `node_errors` in words, one per error: node id, class and what is wrong."""
    problems = []
    for node_id, info in (node_errors or {}).items() if isinstance(node_errors, dict) else []:
        for error in info.get("errors", []):
            detail = f" ({error['details']})" if error.get("details") else ""
            problems.append(f"node {node_id} ({info.get('class_type', '?')}): {scrub(error.get('message', 'invalid') + detail)}")
    return problems


# An absolute path: POSIX (/opt/ComfyUI/x), Windows (C:\ComfyUI\x, C:/x) or UNC (\\host\share\x).
# Windows folders may hold spaces; the last part (the file's name, kept) may not.
_POSIX_PATH = re.compile(r"(?<![\w.:/~-])/(?:[\w.@+~-]+/)+([\w.@+~-]+)")
_WINDOWS_PATH = re.compile(r"(?:\b[A-Za-z]:|\\\\[^\\/\s]+)[\\/](?:[^\\/:*?\"<>|\r\n]+[\\/])*([^\\/:*?\"<>|\s]+)")
_TRACEBACK_START = "Traceback (most recent call last):"
_FRAME_LINE = re.compile(r'^\s*File ".*", line \d+')


def scrub(text: str) -> str:
    """ComfyUI's text as a client may see it: paths cut to their file's name, traceback frames dropped."""
    kept: list[str] = []
    in_traceback = False
    for line in text.splitlines():
        if line.strip() == _TRACEBACK_START:
            in_traceback = True
            continue
        # A traceback's frames are indented; its first unindented line is the error itself.
        if in_traceback and (line[:1].isspace() or not line.strip()):
            continue
        in_traceback = False
        if _FRAME_LINE.match(line) or line.startswith("During handling of the above exception"):
            continue
        kept.append(line.strip())
    words = " ".join(line for line in kept if line)
    return _POSIX_PATH.sub(r"\1", _WINDOWS_PATH.sub(r"\1", words))


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)

