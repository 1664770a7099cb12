"""A loopback fake of Replicate's HTTP API, driven by a script of behaviours.

It speaks what the official SDK sends: model predictions (`POST /v1/models/{owner}/{name}/predictions`),
`GET /v1/predictions/{id}`, `POST /v1/predictions/{id}/cancel`, and the files API for inputs. Each
create takes the next behaviour of the script; the last one repeats once the script is used up,
and an empty script succeeds. A running prediction moves one step per poll (starting →
processing → succeeded), its `logs` growing by a line and a tqdm bar each time. Outputs are files
it serves itself, as Replicate's delivery host does: a PNG (or JPEG/WebP) of the asked size for
images, a small valid MP4 for kwaivgi/* models. Inputs are checked against the real models'
input names, so a wrong name fails as it would there. `hang_on` names the requests ("create",
"poll", "download") it accepts and then never answers, as a stuck Replicate does. Every request
is recorded.
"""

import email.parser
import email.policy
import hashlib
import io
import json
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import numpy as np
from PIL import Image

# Input names of the models the catalogue lists, from their published schemas: (required, allowed).
MODEL_INPUTS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "black-forest-labs/flux-1.1-pro": (
        frozenset({"prompt"}),
        frozenset({"prompt", "image_prompt", "aspect_ratio", "width", "height", "safety_tolerance", "seed", "prompt_upsampling",
                   "output_format", "output_quality"}),
    ),
    "kwaivgi/kling-v2.1": (
        frozenset({"prompt", "start_image"}),
        frozenset({"prompt", "negative_prompt", "start_image", "end_image", "mode", "duration"}),
    ),
    "kwaivgi/kling-v2.1-master": (
        frozenset({"prompt"}),
        frozenset({"prompt", "negative_prompt", "start_image", "aspect_ratio", "duration"}),
    ),
}  # fmt: skip
IMAGE_FORMATS = {"png": ("PNG", "image/png"), "jpg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}


@dataclass(frozen=True)
class Succeed:
    """Runs for `polls` polls, then succeeds; `as_list` answers a list of one URL, as some models do."""

    polls: int = 3
    as_list: bool = False


@dataclass(frozen=True)
class FailCreate:
    """The create answers this HTTP error with Replicate's problem-details body."""

    status: int
    detail: str = "Internal server error"
    retry_after: str | None = None


@dataclass(frozen=True)
class FailPrediction:
    """Created fine, then fails after `polls` polls with this error."""

    error: str
    polls: int = 2


@dataclass(frozen=True)
class Hang:
    """Created fine, then processes (logs growing) until cancelled."""


Behaviour = Succeed | FailCreate | FailPrediction | Hang


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any]  # JSON bodies; for uploads {"filename", "content_type", "size", "sha256"}
    received_at: float  # time.monotonic()


@dataclass
class FakePrediction:
    id: str
    model: str
    input: dict[str, Any]
    behaviour: Succeed | FailPrediction | Hang
    status: str = "starting"
    polls: int = 0
    logs: str = ""
    output: Any = None
    error: str | None = None


