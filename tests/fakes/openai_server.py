"""A loopback fake of OpenAI's chat completions and image endpoints, driven by a script of behaviours.

Each request takes the next behaviour of the script; the last one repeats once the script is
used up (so `[Fail(500)]` fails every time), and an empty script echoes (chat) or answers a
PNG of the asked size (images). Every request is recorded with its headers, body and uploaded
files so tests can check what the SDK really sent.
"""

import base64
import email.parser
import email.policy
import io
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

API_KEY = "sk-test-0123456789"
CHAT_PATH = "/v1/chat/completions"
IMAGE_PATHS = ("/v1/images/generations", "/v1/images/edits")


@dataclass(frozen=True)
class Reply:
    """A normal answer: `text`, or an echo of the last user message, sent word by word (chat);
    a PNG of the asked size (images)."""

    text: str | None = None
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Fail:
    """An HTTP error with OpenAI's error body; `retry_after` becomes the Retry-After header."""

    status: int
    message: str = "The server had an error while processing your request."
    type: str = "server_error"
    code: str | None = None
    retry_after: str | None = None


@dataclass(frozen=True)
class Slow:
    """Waits `delay_s` before answering as `then` does: longer than a client timeout, it times out."""

    delay_s: float
    then: Reply | Fail = Reply()


@dataclass(frozen=True)
class Hang:
    """Accepts the request, then says nothing until the server stops, as a stuck provider does;
    `after_first_chunk` (streamed chat) sends the headers and the first chunk before going silent."""

    after_first_chunk: bool = False


Behaviour = Reply | Fail | Slow | Hang


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request (an image edit's `image` or `mask`)."""

    filename: str | None
    content_type: str
    data: bytes


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any]  # the JSON body, or a multipart body's text fields
    received_at: float  # time.monotonic()
    files: dict[str, UploadedFile] = field(default_factory=dict)  # multipart file parts by field name


@dataclass
class FakeOpenAI:
    base_url: str
    script: list[Behaviour]
    requests: list[RecordedRequest] = field(default_factory=list)
    _served: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def take(self, request: RecordedRequest) -> Behaviour:
        """Record a chat or image request and return what to do with it."""
        with self._lock:
            self.requests.append(request)
            self._served += 1
            if not self.script:
                return Reply()
            return self.script[min(self._served, len(self.script)) - 1]


