"""deferred-diffusion in Nuke: a Group node whose knobs make an images request; its input (when
connected) is rendered to PNGs and sent as the init image; the result comes back through a Read
node. `mode` picks what it does: generate (a generator, the input as init image), depth (a depth
map of the input: near is large) or matte (a matte of what the prompt names on the input). `frames:
range` sends the frames first to last as one batch labelled by frame number; the results are the
numbered files `<node>.%04d.<ext>`, and the Read reads them as that sequence. The Read reads data
(depth, mattes) raw and EXR colour in the colour space the workers wrote it in (the studio's OCIO
config, shared by Nuke and the workers, names it). The work happens in `ddiffusion.jobs`; this
module only reads knobs and makes nodes.

`nuke` is imported inside the functions so this module imports (and is tested) without Nuke.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ddiffusion.jobs import (
    DEFAULT_PRIORITY,
    FILE_CHOICES,
    GENERATE,
    MODES,
    PRIORITIES,
    RAW,
    UTILITY_MODELS,
    BackgroundJob,
    BatchJob,
    BatchResult,
    Job,
    JobResult,
    batch_status_text,
    file_format,
    image_request,
    output_folder,
    output_path,
    status_text,
)

# Jobs by the node's full name, so Cancel (and a second Submit) find the running one.
JOBS: dict[str, Job] = {}
INPUT = "image"  # the group's Input node, and so the label of its input arrow
CURRENT, RANGE = "current", "range"
# Nuke's own frame-number pattern for Write and Read file knobs.
FRAME_PATTERN = "%04d"
# An Enumeration knob set by index: the Read's first colour space, "default", is the file type's.
DEFAULT_COLORSPACE = 0


def create_node() -> Any:
    """Makes the ddiffusion Group: a pass-through of its input, with the request's knobs."""
    import nuke

    group = nuke.nodes.Group()
    group.setName("ddiffusion")
    with group:
        nuke.nodes.Output().setInput(0, nuke.nodes.Input(name=INPUT))
    knobs = [
        nuke.Tab_Knob("ddiffusion", "ddiffusion"),
        nuke.Enumeration_Knob("mode", "mode", list(MODES)),
        nuke.String_Knob("model", "model", "sd-1.5"),
        nuke.String_Knob("utility_model", f"utility model (empty: {', '.join(UTILITY_MODELS.values())})", ""),
        nuke.Multiline_Eval_String_Knob("prompt", "prompt (matte: what to matte)", ""),
        nuke.Int_Knob("seed", "seed (-1: random)"),
        nuke.Int_Knob("width", "width (0: model's)"),
        nuke.Int_Knob("height", "height (0: model's)"),
        nuke.Int_Knob("steps", "steps (0: model's)"),
        nuke.Double_Knob("strength", "strength (with an input)"),
        nuke.Enumeration_Knob("output_format", "output format (auto: png, exr for depth and matte)", list(FILE_CHOICES)),
        nuke.Enumeration_Knob("priority", "priority", list(PRIORITIES)),
        nuke.Enumeration_Knob("frames", "frames", [CURRENT, RANGE]),
        nuke.Int_Knob("first", "first"),
        nuke.Int_Knob("last", "last"),
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
    group["priority"].setValue(DEFAULT_PRIORITY)
    # The script's range until the artist types another, as a Write node's first and last.
    group["first"].setExpression("root.first_frame")
    group["last"].setExpression("root.last_frame")
    group["read_node"].setVisible(False)
    return group


def base_folder(node: Any) -> str:
    """The output folder knob, else the script's folder, else the temp folder (unsaved script)."""
    import nuke

    script = nuke.root().name()
    saved = script not in ("", "Root")
    return node["output_dir"].value() or (os.path.dirname(script) if saved else tempfile.gettempdir())


def render_input(node: Any, folder: Path, first: int, last: int) -> list[str]:
    """Renders whatever feeds the node, frames `first` to `last`, to PNGs (kept next to the
    outputs, as a record of what was sent) with a temporary Write node; returns them by frame. The
    Write goes inside the group, on its Input node: that works wherever the group sits, nested
    groups included."""
    import nuke

    def path(frame: str) -> Path:
        return output_path(folder, f"{node.name()}_input", frame, 0, ".png")

    folder.mkdir(parents=True, exist_ok=True)
    with node:
        write = nuke.nodes.Write(file=path(FRAME_PATTERN).as_posix(), file_type="png")
        write.setInput(0, node.node(INPUT))
        try:
            nuke.execute(write, first, last)
        finally:
            nuke.delete(write)
    return [str(path(f"{frame:04d}")) for frame in range(first, last + 1)]


def submit(node: Any) -> Job | None:
    """The Submit button: reads the knobs, renders the input, and starts the job: one task for the
    current frame, or one batch for the frame range. A range that ends before it starts, or depth or
    matte without an input, is said on the status line; nothing is sent then."""
    import nuke

    full_name, name = node.fullName(), node.name()  # read here: the worker thread may not touch the node
    if full_name in JOBS and JOBS[full_name].is_alive():
        JOBS[full_name].cancel()  # a new Submit replaces the running one
    JOBS.pop(full_name, None)  # and its news is dropped from now on
    ranged, mode = node["frames"].value() == RANGE, node["mode"].value()
    first, last = (int(node["first"].value()), int(node["last"].value())) if ranged else (nuke.frame(), nuke.frame())
    if last < first:
        node["status"].setValue(f"error: the frame range ends ({last}) before it starts ({first})")
        return None
    if mode != GENERATE and node.input(0) is None:
        node["status"].setValue(f"error: {mode} works on the node's input; connect the image to it")
        return None
    folder = output_folder(base_folder(node), name).resolve()
    images = render_input(node, folder, first, last) if node.input(0) is not None else []
    # With an input, the request names the first frame's render, so that it is a whole img2img
    # request (strength goes with an image); in a batch each task then names its own frame's.
    request = image_request(
        node["model"].value() if mode == GENERATE else node["utility_model"].value(),
        node["prompt"].value(),
        seed=int(node["seed"].value()),
        width=int(node["width"].value()),
        height=int(node["height"].value()),
        steps=int(node["steps"].value()),
        image=images[0] if images else None,
        strength=float(node["strength"].value()),
        priority=node["priority"].value(),
        mode=mode,
        output_format=file_format(mode, node["output_format"].value()),
    )
    job: Job
    if not ranged:
        job = BackgroundJob(
            request,
            folder,
            name,
            deliver=lambda result: deliver(full_name, job, result),
            call_on_main=nuke.executeInMainThread,
            frame=first,
            on_progress=lambda record: set_status(full_name, job, status_text(record)),
        )
    else:
        frames = range(first, last + 1)
        job = BatchJob(
            request,
            [{"image": image} for image in images] or [{} for _ in frames],
            [str(frame) for frame in frames],
            folder,
            lambda label, index, suffix: output_path(folder, name, int(label), index, suffix),
            name,
            deliver=lambda result: deliver_frames(full_name, job, folder, first, last, result),
            call_on_main=nuke.executeInMainThread,
            on_progress=lambda batch: set_status(full_name, job, batch_status_text(batch)),
        )
    node["status"].setValue("submitting")
    JOBS[full_name] = job
    return job.start()


def cancel(node: Any) -> None:
    job = JOBS.get(node.fullName())
    if job is not None and job.is_alive():
        node["status"].setValue("cancelling")
        job.cancel()


def node_of(full_name: str, job: Job) -> Any:
    """The job's node, or None when the node was deleted or a newer Submit replaced the job."""
    import nuke

    return nuke.toNode(full_name) if JOBS.get(full_name) is job else None


def set_status(full_name: str, job: Job, text: str) -> None:
    node = node_of(full_name, job)
    if node is not None:
        node["status"].setValue(text)


def read_node(node: Any) -> Any:
    """The node's Read: the one it made before, else a new one below it, at the script's top level."""
    import nuke

    read = nuke.toNode(node["read_node"].value())
    if read is None:
        with nuke.root():  # explicit: whatever group the artist has open in a DAG tab
            read = nuke.nodes.Read()
        read.setXYpos(node.xpos(), node.ypos() + 2 * node.screenHeight())
        node["read_node"].setValue(read.fullName())
    return read


def read_colour(read: Any, path: Path, colorspace: str | None) -> None:
    """Data (depth, mattes) is read raw: no colour transform. EXR colour is read in the space the
    workers wrote it in: the studio's OCIO config, shared by Nuke and the workers, names it alike.
    8/16-bit files (sRGB) are read as Nuke reads their file type."""
    raw = colorspace == RAW
    read["raw"].setValue(raw)
    exr_colour = path.suffix == ".exr" and colorspace is not None and not raw
    read["colorspace"].setValue(colorspace if exr_colour else DEFAULT_COLORSPACE)


def deliver(full_name: str, job: Job, result: JobResult) -> None:
    """On the main thread: shows the outcome and points the node's Read at the first output
    (reloaded, since a new result for the same frame overwrites the file)."""
    node = node_of(full_name, job)
    if node is None:
        return
    node["status"].setValue(result.summary)
    if not result.paths:
        return
    read = read_node(node)
    read["file"].fromUserText(result.paths[0].as_posix())
    read_colour(read, result.paths[0], result.colorspaces[0])
    read["reload"].execute()


def deliver_frames(full_name: str, job: Job, folder: Path, first: int, last: int, result: BatchResult) -> None:
    """On the main thread: shows the outcome and points the node's Read at the numbered files,
    `<node>.%04d.<ext>`, frames first to last (a frame that failed is missing: the status says which
    went wrong)."""
    node = node_of(full_name, job)
    if node is None:
        return
    node["status"].setValue(result.summary)
    if not result.paths:
        return
    label, [path, *_] = next(iter(result.paths.items()))
    read = read_node(node)
    read["file"].setValue(output_path(folder, node.name(), FRAME_PATTERN, 0, path.suffix).as_posix())
    read_colour(read, path, result.colorspaces[label][0])
    for knob, frame in (("first", first), ("last", last), ("origfirst", first), ("origlast", last)):
        read[knob].setValue(frame)
    read["reload"].execute()
