"""A loopback fake of ComfyUI's server (server.py + execution.py), speaking its HTTP and
websocket protocol: /prompt with its validation errors, /queue, /interrupt, /history, /view,
/upload/image, /object_info, /system_stats and /ws?clientId=… with JSON events and binary
preview frames.

Prompts run one at a time on the server's event loop, as ComfyUI's prompt worker does, so a
second prompt waits in `queue_pending`. "Running" a node sends `executing`; a KSampler sends
one `progress` and one preview frame per step; SaveImage/PreviewImage write a PNG of the
graph's size (from EmptyLatentImage, ImageScale or the uploaded image) that /view serves, and
VHS_VideoCombine (a VideoHelperSuite custom node) an MP4 listed under `gifs`, as it does.
Validation is ComfyUI's: a graph with no valid output is refused with 400; one where only some
outputs are invalid is answered 200 with those nodes in `node_errors`, and only the valid outputs
run. `restart()` stops the server and starts it again on the same port, dropping every
connection and forgetting the queue and the history (uploads and output files stay, as on
disk). Behaviours are attributes set per test: `fail_node`, `fail_message`, `step_delay_s`,
`drop_socket_at`, `restart_at` (with `restarts`), `validation_exception_at`, `checkpoints`.
Every request is recorded in `requests`.
"""

import asyncio
import io
import json
import mimetypes
import socket
import struct
import threading
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

PREVIEW_IMAGE = 1  # BinaryEventTypes.PREVIEW_IMAGE
JPEG = 1  # image format word of a PREVIEW_IMAGE frame (2 = PNG)
MP4_HEADER = b"\x00\x00\x00\x18ftypmp42"

# Node classes the fake knows (a subset of ComfyUI's nodes.py), and whether each is an output node.
NODE_CLASSES = {
    "CheckpointLoaderSimple": False, "CLIPTextEncode": False, "KSampler": False, "KSamplerAdvanced": False,
    "EmptyLatentImage": False, "VAEDecode": False, "VAEEncode": False, "LoadImage": False, "LoadImageMask": False,
    "LoraLoader": False, "ImageScale": False, "ImageInvert": False, "SaveImage": True, "PreviewImage": True,
    "SaveLatent": True, "VHS_VideoCombine": True,
}  # fmt: skip
SAMPLERS = {"KSampler", "KSamplerAdvanced"}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any  # JSON body, or the form fields of an upload (the file as {"filename", "size"})