@dataclass
class FakeReplicate:
    base_url: str  # without /v1, as the SDK's base_url
    token: str
    script: list[Behaviour]
    requests: list[RecordedRequest] = field(default_factory=list)
    predictions: dict[str, FakePrediction] = field(default_factory=dict)
    uploads: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # id -> (content type, bytes)
    deleted_uploads: list[str] = field(default_factory=list)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # served path -> (content type, bytes)
    video: bytes = b""
    hang_on: frozenset[str] = frozenset()  # of "create", "poll", "download": accepted, never answered
    _created: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def next_behaviour(self) -> Behaviour:
        with self._lock:
            self._created += 1
            if not self.script:
                return Succeed()
            return self.script[min(self._created, len(self.script)) - 1]

    def paths(self, method: str) -> list[str]:
        return [request.path for request in self.requests if request.method == method]

    def cancelled(self) -> list[str]:
        """Ids of the predictions cancelled through the API."""
        return [path.split("/")[3] for path in self.paths("POST") if path.endswith("/cancel")]

    def advance(self, prediction: FakePrediction) -> None:
        """One poll's worth of progress."""
        if prediction.status in ("succeeded", "failed", "canceled"):
            return
        prediction.polls += 1
        behaviour = prediction.behaviour
        prediction.status = "processing"
        prediction.logs += f"step {prediction.polls} of the fake model\n"
        if isinstance(behaviour, Hang):
            return
        percent = 100 * prediction.polls // behaviour.polls
        prediction.logs += f"{percent:3d}%|{'#' * (percent // 10):10s}| {prediction.polls}/{behaviour.polls} [00:01<00:01]\n"
        if prediction.polls < behaviour.polls:
            return
        if isinstance(behaviour, FailPrediction):
            prediction.status, prediction.error = "failed", behaviour.error
        else:
            urls = [self.make_output(prediction)]
            prediction.status, prediction.output = "succeeded", urls if behaviour.as_list else urls[0]

    def make_output(self, prediction: FakePrediction) -> str:
        if prediction.model.startswith("kwaivgi/"):
            content_type, data, name = "video/mp4", self.video, "output.mp4"
        else:
            format_name, content_type = IMAGE_FORMATS[prediction.input.get("output_format", "webp")]
            size = (int(prediction.input.get("width", 1024)), int(prediction.input.get("height", 1024)))
            buffer = io.BytesIO()
            Image.new("RGB", size, (30, 90, 160)).save(buffer, format=format_name)
            data, name = buffer.getvalue(), f"out-0.{prediction.input.get('output_format', 'webp')}"
        path = f"/delivery/{prediction.id}/{name}"
        self.files[path] = (content_type, data)
        return self.base_url + path

    def as_json(self, prediction: FakePrediction) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        api = f"{self.base_url}/v1/predictions/{prediction.id}"
        return {
            "id": prediction.id,
            "model": prediction.model,
            "version": "hidden",
            "input": prediction.input,
            "logs": prediction.logs,
            "output": prediction.output,
            "data_removed": False,
            "error": prediction.error,
            "status": prediction.status,
            "created_at": now,
            "started_at": now if prediction.polls else None,
            "completed_at": now if prediction.status in ("succeeded", "failed", "canceled") else None,
            "metrics": {"predict_time": 0.01 * prediction.polls} if prediction.status == "succeeded" else {},
            "urls": {"get": api, "cancel": f"{api}/cancel", "web": f"https://replicate.com/p/{prediction.id}"},
        }


