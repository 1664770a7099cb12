"""ComfyUI workflow graphs: templates, the node allow-list, and patches and inputs by node.

Pure (stdlib and pydantic): the api checks a request with `prepare` at submit, so a bad one is
a 422 and never queued; the comfy worker builds the graph it sends with the same function.

A graph is a trusted template (`<name>.json` in API format in the templates dir, any node
class) or a user's API-format graph, which may only use allow-listed node classes: ComfyUI
nodes can read and write files and run code, so the list is the security boundary. Patches set
node inputs by node id or `_meta.title`; input files go to LoadImage/LoadImageMask nodes.
"""

import copy
import json
import re
from pathlib import Path
from typing import Any

from core.errors import InvalidRequestError, PlatformError
from core.schemas.common import WorkflowTemplate

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
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def prepare(params: dict[str, Any], templates_dir: Path, allowed_nodes: frozenset[str]) -> dict[str, Any]:
    """The graph a workflow request runs: its template or checked user graph, patches applied,
    every image loader fed by `inputs`. Raises InvalidRequestError saying what to change."""
    workflow, template = params.get("workflow"), params.get("template")
    if (workflow is None) == (template is None):
        raise InvalidRequestError("Give exactly one of `workflow` (an API-format graph) or `template`.")
    if template is not None:
        graph = load_template(templates_dir, template)
    else:
        graph = copy.deepcopy(workflow)
        check_graph(graph)
        check_allowed(graph, allowed_nodes)
    for key, values in (params.get("patches") or {}).items():
        graph[node_id(graph, key, "patches")]["inputs"].update(values)
    check_image_inputs(graph, params.get("inputs") or {})
    return graph


def template_names(templates_dir: Path) -> list[str]:
    return sorted(path.stem for path in templates_dir.glob("*.json") if _TEMPLATE_NAME.match(path.stem))


def load_template(templates_dir: Path, name: str) -> dict[str, Any]:
    path = templates_dir / f"{name}.json"
    # The name pattern keeps a request inside the templates dir (no `..`, no `/`).
    if not _TEMPLATE_NAME.match(name) or not path.is_file():
        available = ", ".join(template_names(templates_dir)) or "none"
        raise InvalidRequestError(
            f"Unknown workflow template {name!r}; set `template` to one of: {available} (GET /api/workflows/models lists them).",
            code="comfy_unknown_template",
            details={"templates": template_names(templates_dir)},
        )
    try:
        graph = json.loads(path.read_text())
        check_graph(graph)
    except (ValueError, InvalidRequestError) as exc:
        # The operator's file, not the caller's request: a server-side error naming it.
        reason = exc.message if isinstance(exc, InvalidRequestError) else str(exc)
        raise PlatformError(f"Workflow template {path} is broken: {reason}", code="comfy_invalid_template") from exc
    return graph


def list_templates(templates_dir: Path) -> list[WorkflowTemplate]:
    """Each template with what a request can set: literal node inputs by node, image loaders.
    A template's description is the first line of `<name>.txt` beside it, when there is one."""
    templates = []
    for name in template_names(templates_dir):
        graph = load_template(templates_dir, name)
        about = templates_dir / f"{name}.txt"
        lines = about.read_text().strip().splitlines() if about.is_file() else []
        patchable, inputs = {}, []
        for key, node in graph.items():
            label = _label(graph, key)
            loader = node["class_type"] in LOAD_IMAGE_NODES
            if loader:
                inputs.append(label)
            # Links ([node id, output index]) are wiring, not settings; a loader's image comes from `inputs`.
            names = [n for n, v in node["inputs"].items() if not _is_link(v) and not (loader and n == "image")]
            if names:
                patchable[label] = names
        templates.append(WorkflowTemplate(name=name, description=lines[0] if lines else "", patchable=patchable, inputs=inputs))
    return templates


def check_graph(graph: Any) -> None:
    """The shape ComfyUI's API format needs: node id → {class_type, inputs}."""
    if not isinstance(graph, dict) or not graph:
        raise InvalidRequestError(
            "The workflow must be a non-empty API-format graph: node id → {class_type, inputs}.", code="comfy_invalid_workflow"
        )
    for key, node in graph.items():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str) or not isinstance(node.get("inputs", {}), dict):
            raise InvalidRequestError(
                f"Node {key} is not in API format (needs `class_type` and an `inputs` object); export with 'Save (API Format)'.",
                code="comfy_invalid_workflow",
            )
        node.setdefault("inputs", {})


def check_allowed(graph: dict[str, Any], allowed_nodes: frozenset[str]) -> None:
    refused = sorted((key, node["class_type"]) for key, node in graph.items() if node["class_type"] not in allowed_nodes)
    if refused:
        names = ", ".join(f"node {key} ({class_type})" for key, class_type in refused)
        raise InvalidRequestError(
            f"The workflow uses node classes this platform does not allow: {names}. Use a template, or only these: "
            f"{', '.join(sorted(allowed_nodes))}.",
            code="comfy_node_not_allowed",
            details={"nodes": [key for key, _ in refused]},
        )


def node_id(graph: dict[str, Any], key: str, field: str) -> str:
    """A node by id, else by its unique `_meta.title`; `field` names where the key came from."""
    if key in graph:
        return key
    matches = [k for k, node in graph.items() if _title(node) == key]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise InvalidRequestError(
            f"`{field}` names {key!r}, but several nodes have that title ({', '.join(matches)}); name one by id.",
            code="comfy_unknown_node",
            details={"node": key, "ids": matches},
        )
    titles = sorted({title for node in graph.values() if (title := _title(node))})
    raise InvalidRequestError(
        f"`{field}` names node {key!r}, but no node has that id or title; use one of the titles {', '.join(titles) or '(none)'} "
        f"or a node id.",
        code="comfy_unknown_node",
        details={"node": key, "titles": titles},
    )


def check_image_inputs(graph: dict[str, Any], inputs: dict[str, str]) -> None:
    """Every image loader gets an uploaded file: a free filename would read whatever else sits in
    ComfyUI's input folder, other tasks' uploads included."""
    fed = {node_id(graph, key, "inputs") for key in inputs}
    for key in sorted(fed):
        if graph[key]["class_type"] not in LOAD_IMAGE_NODES:
            raise InvalidRequestError(
                f"`inputs` names node {describe(graph, key)}: files can only go to a LoadImage or LoadImageMask node.",
                code="comfy_invalid_input",
            )
    unfed = [key for key, node in graph.items() if node["class_type"] in LOAD_IMAGE_NODES and key not in fed]
    if unfed:
        names = ", ".join(describe(graph, key) for key in unfed)
        raise InvalidRequestError(f"Give an input file for node {names} in `inputs` (by node title or id).", code="comfy_missing_input")


def describe(graph: dict[str, Any], key: str) -> str:
    """`3 (KSampler 'sampler')`, for messages."""
    node = graph.get(key) or {}
    title = _title(node)
    label = f"{node.get('class_type', '?')}" + (f" {title!r}" if title and title != node.get("class_type") else "")
    return f"{key} ({label})"


def _title(node: dict[str, Any]) -> str | None:
    return (node.get("_meta") or {}).get("title")


def _label(graph: dict[str, Any], key: str) -> str:
    """How a request names the node: its title where that is unique, else its id."""
    title = _title(graph[key])
    return title if title and sum(_title(node) == title for node in graph.values()) == 1 and title not in graph else key


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)
