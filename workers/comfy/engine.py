"""ComfyUI engine: runs a workflow task on the ComfyUI sidecar.

The graph is a trusted template from `comfy_sidecar/workflows/` or a user's API-format graph,
which may only use allow-listed node classes (ComfyUI nodes can read and write files and run
code, so the list is the security boundary). Patches set node inputs by node id or title;
input files are uploaded and wired into their LoadImage nodes. The prompt runs under its own
client id, so the websocket carries only this task's events: progress and cancellation flow
through the TaskContext, outputs come back from /history and /view into the blob store.
"""

import copy
import io
import json
import re
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

from PIL import Image
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.catalogue import ModelEntry
from core.errors import PlatformError, TaskCancelled
from core.settings import Settings
from workers.comfy.client import ComfyClient, Done, Executing, Failed, Idle, Interrupted, Preview, Progress
from workers.context import TaskContext

WORKFLOWS_DIR = Path(__file__).resolve().parents[2] / "comfy_sidecar" / "workflows"

# Core nodes from ComfyUI's nodes.py that only compute, load models from ComfyUI's own model
# folders, or read/write images through its input/output folders. Left out on purpose:
# LoadLatent/SaveLatent, CheckpointLoader (config paths), DiffusersLoader (arbitrary paths).
DEFAULT_ALLOWED_NODES = frozenset(
    {
        "CheckpointLoaderSimple", "VAELoader", "LoraLoader", "LoraLoaderModelOnly", "CLIPLoader", "DualCLIPLoader",
        "UNETLoader", "ControlNetLoader", "CLIPSetLastLayer", "CLIPTextEncode", "ConditioningCombine",
        "ConditioningAverage", "ConditioningConcat", "ConditioningSetArea", "ConditioningSetAreaPercentage",
        "ConditioningSetMask", "ConditioningZeroOut", "ConditioningSetTimestepRange", "ControlNetApply",
        "ControlNetApplyAdvanced", "InpaintModelConditioning", "KSampler", "KSamplerAdvanced", "EmptyLatentImage",
        "LatentUpscale", "LatentUpscaleBy", "LatentFromBatch", "RepeatLatentBatch", "LatentComposite", "LatentBlend",
        "LatentRotate", "LatentFlip", "LatentCrop", "SetLatentNoiseMask", "VAEDecode", "VAEEncode", "VAEDecodeTiled",
        "VAEEncodeTiled", "VAEEncodeForInpaint", "LoadImage", "LoadImageMask", "SaveImage", "PreviewImage",
        "ImageScale", "ImageScaleBy", "ImageInvert", "ImageBatch", "ImagePadForOutpaint", "EmptyImage",
    }
)  # fmt: skip
LOAD_IMAGE_NODES = frozenset({"LoadImage", "LoadImageMask"})
UPLOAD_SUBFOLDER = "ddiffusion"
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_IMAGE_EXTENSIONS = {b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg", b"RIFF": ".webp", b"GIF8": ".gif"}


class ComfySettings(BaseSettings):
    """ComfyUI sidecar configuration, read from the environment when the engine is built."""

    model_config = SettingsConfigDict(env_prefix="DDIFFUSION_COMFY_", env_file=".env", extra="ignore")

    url: str = Field("http://127.0.0.1:8188", description="Base URL of the ComfyUI server.")
    allowed_nodes: Annotated[frozenset[str], NoDecode] = Field(
        DEFAULT_ALLOWED_NODES, description="Node classes a user-supplied graph may use (comma list)."
    )
    workflows_dir: Path = Field(WORKFLOWS_DIR, description="Trusted workflow templates, <name>.json in API format.")
    timeout_s: float = Field(30, gt=0, description="Per-request read timeout.")
    connect_timeout_s: float = Field(5, gt=0)
    retries: int = Field(3, ge=0, description="Retries after the first attempt when ComfyUI cannot be reached.")
    backoff_s: float = Field(0.5, ge=0, description="Base of the exponential backoff between retries.")
    poll_s: float = Field(1.0, gt=0, description="How often a silent run checks for cancellation.")
    history_poll_s: float = Field(15, gt=0, description="After this much silence, /history is asked whether the prompt ended.")
    history_wait_s: float = Field(10, ge=0, description="How long to wait for /history once the prompt ended.")
    preview_interval_s: float = Field(1.0, ge=0, description="At most one preview is stored per interval.")

    @field_validator("allowed_nodes", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value


class ComfyEngine:
    def __init__(self, settings: Settings | None = None) -> None:
        # Models live on the sidecar; the signature is the one every engine has.
        self.settings = ComfySettings()
        s = self.settings
        self.client = ComfyClient(
            s.url,
            timeout_s=s.timeout_s,
            connect_timeout_s=s.connect_timeout_s,
            retries=s.retries,
            backoff_s=s.backoff_s,
            idle_s=s.poll_s,
            history_poll_s=s.history_poll_s,
        )

    def run(self, entry: ModelEntry, params: dict[str, Any], ctx: TaskContext) -> list[dict[str, Any]]:
        graph = self._graph(params)
        _apply_patches(graph, params.get("patches") or {})
        uploads = params.get("inputs") or {}
        _check_image_inputs(graph, uploads)
        for key, ref in uploads.items():
            node_id = _node_id(graph, key)
            data = ctx.read_input(ref)
            uploaded = self.client.upload_image(data, _upload_name(ref, data), subfolder=UPLOAD_SUBFOLDER)
            name = f"{uploaded['subfolder']}/{uploaded['name']}" if uploaded.get("subfolder") else uploaded["name"]
            graph[node_id]["inputs"]["image"] = name
            ctx.log(f"uploaded {ref} to ComfyUI as {name} for node {_describe(graph, node_id)}")
        ctx.check_cancelled()
        prompt_id = self._execute(graph, ctx)
        return self._outputs(prompt_id, ctx)

    def _graph(self, params: dict[str, Any]) -> dict[str, Any]:
        workflow, template = params.get("workflow"), params.get("template")
        if (workflow is None) == (template is None):
            raise PlatformError("Give exactly one of `workflow` (an API-format graph) or `template`.", code="invalid_request")
        if template is not None:
            return self._template(template)
        graph = copy.deepcopy(workflow)
        _check_graph(graph)
        refused = sorted(
            (node_id, node["class_type"]) for node_id, node in graph.items() if node["class_type"] not in self.settings.allowed_nodes
        )
        if refused:
            names = ", ".join(f"node {node_id} ({class_type})" for node_id, class_type in refused)
            raise PlatformError(
                f"The workflow uses node classes this platform does not allow: {names}. Use a template, or only these: "
                f"{', '.join(sorted(self.settings.allowed_nodes))}.",
                code="comfy_node_not_allowed",
                details={"nodes": [node_id for node_id, _ in refused]},
            )
        return graph

    def _template(self, name: str) -> dict[str, Any]:
        directory = self.settings.workflows_dir
        path = directory / f"{name}.json"
        if not _TEMPLATE_NAME.match(name) or not path.is_file():
            available = ", ".join(sorted(p.stem for p in directory.glob("*.json"))) or "none"
            raise PlatformError(f"Unknown workflow template {name!r} in {directory}; available: {available}.", code="comfy_unknown_template")
        graph = json.loads(path.read_text())
        _check_graph(graph)
        return graph

    def _execute(self, graph: dict[str, Any], ctx: TaskContext) -> str:
        """Queue the graph and follow it to its end; returns the prompt id once it succeeded."""
        client_id = uuid.uuid4().hex
        last_preview = float("-inf")
        with self.client.connect(client_id) as events:
            prompt_id = self.client.queue_prompt(graph, client_id)
            ctx.log(f"queued on ComfyUI at {self.client.base_url} as prompt {prompt_id}")
            finished = False
            try:
                for event in events.follow(prompt_id):
                    match event:
                        case Idle():
                            ctx.check_cancelled()
                        case Executing(node=node):
                            ctx.log(f"executing node {_describe(graph, node)}")
                            ctx.check_cancelled()
                        case Progress(value=value, max=total):
                            ctx.progress(value, total)
                        case Preview(image=image, content_type=content_type):
                            if time.monotonic() - last_preview >= self.settings.preview_interval_s:
                                last_preview = time.monotonic()
                                saved = ctx.save_output(image, content_type, preview=True)
                                ctx.log(f"preview {saved['ref']}")
                        case Failed(node=node, node_type=node_type, message=message, exception_type=exception_type):
                            finished = True
                            where = f"node {node} ({node_type})" if node is not None else "an unknown node"
                            kind = f"{exception_type}: " if exception_type else ""
                            raise PlatformError(f"ComfyUI failed at {where}: {kind}{message}", code="comfy_execution_error")
                        case Interrupted(node=node, node_type=node_type):
                            finished = True
                            raise PlatformError(
                                f"ComfyUI interrupted the prompt at node {node} ({node_type}); it was stopped on the ComfyUI side.",
                                code="comfy_interrupted",
                            )
                        case Done():
                            finished = True
            except BaseException as exc:
                # A task that stops early (cancel, time limit, worker error) must not leave the GPU busy.
                if not finished:
                    self._cancel(prompt_id, ctx)
                if isinstance(exc, TaskCancelled):
                    ctx.log(f"cancelled prompt {prompt_id} on ComfyUI")
                raise
        return prompt_id

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
        deadline = time.monotonic() + self.settings.history_wait_s
        while entry is None and time.monotonic() < deadline:
            time.sleep(0.1)
            entry = self.client.history(prompt_id)
        if entry is None:
            raise PlatformError(f"ComfyUI finished prompt {prompt_id} but has no history for it.", code="comfy_error")
        outputs = []
        for node_id, node_outputs in (entry.get("outputs") or {}).items():
            for image in node_outputs.get("images", []):
                data, content_type = self.client.view(image["filename"], image.get("subfolder", ""), image.get("type", "output"))
                outputs.append(ctx.save_output(data, content_type, **_size(data)))
                ctx.log(f"output {image['filename']} from node {node_id}")
        if not outputs:
            raise PlatformError("The workflow produced no images; add a SaveImage node.", code="comfy_no_outputs")
        return outputs


def _check_graph(graph: Any) -> None:
    """The shape ComfyUI's API format needs: node id → {class_type, inputs}."""
    if not isinstance(graph, dict) or not graph:
        raise PlatformError("The workflow must be a non-empty API-format graph: node id → {class_type, inputs}.", code="comfy_invalid_workflow")
    for node_id, node in graph.items():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str) or not isinstance(node.get("inputs", {}), dict):
            raise PlatformError(
                f"Node {node_id} is not in API format (needs `class_type` and an `inputs` object); export with 'Save (API Format)'.",
                code="comfy_invalid_workflow",
            )
        node.setdefault("inputs", {})


def _node_id(graph: dict[str, Any], key: str) -> str:
    """A node by id, else by its unique `_meta.title`."""
    if key in graph:
        return key
    matches = [node_id for node_id, node in graph.items() if (node.get("_meta") or {}).get("title") == key]
    if len(matches) == 1:
        return matches[0]
    titles = sorted({title for node in graph.values() if (title := (node.get("_meta") or {}).get("title"))})
    if matches:
        raise PlatformError(f"Several nodes are titled {key!r} ({', '.join(matches)}); name one by id.", code="comfy_unknown_node")
    raise PlatformError(f"No node has id or title {key!r}; titles: {', '.join(titles) or 'none'}.", code="comfy_unknown_node")


def _apply_patches(graph: dict[str, Any], patches: dict[str, dict[str, Any]]) -> None:
    for key, values in patches.items():
        graph[_node_id(graph, key)]["inputs"].update(values)


def _check_image_inputs(graph: dict[str, Any], uploads: dict[str, str]) -> None:
    """Every image loader gets an uploaded file: a free filename would read whatever else sits in
    ComfyUI's input folder, other tasks' uploads included."""
    fed = {_node_id(graph, key) for key in uploads}
    for node_id in fed:
        if graph[node_id]["class_type"] not in LOAD_IMAGE_NODES:
            raise PlatformError(
                f"Input for node {_describe(graph, node_id)}: files can only go to a LoadImage or LoadImageMask node.",
                code="comfy_invalid_input",
            )
    unfed = [node_id for node_id, node in graph.items() if node["class_type"] in LOAD_IMAGE_NODES and node_id not in fed]
    if unfed:
        names = ", ".join(_describe(graph, node_id) for node_id in unfed)
        raise PlatformError(f"Give an input file for node {names} in `inputs` (by node title or id).", code="comfy_missing_input")


def _describe(graph: dict[str, Any], node_id: str) -> str:
    node = graph.get(node_id) or {}
    title = (node.get("_meta") or {}).get("title")
    label = f"{node.get('class_type', '?')}" + (f" {title!r}" if title and title != node.get("class_type") else "")
    return f"{node_id} ({label})"


def _upload_name(ref: str, data: bytes) -> str:
    # Named by content: uploading the same input twice overwrites it with the same bytes.
    extension = next((ext for magic, ext in _IMAGE_EXTENSIONS.items() if data.startswith(magic)), ".png")
    return ref.split(":")[-1][:32] + extension


def _size(data: bytes) -> dict[str, int]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (OSError, ValueError):
        return {}  # not an image Pillow reads (a video saved by a video node): no size
    return {"width": width, "height": height}