@contextmanager
def fake_replicate(script: list[Behaviour] | None = None, token: str = "r8_test_token") -> Iterator[FakeReplicate]:
    """Serve the fake on 127.0.0.1 for the block; pass `.base_url` as the SDK's base_url."""
    fake: FakeReplicate
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._handle("GET", b"")

        def do_POST(self) -> None:  # noqa: N802
            self._handle("POST", self.rfile.read(int(self.headers.get("Content-Length", 0))))

        def do_DELETE(self) -> None:  # noqa: N802
            self._handle("DELETE", b"")

        def _handle(self, method: str, raw: bytes) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            upload = _multipart_file(headers, raw) if method == "POST" and self.path == "/v1/files" else None
            body = _upload_summary(*upload) if upload else json.loads(raw or b"{}")
            fake.record(RecordedRequest(method, self.path, headers, body, time.monotonic()))
            if _kind(method, self.path, fake) in fake.hang_on:
                stop.wait()  # woken when the server stops, so no test waits on a silent handler
                return
            if method == "GET" and self.path in fake.files:
                content_type, data = fake.files[self.path]
                self._send(200, content_type, data)
            elif headers.get("authorization") != f"Bearer {fake.token}":
                self._problem(401, "Unauthenticated", "You did not pass a valid authentication token")
            elif method == "POST" and (match := re.fullmatch(r"/v1/models/([^/]+/[^/]+)/predictions", self.path)):
                self._create(match[1], body)
            elif method == "GET" and (match := re.fullmatch(r"/v1/predictions/(\w+)", self.path)) and match[1] in fake.predictions:
                prediction = fake.predictions[match[1]]
                fake.advance(prediction)
                self._json(200, fake.as_json(prediction))
            elif method == "POST" and (match := re.fullmatch(r"/v1/predictions/(\w+)/cancel", self.path)) and match[1] in fake.predictions:
                prediction = fake.predictions[match[1]]
                if prediction.status not in ("succeeded", "failed"):
                    prediction.status = "canceled"
                self._json(200, fake.as_json(prediction))
            elif upload is not None:
                self._upload(*upload)
            elif method == "GET" and (match := re.fullmatch(r"/v1/files/(\w+)/download", self.path)) and match[1] in fake.uploads:
                self._send(200, *fake.uploads[match[1]])
            elif method == "DELETE" and (match := re.fullmatch(r"/v1/files/(\w+)", self.path)) and match[1] in fake.uploads:
                fake.deleted_uploads.append(match[1])
                self._send(204, "application/json", b"")
            else:
                self._problem(404, "Not found", "The requested resource could not be found.")

        def _create(self, model: str, body: dict[str, Any]) -> None:
            if model not in MODEL_INPUTS:
                self._problem(404, "Not found", f"Model {model} not found")
                return
            behaviour = fake.next_behaviour()
            if isinstance(behaviour, FailCreate):
                self._problem(behaviour.status, "Error", behaviour.detail, behaviour.retry_after)
                return
            inputs = body.get("input") or {}
            required, allowed = MODEL_INPUTS[model]
            missing, unknown = sorted(required - inputs.keys()), sorted(inputs.keys() - allowed)
            if missing or unknown:
                self._problem(422, "Input validation failed", f"missing: {missing}, not allowed: {unknown}")
                return
            prediction = FakePrediction(uuid.uuid4().hex[:26], model, inputs, behaviour)
            fake.predictions[prediction.id] = prediction
            self._json(201, fake.as_json(prediction))

        def _upload(self, filename: str, content_type: str, data: bytes) -> None:
            file_id = uuid.uuid4().hex[:12]
            fake.uploads[file_id] = (content_type, data)
            now = datetime.now(UTC).isoformat()
            self._json(201, {
                "id": file_id, "name": filename, "content_type": content_type, "size": len(data),
                "etag": hashlib.md5(data).hexdigest(), "checksums": {"sha256": hashlib.sha256(data).hexdigest()},
                "metadata": {}, "created_at": now, "expires_at": None,
                "urls": {"get": f"{fake.base_url}/v1/files/{file_id}/download"},
            })  # fmt: skip

        def _problem(self, status: int, title: str, detail: str, retry_after: str | None = None) -> None:
            payload = json.dumps({"title": title, "detail": detail, "status": status}).encode()
            self._send(status, "application/problem+json", payload, {"Retry-After": retry_after} if retry_after else {})

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            self._send(status, "application/json", json.dumps(payload).encode())

        def _send(self, status: int, content_type: str, payload: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake = FakeReplicate(base_url=f"http://127.0.0.1:{server.server_address[1]}", token=token, script=list(script or []), video=tiny_mp4())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def _kind(method: str, path: str, fake: FakeReplicate) -> str | None:
    """Which of the `hang_on` kinds a request is."""
    if method == "POST" and re.fullmatch(r"/v1/models/[^/]+/[^/]+/predictions", path):
        return "create"
    if method == "GET" and re.fullmatch(r"/v1/predictions/\w+", path):
        return "poll"
    if method == "GET" and path in fake.files:
        return "download"
    return None


def tiny_mp4(width: int = 64, height: int = 64, frames: int = 8) -> bytes:
    """A real H.264 MP4 of a few grey frames, made with imageio-ffmpeg's bundled ffmpeg."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tiny.mp4"
        writer = imageio_ffmpeg.write_frames(str(path), (width, height), fps=8, codec="libx264", ffmpeg_log_level="error")
        writer.send(None)
        for index in range(frames):
            writer.send(np.full((height, width, 3), index * 30, np.uint8).tobytes())
        writer.close()
        return path.read_bytes()


def _multipart_file(headers: dict[str, str], raw: bytes) -> tuple[str, str, bytes]:
    """(file name, content type, bytes) of the `content` part of a multipart upload."""
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        f"Content-Type: {headers['content-type']}\r\n\r\n".encode() + raw
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "content":
            return part.get_filename() or "file", part.get_content_type(), part.get_payload(decode=True)
    raise ValueError("no `content` part in the upload")


def _upload_summary(filename: str, content_type: str, data: bytes) -> dict[str, Any]:
    return {"filename": filename, "content_type": content_type, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