def point_engines_at(monkeypatch: pytest.MonkeyPatch, base_url: str, **overrides: str) -> None:
    """Sets the environment OpenAI engines read to use the fake at base_url, with short timeouts,
    two retries and millisecond backoffs; `overrides` replace any of these variables."""
    env = {
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_BASE_URL": base_url,
        "DDIFFUSION_PROVIDER_TIMEOUT_S": "5",
        "DDIFFUSION_PROVIDER_MAX_RETRIES": "2",
        "DDIFFUSION_PROVIDER_BACKOFF_S": "0.01",
        "DDIFFUSION_PROVIDER_MAX_BACKOFF_S": "1",
        **overrides,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@contextmanager
def fake_openai(script: list[Behaviour] | None = None) -> Iterator[FakeOpenAI]:
    """Serve the fake on 127.0.0.1 for the block; yields it with `.base_url` ending in /v1."""
    stop = threading.Event()
    fake: FakeOpenAI

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {name.lower(): value for name, value in self.headers.items()}
            if headers.get("content-type", "").startswith("multipart/form-data"):
                body, files = _multipart(headers["content-type"], raw)
            else:
                body, files = json.loads(raw or b"{}"), {}
            request = RecordedRequest("POST", self.path, headers, body, time.monotonic(), files)
            if self.path not in (CHAT_PATH, *IMAGE_PATHS):
                fake.record(request)
                self._error(Fail(404, f"Unknown path {self.path}", type="invalid_request_error"))
                return
            behaviour = fake.take(request)
            try:
                if isinstance(behaviour, Hang):
                    if behaviour.after_first_chunk and body.get("stream"):
                        self._stream_head(body)
                    stop.wait()
                    return
                if isinstance(behaviour, Slow):
                    # Wakes early when the server stops, so tests never wait on a sleeping handler.
                    stop.wait(behaviour.delay_s)
                    behaviour = behaviour.then
                if isinstance(behaviour, Fail):
                    self._error(behaviour)
                elif self.path in IMAGE_PATHS:
                    self._image(body)
                elif body.get("stream"):
                    self._stream(behaviour, body)
                else:
                    self._complete(behaviour, body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout or cancel) before we finished

        def _error(self, fail: Fail) -> None:
            payload = {"error": {"message": fail.message, "type": fail.type, "param": None, "code": fail.code}}
            headers = {"Retry-After": fail.retry_after} if fail.retry_after is not None else {}
            self._send(fail.status, "application/json", json.dumps(payload).encode(), headers)

        def _complete(self, reply: Reply, body: dict[str, Any]) -> None:
            text = _answer(reply, body)
            payload = {
                **_envelope("chat.completion", body.get("model", "")),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                        "logprobs": None,
                        "finish_reason": reply.finish_reason,
                    }
                ],
                "usage": _usage(body, text),
            }
            self._send(200, "application/json", json.dumps(payload).encode(), {})

        def _image(self, body: dict[str, Any]) -> None:
            size = body.get("size") or "auto"
            width, height = (1024, 1024) if size == "auto" else map(int, size.split("x"))
            buffer = io.BytesIO()
            Image.new("RGB", (width, height), (40, 90, 200)).save(buffer, format="PNG")
            payload = {
                "created": int(time.time()),
                "data": [{"b64_json": base64.b64encode(buffer.getvalue()).decode()}],
                "background": "opaque",
                "output_format": "png",
                "quality": "medium",
                "size": f"{width}x{height}",
                "usage": {
                    "input_tokens": 50,
                    "input_tokens_details": {"image_tokens": 40, "text_tokens": 10},
                    "output_tokens": 1056,
                    "total_tokens": 1106,
                },
            }
            self._send(200, "application/json", json.dumps(payload).encode(), {})

        def _stream_head(self, body: dict[str, Any]) -> dict[str, Any]:
            """The stream's headers and its first chunk (the role); returns the chunks' envelope."""
            envelope = _envelope("chat.completion.chunk", body.get("model", ""))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
            self.end_headers()
            # HTTP/1.0 without Content-Length: closing the connection ends the body, as SSE allows.
            role = {"role": "assistant", "content": "", "refusal": None}
            self._event({**envelope, "choices": [{"index": 0, "delta": role, "logprobs": None, "finish_reason": None}]})
            return envelope

        def _stream(self, reply: Reply, body: dict[str, Any]) -> None:
            text = _answer(reply, body)
            envelope = self._stream_head(body)
            deltas = [{"content": piece} for piece in re.findall(r"\S+\s*|\s+", text)]
            for delta in deltas:
                self._event({**envelope, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]})
            self._event({**envelope, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": reply.finish_reason}]})
            if (body.get("stream_options") or {}).get("include_usage"):
                self._event({**envelope, "choices": [], "usage": _usage(body, text)})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def _event(self, data: dict[str, Any]) -> None:
            self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

        def _send(self, status: int, content_type: str, payload: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake = FakeOpenAI(base_url=f"http://127.0.0.1:{server.server_address[1]}/v1", script=list(script or []))
    # A short poll keeps shutdown, and so each test, from waiting out the default half second.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def _multipart(content_type: str, raw: bytes) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """A multipart/form-data body as (text fields, file parts), parsed by the stdlib's MIME parser."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    fields: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        if part.get_filename() is None:
            fields[name] = data.decode()
        else:
            files[name] = UploadedFile(part.get_filename(), part.get_content_type(), data)
    return fields, files


def _answer(reply: Reply, body: dict[str, Any]) -> str:
    if reply.text is not None:
        return reply.text
    users = [_text(message["content"]) for message in body.get("messages", []) if message.get("role") == "user"]
    return users[-1] if users else ""


def _text(content: str | list[dict[str, Any]]) -> str:
    """A message's text: the content, or its text parts joined (image parts have none)."""
    if isinstance(content, str):
        return content
    return " ".join(part["text"] for part in content if part.get("type") == "text")


def _envelope(kind: str, model: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": kind,
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "service_tier": "default",
    }


def _usage(body: dict[str, Any], text: str) -> dict[str, int]:
    # Words stand in for tokens: close enough for a fake, and stable for assertions.
    prompt = sum(len(_text(message.get("content", "")).split()) for message in body.get("messages", []))
    completion = len(text.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
