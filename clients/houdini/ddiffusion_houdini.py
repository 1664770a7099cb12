"""deferred-diffusion in Houdini: a `ddiffusion` parameter folder (mode, model, prompt, seed, size,
steps, input image, output format, priority, a wedge, Submit/Cancel) on a node; the result is saved
under `$HIP/ddiffusion/<node>/` (`.png`, or `.exr` with Output Format exr) and its path set on the
node's `output` parameter, for a File COP/SOP to read with `chs("/path/to/node/output")`. Mode
generate makes images; depth (near is large) and matte (of what the prompt names) run a compositing
utility on the input image and write data (EXR channel Z or A by default). A wedge is one batch:
one image per wedge at `<node>$WEDGE.<frame>.png`, `output` set to that pattern, so the File node
shows the wedge that `$WEDGE` names (`_seed_3`, as Houdini's Wedge ROP sets it). The work happens
in `ddiffusion.jobs`; this module only reads parameters and sets them.

`hou` is imported inside the functions so this module imports (and is tested) without Houdini.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ddiffusion.jobs import (
    DEFAULT_PRIORITY,
    FILE_CHOICES,
    GENERATE,
    MODES,
    PRIORITIES,
    UTILITY_MODELS,
    WEDGE_PARMS,
    WEDGE_VARIABLE,
    BackgroundJob,
    BatchJob,
    BatchResult,
    Job,
    JobResult,
    OutputTarget,
    batch_status_text,
    file_format,
    image_request,
    output_folder,
    output_path,
    status_text,
    wedge,
    wedge_values,
)

# Jobs by node path, so Cancel (and a second Submit) find the running one.
JOBS: dict[str, Job] = {}
CALLBACK = "__import__('ddiffusion_houdini').{}(kwargs['node'])"
NO_WEDGE = "off"


def folder_template() -> Any:
    """The parameters, as one folder; the shelf tool adds it to a node, build_hda.py to an asset."""
    import hou

    def button(name: str, label: str) -> Any:
        return hou.ButtonParmTemplate(
            name, label, script_callback=CALLBACK.format(name), script_callback_language=hou.scriptLanguage.Python
        )

    def menu(name: str, label: str, items: tuple[str, ...], default: str) -> Any:
        # A string parm with a menu evaluates to the item itself, which is what the request takes.
        labels = [item.capitalize() for item in items]
        return hou.StringParmTemplate(
            name, label, 1, default_value=(default,), menu_items=items, menu_labels=labels, menu_type=hou.menuType.Normal
        )

    wedging = "{ wedge == off }"
    return hou.FolderParmTemplate(
        "ddiffusion",
        "ddiffusion",
        parm_templates=[
            menu("mode", "Mode", MODES, GENERATE),
            hou.StringParmTemplate("model", "Model", 1, default_value=("sd-1.5",)),
            hou.StringParmTemplate(
                "utility_model", "Utility Model", 1, default_value=("",),
                help=f"Depth and matte modes; empty: {', '.join(f'{mode}: {name}' for mode, name in UTILITY_MODELS.items())}.",
            ),  # fmt: skip
            hou.StringParmTemplate("prompt", "Prompt (matte: what to matte)", 1, default_value=("",), tags={"editor": "1"}),
            hou.IntParmTemplate("seed", "Seed (-1: random)", 1, default_value=(-1,), min=-1, max=99999),
            hou.IntParmTemplate("width", "Width (0: model's)", 1, default_value=(0,), min=0, max=2048),
            hou.IntParmTemplate("height", "Height (0: model's)", 1, default_value=(0,), min=0, max=2048),
            hou.IntParmTemplate("steps", "Steps (0: model's)", 1, default_value=(0,), min=0, max=100),
            hou.StringParmTemplate("image", "Input Image", 1, default_value=("",), string_type=hou.stringParmType.FileReference),
            hou.FloatParmTemplate("strength", "Strength (with an image)", 1, default_value=(0.6,), min=0.0, max=1.0),
            menu("output_format", "Output Format", FILE_CHOICES, FILE_CHOICES[0]),
            menu("priority", "Priority", PRIORITIES, DEFAULT_PRIORITY),
            menu("wedge", "Wedge", (NO_WEDGE, *WEDGE_PARMS), NO_WEDGE),
            hou.IntParmTemplate("wedge_count", "Wedge Seeds (count)", 1, default_value=(4,), min=1, max=100, disable_when=wedging),
            hou.StringParmTemplate(
                "wedge_values", "Wedge Values", 1, default_value=("",), tags={"editor": "1"}, disable_when=wedging,
                help="Prompts one per line; numbers separated by spaces or commas (seeds: empty for Wedge Seeds from Seed).",
            ),  # fmt: skip
            button("submit", "Submit"),
            button("cancel", "Cancel"),
            hou.StringParmTemplate("status", "Status", 1, default_value=("idle",)),
            hou.StringParmTemplate("output", "Output", 1, default_value=("",), string_type=hou.stringParmType.FileReference),
            hou.StringParmTemplate("wedges", "Wedges ($WEDGE)", 1, default_value=("",), disable_when=wedging),
        ],
    )


def add_parms(node: Any) -> Any:
    group = node.parmTemplateGroup()
    group.append(folder_template())
    node.setParmTemplateGroup(group)
    return node


def create_node(parent: Any = None) -> Any:
    """The shelf tool: a Null with the ddiffusion folder in the network being looked at (a Null
    exists in every context, so the result can sit next to the COPs or SOPs that read it)."""
    import hou

    if parent is None:
        editor = hou.ui.paneTabOfType(hou.paneTabType.NetworkEditor) if hou.isUIAvailable() else None
        parent = editor.pwd() if editor is not None else hou.node("/obj")
    return add_parms(parent.createNode("null", "ddiffusion"))


def main_thread_call() -> Callable[[Callable[[], None]], None]:
    """Runs a function on Houdini's UI thread once it is idle; hython has no UI loop, so there
    it runs at once."""
    import hou

    if hou.isUIAvailable():
        import hdefereval

        return hdefereval.executeDeferred
    return lambda call: call()


def hip_relative(path: Path, hip: str) -> str:
    """`$HIP/…` when the file is under the hip file's folder, so the scene can move with it."""
    try:
        return "$HIP/" + path.relative_to(Path(hip).resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def submit(node: Any) -> Job | None:
    """The Submit button: reads the parameters and starts the job, one task or, with a wedge, one
    batch. Wedge values it cannot read, or depth or matte without an input image, are said on the
    status line; nothing is sent then."""
    import hou

    path, name = node.path(), node.name()  # read here: the worker thread may not touch the node
    if path in JOBS and JOBS[path].is_alive():
        JOBS[path].cancel()  # a new Submit replaces the running one
    JOBS.pop(path, None)  # and its news is dropped from now on
    hip, mode = hou.getenv("HIP"), node.evalParm("mode")
    if mode != GENERATE and not node.evalParm("image"):
        node.parm("status").set(f"error: {mode} works on the Input Image; set one")
        return None
    request = image_request(
        node.evalParm("model") if mode == GENERATE else node.evalParm("utility_model"),
        node.evalParm("prompt"),
        seed=node.evalParm("seed"),
        width=node.evalParm("width"),
        height=node.evalParm("height"),
        steps=node.evalParm("steps"),
        image=node.evalParm("image") or None,
        strength=node.evalParm("strength"),
        priority=node.evalParm("priority"),
        mode=mode,
        output_format=file_format(mode, node.evalParm("output_format")),
    )
    folder = output_folder(hip, name).resolve()
    frame = hou.intFrame()
    parm = node.evalParm("wedge")
    job: Job
    if parm == NO_WEDGE:
        job = BackgroundJob(
            request,
            folder,
            name,
            deliver=lambda result: deliver(path, job, hip, result),
            call_on_main=main_thread_call(),
            frame=frame,
            on_progress=lambda record: set_status(path, job, status_text(record)),
        )
    else:
        try:
            values = wedge_values(parm, node.evalParm("wedge_values"), node.evalParm("seed"), node.evalParm("wedge_count"))
        except ValueError as exc:
            node.parm("status").set(f"error: {exc}")
            return None
        requests, labels = wedge(parm, values)

        def target(label: str, index: int, suffix: str) -> Path:
            return output_path(folder, name, frame, index, suffix, label)

        job = BatchJob(
            request,
            requests,
            labels,
            folder,
            target,
            name,
            deliver=lambda result: deliver_wedge(path, job, hip, target, result),
            call_on_main=main_thread_call(),
            on_progress=lambda batch: set_status(path, job, batch_status_text(batch)),
        )
    node.parm("status").set("submitting")
    JOBS[path] = job  # before it starts: without a UI, its callbacks run at once on its thread
    return job.start()


def cancel(node: Any) -> None:
    job = JOBS.get(node.path())
    if job is not None and job.is_alive():
        node.parm("status").set("cancelling")
        job.cancel()


def node_of(path: str, job: Job) -> Any:
    """The job's node, or None when the node was deleted or a newer Submit replaced the job."""
    import hou

    return hou.node(path) if JOBS.get(path) is job else None


def set_status(path: str, job: Job, text: str) -> None:
    node = node_of(path, job)
    if node is not None:
        node.parm("status").set(text)


def deliver(path: str, job: Job, hip: str, result: JobResult) -> None:
    """On the main thread: shows the outcome and sets `output` to the first file."""
    node = node_of(path, job)
    if node is None:
        return
    node.parm("status").set(result.summary)
    if result.paths:
        node.parm("output").set(hip_relative(result.paths[0], hip))


def deliver_wedge(path: str, job: Job, hip: str, target: OutputTarget, result: BatchResult) -> None:
    """On the main thread: shows the outcome, lists the wedges made (the values `$WEDGE` may take)
    and sets `output` to the path with `$WEDGE` in it, for a File COP/SOP to read."""
    node = node_of(path, job)
    if node is None:
        return
    node.parm("status").set(result.summary)
    if result.paths:
        node.parm("wedges").set(" ".join(result.paths))
        first = next(iter(result.paths.values()))[0]
        node.parm("output").set(hip_relative(target(WEDGE_VARIABLE, 0, first.suffix), hip))
