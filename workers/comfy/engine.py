"""ComfyUI engine: runs a workflow task on the ComfyUI sidecar.

The graph comes from `core.workflows.prepare` (a template or an allow-listed user graph, with
patches applied), the same check the api ran at submit. Input files are uploaded and wired into
their LoadImage nodes. The prompt runs under its own client id, so the websocket carries only
this task's events: progress, previews and cancellation flow through the TaskContext, output
files come back from /history and /view into the blob store. A prompt that ComfyUI forgets
(it restarted) is queued again once, then the task fails `comfy_lost`.
"""

import io
import time
import uuid
from typing import Any

from PIL import Image

from core import workflows
from core.catalogue import ModelEntry
from core.errors import PlatformError, TaskCancelled
from core.settings import Settings
from workers.comfy.client import ComfyClient, ComfyEvents, Done, Executing, Failed, Idle, Interrupted, Lost, Preview, Progress
from workers.context import TaskContext

UPLOAD_SUBFOLDER = "ddiffusion"
_IMAGE_EXTENSIONS = {b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg", b"RIFF": ".webp", b"GIF8": ".gif"}


class ComfyEngine:
    def __init__(self, settings: Settings) -> None:
        # Models live on the sidecar; templates and the allow-list are shared with the api.
        self.settings = settings
        self.templates_dir = settings.resolved_comfy_workflows_dir
        self.allowed_nodes = settings.comfy_allowed_nodes
        self.client = ComfyClient(
            settings.comfy_url,
            timeout_s=settings.comfy_timeout_s,
            connect_timeout_s=settings.comfy_connect_timeout_s,
            retries=settings.comfy_retries,
            backoff_s=settings.comfy_backoff_s,
            idle_s=settings.comfy_poll_s,
            history_poll_s=settings.comfy_history_poll_s,
        )

    def run(self, entry: ModelEntry, params: dict[str, Any], ctx: TaskContext) -> list[dict[str, Any]]:
        graph = workflows.prepare(params, self.templates_dir, self.allowed_nodes)
        for key, ref in (params.get("inputs") or {}).items():
            node_id = workflows.node_id(graph, key, "inputs")
            data = ctx.read_input(ref)
            uploaded = self.client.upload_image(data, _upload_name(ref, data), subfolder=UPLOAD_SUBFOLDER)
            name = f"{uploaded['subfolder']}/{uploaded['name']}" if uploaded.get("subfolder") else uploaded["name"]
            graph[node_id]["inputs"]["image"] = name
            ctx.log(f"uploaded {ref} to ComfyUI as {name} for node {workflows.describe(graph, node_id)}")
        ctx.check_cancelled()
        prompt_id = self._execute(graph, ctx)
        return self._outputs(prompt_id, ctx)

    def _execute(self, graph: dict[str, Any], ctx: TaskContext) -> str:
        """Queue the graph and follow it to its end; returns the prompt id once it succeeded."""
        client_id = uuid.uuid4().hex
        with self.client.connect(client_id) as events:
            first = self.client.queue_prompt(graph, client_id)
            ctx.log(f"queued on ComfyUI at {self.client.base_url} as prompt {first}")
            if self._follow(events, first, graph, ctx):
                return first
            again = self.client.queue_prompt(graph, client_id)
            ctx.log(f"ComfyUI lost prompt {first} (it has it in neither its queue nor its history: a restart); resubmitted once as prompt {again}")
            if self._follow(events, again, graph, ctx):
                return again
        raise PlatformError(
            f"ComfyUI at {self.client.base_url} lost this workflow twice (prompts {first} and {again}): it restarted or dropped its "
            "queue while running it. Check that the sidecar stays up, then submit again.",
            code="comfy_lost",
        )

    def _follow(self, events: ComfyEvents, prompt_id: str, graph: dict[str, Any], ctx: TaskContext) -> bool:
        """Follow one prompt: True once it succeeded, False when ComfyUI lost it; raises when it failed."""
        last_preview, step = float("-inf"), 0
        finished = succeeded = False
        try:
            for event in events.follow(prompt_id):
                match event:
                    case Idle():
                        ctx.check_cancelled()
                    case Executing(node=node):
                        ctx.log(f"executing node {workflows.describe(graph, node)}")
                        ctx.check_cancelled()
                    case Progress(value=value, max=total):
                        step = value
                        ctx.progress(value, total)
                    case Preview(image=image, content_type=content_type):
                        if time.monotonic() - last_preview >= self.settings.comfy_preview_interval_s:
                            last_preview = time.monotonic()
                            if (png := _as_png(image, content_type)) is not None:
                                ctx.preview(png, step)
                    case Failed(node=node, node_type=node_type, message=message):
                        finished = True
                        where = f"node {node} ({node_type})" if node is not None else "an unknown node"
                        raise PlatformError(
                            f"ComfyUI failed at {where}: {message or 'it gave no reason'}. The sidecar's console log has the details.",
                            code="comfy_execution_error",
                        )
                    case Interrupted(node=node, node_type=node_type):
                        finished = True
                        raise PlatformError(
                            f"ComfyUI interrupted the prompt at node {node} ({node_type}); it was stopped on the ComfyUI side.",
                            code="comfy_interrupted",
                        )
                    case Done():
                        finished = succeeded = True
                    case Lost():
                        finished = True  # nothing left at ComfyUI to stop
        except BaseException as exc:
            # A task that stops early (cancel, time limit, worker error) must not leave the GPU busy.
            if not finished:
                self._cancel(prompt_id, ctx)
            if isinstance(exc, TaskCancelled):
                ctx.log(f"cancelled prompt {prompt_id} on ComfyUI")
            raise
        return succeeded

    def _cancel(self, prompt_id: str, ctx: TaskContext) -> None:
        try:
            outcome = self.client.cancel(prompt_id)
        except PlatformError as exc:
            ctx.log(f"could not stop prompt {prompt_id} on ComfyUI: {exc.message}")
            return
        ctx.log(f"prompt {prompt_id} on ComfyUI: {outcome}")

    def _outputs(self, prompt_id: str, ctx: TaskContext) -> list[dict[str, Any]]:
        entry = self.client.history(prompt_id)
        # Some ComfyUI versions announce success just before they write the history.
        deadline = time.monotonic() + self.settings.comfy_history_wait_s
        while entry is None and time.monotonic() < deadline:
            time.sleep(0.1)
            entry = self.client.history(prompt_id)
        if entry is None:
            raise PlatformError(f"ComfyUI finished prompt {prompt_id} but has no history for it.", code="comfy_error")
        outputs = []
        for node_id, node_outputs in (entry.get("outputs") or {}).items():
            # Files come under `images` (SaveImage, SaveAnimatedWEBP), `gifs` (VideoHelperSuite's
            # VideoCombine), `audio`…: every listed {filename, subfolder, type} is fetched.
            for kind, items in node_outputs.items():
                for item in items if isinstance(items, list) else []:
                    if not isinstance(item, dict) or "filename" not in item:
                        continue
                    data, content_type = self.client.view(item["filename"], item.get("subfolder", ""), item.get("type", "output"))
                    outputs.append(ctx.save_output(data, content_type, **_size(data)))
                    ctx.log(f"output {item['filename']} ({kind}) from node {node_id}")
        if not outputs:
            raise PlatformError("The workflow produced no output files; add a SaveImage (or another saving) node.", code="comfy_no_outputs")
        return outputs


def _upload_name(ref: str, data: bytes) -> str:
    # Named by content: uploading the same input twice overwrites it with the same bytes.
    extension = next((ext for magic, ext in _IMAGE_EXTENSIONS.items() if data.startswith(magic)), ".png")
    return ref.split(":")[-1][:32] + extension


def _as_png(image: bytes, content_type: str) -> bytes | None:
    """The record's previews are PNGs; ComfyUI sends JPEG (or PNG) frames. None for an unreadable frame."""
    if content_type == "image/png":
        return image
    try:
        with Image.open(io.BytesIO(image)) as frame:
            buffer = io.BytesIO()
            frame.save(buffer, format="PNG")
    except (OSError, ValueError):
        return None  # a preview is a nicety: a bad frame must not fail the run
    return buffer.getvalue()


def _size(data: bytes) -> dict[str, int]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (OSError, ValueError):
        return {}  # not an image Pillow reads (a video saved by a video node): no size
    return {"width": width, "height": height}