@dataclass
class FakeComfyUI:
    base_url: str = ""
    checkpoints: list[str] = field(default_factory=lambda: ["v1-5-pruned-emaonly.safetensors"])
    fail_node: str | None = None  # this node raises during execution → execution_error
    fail_message: str = "CUDA out of memory. Tried to allocate 2.00 GiB"
    step_delay_s: float = 0.0  # per sampler step: slow runs leave room for a cancel
    drop_socket_at: str | None = None  # close the client's websocket when this node starts (a network blip)
    restart_at: str | None = None  # restart the server when this node starts, `restarts` times
    restarts: int = 1
    validation_exception_at: str | None = None  # validating this node raises, as a broken model file does
    validation_exception: str = "[Errno 2] No such file or directory: '/opt/ComfyUI/models/checkpoints/broken.safetensors'"
    requests: list[RecordedRequest] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)  # "subfolder/name" → bytes
    history: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[tuple[str, str, str], bytes] = field(default_factory=dict)  # (type, subfolder, filename) → bytes
    sockets: dict[str, WebSocket] = field(default_factory=dict)
    pending: list[list[Any]] = field(default_factory=list)  # [number, prompt_id, prompt, extra_data, outputs]
    running: list[Any] | None = None
    _number: int = 0
    _counter: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: asyncio.Event | None = None
    _interrupt: asyncio.Event | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    # HTTP routes

    async def post_prompt(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.record(RecordedRequest("POST", "/prompt", dict(request.query_params), body))
        prompt = body.get("prompt")
        if not isinstance(prompt, dict):
            return _invalid({"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided", "extra_info": {}})
        for node_id, node in prompt.items():
            if node.get("class_type") not in NODE_CLASSES:
                error = {
                    "type": "invalid_prompt",
                    "message": f"Cannot execute because node {node.get('class_type')} does not exist.",
                    "details": f"Node ID '#{node_id}'",
                    "extra_info": {},
                }
                return _invalid(error)
        outputs = [node_id for node_id, node in prompt.items() if NODE_CLASSES[node["class_type"]]]
        if not outputs:
            return _invalid({"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "", "extra_info": {}})
        node_errors = self._validate(prompt, outputs)
        failed = {output for info in node_errors.values() for output in info["dependent_outputs"]}
        # As ComfyUI's validate_prompt: the valid outputs run; only when none is valid is the prompt refused.
        outputs = [output for output in outputs if output not in failed]
        if not outputs:
            details = "\n".join(f"{e['message']}: {e['details']}" for info in node_errors.values() for e in info["errors"])
            error = {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": details, "extra_info": {}}
            return _invalid(error, node_errors)
        prompt_id = str(uuid.uuid4())
        extra_data = dict(body.get("extra_data") or {})
        if "client_id" in body:
            extra_data["client_id"] = body["client_id"]
        number = self._number
        self._number += 1
        self.pending.append([number, prompt_id, prompt, extra_data, outputs])
        assert self._wake is not None
        self._wake.set()
        return JSONResponse({"prompt_id": prompt_id, "number": number, "node_errors": node_errors})

    async def get_prompt(self, request: Request) -> JSONResponse:
        return JSONResponse({"exec_info": {"queue_remaining": self._remaining()}})

    async def get_queue(self, request: Request) -> JSONResponse:
        self.record(RecordedRequest("GET", "/queue", dict(request.query_params), None))
        return JSONResponse({"queue_running": [self.running] if self.running else [], "queue_pending": list(self.pending)})

    async def post_queue(self, request: Request) -> Response:
        body = await request.json()
        self.record(RecordedRequest("POST", "/queue", dict(request.query_params), body))
        if body.get("clear"):
            self.pending.clear()
        for prompt_id in body.get("delete", []):
            self.pending = [item for item in self.pending if item[1] != prompt_id]
        return Response(status_code=200)

    async def post_interrupt(self, request: Request) -> Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = {}
        self.record(RecordedRequest("POST", "/interrupt", dict(request.query_params), body))
        prompt_id = body.get("prompt_id")
        # As ComfyUI: with a prompt_id only that prompt stops; without, whatever runs.
        if self.running is not None and prompt_id in (None, self.running[1]):
            assert self._interrupt is not None
            self._interrupt.set()
        return Response(status_code=200)

    async def get_history(self, request: Request) -> JSONResponse:
        prompt_id = request.path_params["prompt_id"]
        self.record(RecordedRequest("GET", "/history", {"prompt_id": prompt_id}, None))
        entry = self.history.get(prompt_id)
        return JSONResponse({prompt_id: entry} if entry is not None else {})

    async def view(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.record(RecordedRequest("GET", "/view", query, None))
        key = (query.get("type", "output"), query.get("subfolder", ""), query.get("filename", ""))
        data = self.files.get(key)
        if data is None:
            return Response(status_code=404)
        media_type = mimetypes.guess_type(key[2])[0] or "application/octet-stream"
        return Response(data, media_type=media_type, headers={"Content-Disposition": f'filename="{key[2]}"'})

    async def upload_image(self, request: Request) -> Response:
        async with request.form() as form:
            image = form.get("image")
            fields = {name: value for name, value in form.items() if isinstance(value, str)}
            if image is None or isinstance(image, str) or not image.filename:
                self.record(RecordedRequest("POST", "/upload/image", {}, fields))
                return Response(status_code=400)
            data = await image.read()
        self.record(RecordedRequest("POST", "/upload/image", {}, {**fields, "image": {"filename": image.filename, "size": len(data)}}))
        subfolder = fields.get("subfolder", "")
        name = f"{subfolder}/{image.filename}" if subfolder else image.filename
        self.uploads[name] = data
        return JSONResponse({"name": image.filename, "subfolder": subfolder, "type": fields.get("type", "input")})

    async def object_info(self, request: Request) -> JSONResponse:
        info = {
            name: {"name": name, "display_name": name, "category": "fake", "output_node": output, "input": {"required": {}}, "output": []}
            for name, output in NODE_CLASSES.items()
        }
        return JSONResponse(info)

    async def system_stats(self, request: Request) -> JSONResponse:
        system = {"os": "posix", "comfyui_version": "fake", "python_version": "3", "embedded_python": False, "argv": ["main.py"]}
        devices = [{"name": "cpu", "type": "cpu", "index": None, "vram_total": 0, "vram_free": 0}]
        return JSONResponse({"system": system, "devices": devices})

    async def websocket(self, ws: WebSocket) -> None:
        await ws.accept()
        sid = ws.query_params.get("clientId") or uuid.uuid4().hex
        self.record(RecordedRequest("GET", "/ws", dict(ws.query_params), None))
        self.sockets[sid] = ws  # a reconnect with the same clientId replaces the old socket
        try:
            await self._send("status", {"status": {"exec_info": {"queue_remaining": self._remaining()}}, "sid": sid}, sid)
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            if self.sockets.get(sid) is ws:
                del self.sockets[sid]

    # The prompt worker

    async def worker(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.pending:
                self.running = self.pending.pop(0)
                try:
                    await self._execute(*self.running)
                finally:
                    self.running = None
                await self._broadcast_status()

    async def _execute(self, number: int, prompt_id: str, prompt: dict[str, Any], extra: dict[str, Any], outputs: list[str]) -> None:
        assert self._interrupt is not None
        self._interrupt.clear()
        sid = extra.get("client_id")
        messages: list[list[Any]] = []

        async def send(kind: str, data: dict[str, Any], *, keep: bool = False) -> None:
            if keep:  # what ComfyUI keeps in the history's status messages
                messages.append([kind, {**data, "timestamp": int(time.time() * 1000)}])
            await self._send(kind, data, sid)

        await send("execution_start", {"prompt_id": prompt_id}, keep=True)
        await send("execution_cached", {"nodes": [], "prompt_id": prompt_id}, keep=True)
        sizes: dict[str, tuple[int, int]] = {}
        results: dict[str, dict[str, Any]] = {}
        executed: list[str] = []
        for node_id in _execution_order(prompt, outputs):
            node = prompt[node_id]
            await send("executing", {"node": node_id, "display_node": node_id, "prompt_id": prompt_id})
            if node_id == self.drop_socket_at and sid in self.sockets:
                await self.sockets.pop(sid).close(code=1011)
            if node_id == self.restart_at and self.restarts > 0:
                self.restarts -= 1
                # From another thread: the restart stops this server, and with it this coroutine.
                threading.Thread(target=self.restart, daemon=True).start()
                await asyncio.Event().wait()
            base = {"prompt_id": prompt_id, "node_id": node_id, "node_type": node["class_type"], "executed": list(executed)}
            if self._interrupt.is_set() or (node["class_type"] in SAMPLERS and not await self._sample(node_id, node, prompt_id, sid)):
                await send("execution_interrupted", base, keep=True)
                return await self._finish(prompt_id, number, prompt, extra, outputs, results, messages, "error")
            if node_id == self.fail_node:
                error = {
                    **base,
                    "exception_message": self.fail_message,
                    "exception_type": "torch.OutOfMemoryError",
                    "traceback": ['  File "execution.py", line 1, in execute\n'],
                    "current_inputs": {},
                    "current_outputs": {},
                }
                await send("execution_error", error, keep=True)
                return await self._finish(prompt_id, number, prompt, extra, outputs, results, messages, "error")
            if (size := self._size(node, sizes)) is not None:
                sizes[node_id] = size
            if node["class_type"] in ("SaveImage", "PreviewImage"):
                results[node_id] = {"images": [self._save(node, size or (64, 64))]}
                await send("executed", {"node": node_id, "display_node": node_id, "output": results[node_id], "prompt_id": prompt_id})
            if node["class_type"] == "VHS_VideoCombine":
                results[node_id] = {"gifs": [self._save_video(node)]}
            executed.append(node_id)
        await send("execution_success", {"prompt_id": prompt_id}, keep=True)
        await self._finish(prompt_id, number, prompt, extra, outputs, results, messages, "success")

    async def _sample(self, node_id: str, node: dict[str, Any], prompt_id: str, sid: str | None) -> bool:
        """One progress message and one preview per step; False when interrupted."""
        assert self._interrupt is not None
        steps = int(node["inputs"].get("steps", 1))
        for step in range(1, steps + 1):
            try:
                await asyncio.wait_for(self._interrupt.wait(), timeout=self.step_delay_s)
                return False
            except TimeoutError:
                pass
            await self._send("progress", {"value": step, "max": steps, "prompt_id": prompt_id, "node": node_id}, sid)
            await self._send_bytes(PREVIEW_IMAGE, struct.pack(">I", JPEG) + _image_bytes((8, 8), "JPEG"), sid)
        return True

    async def _finish(
        self,
        prompt_id: str,
        number: int,
        prompt: dict[str, Any],
        extra: dict[str, Any],
        outputs: list[str],
        results: dict[str, Any],
        messages: list[list[Any]],
        status: str,
    ) -> None:
        # As ComfyUI's prompt worker: history first, then `executing` with node None.
        self.history[prompt_id] = {
            "prompt": [number, prompt_id, prompt, extra, outputs],
            "outputs": results,
            "status": {"status_str": status, "completed": status == "success", "messages": messages},
            "meta": {node_id: {"node_id": node_id, "display_node": node_id} for node_id in results},
        }
        await self._send("executing", {"node": None, "prompt_id": prompt_id}, extra.get("client_id"))

    def _size(self, node: dict[str, Any], sizes: dict[str, tuple[int, int]]) -> tuple[int, int] | None:
        """The pixel size an image or latent node carries; None for models and conditioning."""
        inputs = node["inputs"]
        if node["class_type"] in ("EmptyLatentImage", "ImageScale"):
            return int(inputs["width"]), int(inputs["height"])
        if node["class_type"] in ("LoadImage", "LoadImageMask"):
            with Image.open(io.BytesIO(self.uploads[inputs["image"]])) as image:
                return image.size
        linked = [sizes[value[0]] for value in inputs.values() if isinstance(value, list) and value[0] in sizes]
        return linked[0] if linked else None

    def _save(self, node: dict[str, Any], size: tuple[int, int]) -> dict[str, str]:
        kind = "output" if node["class_type"] == "SaveImage" else "temp"
        prefix = node["inputs"].get("filename_prefix", "ComfyUI")
        subfolder, _, name = prefix.rpartition("/")
        self._counter += 1
        filename = f"{name}_{self._counter:05}_.png"
        self.files[(kind, subfolder, filename)] = _image_bytes(size, "PNG")
        return {"filename": filename, "subfolder": subfolder, "type": kind}

    def _save_video(self, node: dict[str, Any]) -> dict[str, str]:
        self._counter += 1
        filename = f"{node['inputs'].get('filename_prefix', 'AnimateDiff')}_{self._counter:05}.mp4"
        self.files[("output", "", filename)] = MP4_HEADER + bytes(64)
        return {"filename": filename, "subfolder": "", "type": "output", "format": "video/h264-mp4"}

    def _validate(self, prompt: dict[str, Any], outputs: list[str]) -> dict[str, Any]:
        """A few of ComfyUI's input checks, in its node_errors shape, each naming the outputs it fails."""
        node_errors: dict[str, Any] = {}
        for node_id, node in prompt.items():
            inputs, errors = node.get("inputs", {}), []
            if node_id == self.validation_exception_at:
                # As ComfyUI's `exception_during_validation`: the exception's text, its traceback in extra_info.
                frames = traceback.format_list([("/opt/ComfyUI/execution.py", 1, "validate_inputs", "obj.VALIDATE_INPUTS()")])
                extra = {"exception_type": "FileNotFoundError", "traceback": frames}
                errors.append({"type": "exception_during_validation", "message": "Exception when validating node", "details": self.validation_exception, "extra_info": extra})
            if node["class_type"] == "CheckpointLoaderSimple" and inputs.get("ckpt_name") not in self.checkpoints:
                details = f"ckpt_name: '{inputs.get('ckpt_name')}' not in {self.checkpoints}"
                errors.append({"type": "value_not_in_list", "message": "Value not in list", "details": details, "extra_info": {"input_name": "ckpt_name"}})
            if node["class_type"] in ("LoadImage", "LoadImageMask") and inputs.get("image") not in self.uploads:
                details = f"image - Invalid image file: {inputs.get('image')}"
                errors.append({"type": "custom_validation_failed", "message": "Custom validation failed for node", "details": details, "extra_info": {"input_name": "image"}})
            if node["class_type"] in SAMPLERS and int(inputs.get("steps", 1)) < 1:
                errors.append({"type": "value_smaller_than_min", "message": "Value 0 smaller than min of 1", "details": "steps", "extra_info": {"input_name": "steps"}})
            if errors:
                dependent = [output for output in outputs if node_id in _execution_order(prompt, [output])]
                node_errors[node_id] = {"errors": errors, "dependent_outputs": dependent, "class_type": node["class_type"]}
        return node_errors

    # Websocket plumbing

    async def _send(self, kind: str, data: dict[str, Any], sid: str | None) -> None:
        ws = self.sockets.get(sid) if sid else None
        if ws is not None:
            try:
                await ws.send_text(json.dumps({"type": kind, "data": data}))
            except Exception:  # noqa: BLE001 - as ComfyUI: a client that left misses its events
                pass

    async def _send_bytes(self, event: int, payload: bytes, sid: str | None) -> None:
        ws = self.sockets.get(sid) if sid else None
        if ws is not None:
            try:
                await ws.send_bytes(struct.pack(">I", event) + payload)
            except Exception:  # noqa: BLE001
                pass

    async def _broadcast_status(self) -> None:
        for sid in list(self.sockets):
            await self._send("status", {"status": {"exec_info": {"queue_remaining": self._remaining()}}}, sid)

    def _remaining(self) -> int:
        return len(self.pending) + (1 if self.running else 0)

    def app(self) -> Starlette:
        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            self._wake, self._interrupt = asyncio.Event(), asyncio.Event()
            task = asyncio.create_task(self.worker())
            yield
            task.cancel()

        routes = [
            Route("/prompt", self.post_prompt, methods=["POST"]),
            Route("/prompt", self.get_prompt, methods=["GET"]),
            Route("/queue", self.get_queue, methods=["GET"]),
            Route("/queue", self.post_queue, methods=["POST"]),
            Route("/interrupt", self.post_interrupt, methods=["POST"]),
            Route("/history/{prompt_id}", self.get_history, methods=["GET"]),
            Route("/view", self.view, methods=["GET"]),
            Route("/upload/image", self.upload_image, methods=["POST"]),
            Route("/object_info", self.object_info, methods=["GET"]),
            Route("/system_stats", self.system_stats, methods=["GET"]),
            WebSocketRoute("/ws", self.websocket),
        ]
        return Starlette(routes=routes, lifespan=lifespan)


    # Serving

    def start(self, port: int = 0) -> None:
        """Serve on 127.0.0.1:`port` (0: a free one) in a thread; sets `base_url`."""
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake ComfyUI did not start")
            time.sleep(0.01)
        self.base_url = f"http://127.0.0.1:{self._server.servers[0].sockets[0].getsockname()[1]}"

    def stop(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=5)

    def restart(self) -> None:
        """As a restarted ComfyUI: connections drop, the queue and the history are forgotten."""
        port = int(self.base_url.rsplit(":", 1)[1])
        self.stop()
        self.pending, self.running, self.history, self.sockets = [], None, {}, {}
        self.start(port)


@contextmanager
def fake_comfyui() -> Iterator[FakeComfyUI]:
    """Serve the fake on 127.0.0.1 (a free port) for the block; yields it with `.base_url` set."""
    fake = FakeComfyUI()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def unused_url() -> str:
    """A loopback URL nothing listens on: ComfyUI "down"."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _invalid(error: dict[str, Any], node_errors: dict[str, Any] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "node_errors": node_errors or {}}, status_code=400)


def _execution_order(prompt: dict[str, Any], outputs: list[str]) -> list[str]:
    """Dependencies first, output by output, as ComfyUI's recursive execution does."""
    order: list[str] = []

    def visit(node_id: str) -> None:
        if node_id in order:
            return
        for value in prompt[node_id].get("inputs", {}).values():
            if isinstance(value, list) and len(value) == 2:
                visit(str(value[0]))
        order.append(node_id)

    for output in sorted(outputs):
        visit(output)
    return order


def _image_bytes(size: tuple[int, int], fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buffer, format=fmt)
    return buffer.getvalue()
