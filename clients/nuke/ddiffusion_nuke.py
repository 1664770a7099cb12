"""deferred-diffusion in Nuke: a Group node whose knobs make an images request; its input (when
connected) is rendered to a PNG and sent as the init image; the result comes back through a Read
node. The work happens in `ddiffusion.jobs`; this module only reads knobs and makes nodes.

`nuke` is imported inside the functions so this module imports (and is tested) without Nuke.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ddiffusion.jobs import BackgroundJob, JobResult, image_request, output_folder, status_text

# Jobs by the node's full name, so Cancel (and a second Submit) find the running one.
JOBS: dict[str, BackgroundJob] = {}
INPUT = "image"  # the group's Input node, and so the label of its input arrow


def create_node() -> Any:
    """Makes the ddiffusion Group: a pass-through of its input, with the request's knobs."""
    import nuke

    group = nuke.nodes.Group()
    group.setName("ddiffusion")
    with group:
        nuke.nodes.Output().setInput(0, nuke.nodes.Input(name=INPUT))
    knobs = [
        nuke.Tab_Knob("ddiffusion", "ddiffusion"),
        nuke.String_Knob("model", "model", "sd-1.5"),
        nuke.Multiline_Eval_String_Knob("prompt", "prompt", ""),
        nuke.Int_Knob("seed", "seed (-1: random)"),
        nuke.Int_Knob("width", "width (0: model's)"),
        nuke.Int_Knob("height", "height (0: model's)"),
        nuke.Int_Knob("steps", "steps (0: model's)"),
        nuke.Double_Knob("strength", "strength (with an input)"),
        nuke.File_Knob("output_dir", "output folder"),
        nuke.PyScript_Knob("submit", "Submit", "import ddiffusion_nuke, nuke; ddiffusion_nuke.submit(nuke.thisNode())"),
        nuke.PyScript_Knob("cancel", "Cancel", "import ddiffusion_nuke, nuke; ddiffusion_nuke.cancel(nuke.thisNode())"),
        nuke.Text_Knob("status", "status", "idle"),
        nuke.String_Knob("read_node", "read node", ""),
    ]
    for knob in knobs:
        group.addKnob(knob)
    group["seed"].setValue(-1)
    group["strength"].setValue(0.6)
    group["read_node"].setVisible(False)
    return group


def base_folder(node: Any) -> str:
    """The output folder knob, else the script's folder, else the temp folder (unsaved script)."""
    import nuke

    script = nuke.root().name()
    saved = script not in ("", "Root")
    return node["output_dir"].value() or (os.path.dirname(script) if saved else tempfile.gettempdir())


def render_input(node: Any, folder: Path, frame: int) -> str:
    """Renders whatever feeds the node at `frame` to a PNG (kept next to the outputs, as a
    record of what was sent) with a temporary Write node. The Write goes inside the group, on
    its Input node: that works wherever the group sits, nested groups included."""
    import nuke

    path = folder / f"{node.name()}_input.{frame:04d}.png"
    folder.mkdir(parents=True, exist_ok=True)
    with node:
        write = nuke.nodes.Write(file=path.as_posix(), file_type="png")
        write.setInput(0, node.node(INPUT))
        try:
            nuke.execute(write, frame, frame)
        finally:
            nuke.delete(write)
    return str(path)


def submit(node: Any) -> BackgroundJob:
    """The Submit button: reads the knobs, renders the input, and starts the job."""
    import nuke

    full_name = node.fullName()
    if full_name in JOBS and JOBS[full_name].is_alive():
        JOBS[full_name].cancel()  # a new Submit replaces the running one
    frame = nuke.frame()
    folder = output_folder(base_folder(node), node.name())
    image = render_input(node, folder, frame) if node.input(0) is not None else None
    request = image_request(
        node["model"].value(),
        node["prompt"].value(),
        seed=int(node["seed"].value()),
        width=int(node["width"].value()),
        height=int(node["height"].value()),
        steps=int(node["steps"].value()),
        image=image,
        strength=float(node["strength"].value()),
    )
    node["status"].setValue("submitting")
    job = BackgroundJob(
        request,
        folder,
        node.name(),
        deliver=lambda result: deliver(full_name, job, result),
        call_on_main=nuke.executeInMainThread,
        frame=frame,
        on_progress=lambda record: set_status(full_name, job, status_text(record)),
    )
    JOBS[full_name] = job
    return job.start()


def cancel(node: Any) -> None:
    job = JOBS.get(node.fullName())
    if job is not None and job.is_alive():
        node["status"].setValue("cancelling")
        job.cancel()


def node_of(full_name: str, job: BackgroundJob) -> Any:
    """The job's node, or None when the node was deleted or a newer Submit replaced the job."""
    import nuke

    return nuke.toNode(full_name) if JOBS.get(full_name) is job else None


def set_status(full_name: str, job: BackgroundJob, text: str) -> None:
    node = node_of(full_name, job)
    if node is not None:
        node["status"].setValue(text)


def deliver(full_name: str, job: BackgroundJob, result: JobResult) -> None:
    """On the main thread: shows the outcome and points the node's Read at the first output
    (reloaded, since a new result for the same frame overwrites the file)."""
    import nuke

    node = node_of(full_name, job)
    if node is None:
        return
    node["status"].setValue(result.summary)
    if not result.paths:
        return
    read = nuke.toNode(node["read_node"].value())
    if read is None:
        with nuke.root():  # explicit: whatever group the artist has open in a DAG tab
            read = nuke.nodes.Read()
        read.setXYpos(node.xpos(), node.ypos() + 2 * node.screenHeight())
        node["read_node"].setValue(read.fullName())
    read["file"].fromUserText(result.paths[0].as_posix())
    read["reload"].execute()
