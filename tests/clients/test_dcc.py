"""The Houdini and Nuke integrations. The shared job logic (`ddiffusion.jobs`) runs against the real
platform; the DCC glue runs against it too, with small recording stand-ins for `hou`, `hdefereval`
and `nuke` whose main-thread calls run on the test's thread, as a DCC's UI loop would run them."""

import ast
import queue
import re
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, Optional

import httpx
import numpy as np
import OpenEXR
import png
import pytest
from ddiffusion import Client
from ddiffusion.jobs import (
    BackgroundJob,
    BatchJob,
    BatchResult,
    JobResult,
    file_format,
    image_request,
    output_folder,
    output_path,
    safe_name,
    wedge,
    wedge_label,
    wedge_values,
)
from deferred_diffusion_client.models import BatchRecord, TaskRecord
from PIL import Image

from tests.utils.platform import free_port
from tests.utils.tasks import ADMIN, png_bytes

ROOT = Path(__file__).resolve().parents[2]
HOUDINI_DIR = ROOT / "clients" / "houdini"
NUKE_DIR = ROOT / "clients" / "nuke"
WAIT_S = 120


class MainThread:
    """A DCC's UI loop in miniature: `post` queues a call from any thread; `pump` runs the queued
    calls on the test's own thread until the job has ended and nothing is left to run."""

    def __init__(self) -> None:
        self.ident = threading.get_ident()
        self.calls: queue.Queue[Callable[[], None]] = queue.Queue()

    def post(self, call: Callable[[], None]) -> None:
        self.calls.put(call)

    def pump_until(self, done: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, f"not done in {timeout_s}s"
            try:
                self.calls.get(timeout=0.1)()
            except queue.Empty:
                pass

    def pump(self, job: BackgroundJob) -> None:
        # The worker posts its delivery before it ends, so an ended job with an empty queue is done.
        self.pump_until(lambda: not job.is_alive() and self.calls.empty())


@pytest.fixture
def main() -> MainThread:
    return MainThread()


@pytest.fixture
def platform_env(api_address: str, user_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What an artist's DCC session has in its environment."""
    monkeypatch.setenv("DDIFFUSION_API_ADDRESS", api_address)
    monkeypatch.setenv("DDIFFUSION_API_KEY", user_key)


class Recorder:
    """The outcome and progress of one job, with the thread each callback ran on."""

    def __init__(self) -> None:
        self.results: list[tuple[int, JobResult]] = []
        self.progress: list[tuple[int, TaskRecord]] = []

    def deliver(self, result: JobResult) -> None:
        self.results.append((threading.get_ident(), result))

    def on_progress(self, record: TaskRecord) -> None:
        self.progress.append((threading.get_ident(), record))

    def only_result(self, main: MainThread) -> JobResult:
        [(ident, result)] = self.results
        assert ident == main.ident and all(ident == main.ident for ident, _ in self.progress)
        return result


def run_job(
    main: MainThread, request: dict[str, Any], folder: Path, cancel_when: Callable[[TaskRecord], bool] | None = None, **kwargs: Any
) -> tuple[JobResult, list[TaskRecord]]:
    """Runs a job to its end; returns its outcome and progress, both checked to have come on the main thread."""
    recorder = Recorder()
    job: BackgroundJob

    def on_progress(record: TaskRecord) -> None:
        recorder.on_progress(record)
        if cancel_when is not None and cancel_when(record):
            job.cancel()  # from the main thread, as a Cancel button would

    job = BackgroundJob(
        request, folder, kwargs.pop("name", "node"), recorder.deliver, main.post, on_progress=on_progress, timeout_s=WAIT_S, **kwargs
    )
    main.pump(job.start())
    return recorder.only_result(main), [record for _, record in recorder.progress]


# The shared job logic, against the real platform.


def test_job_uploads_submits_reports_progress_and_delivers_a_frame_named_png(
    api_address: str, user_key: str, main: MainThread, tmp_path: Path
) -> None:
    plate = tmp_path / "plate.png"
    plate.write_bytes(png_bytes(64, 64))
    request = image_request("tiny-sd", "a teapot", seed=7, width=128, height=96, steps=20, image=str(plate), strength=0.9)
    folder = tmp_path / "renders"
    result, updates = run_job(main, request, folder, name="Dream 1/../x", frame=12, address=api_address, api_key=user_key)
    assert result.status == "succeeded", result.summary
    assert result.record is not None and result.task_id == result.record.id and result.error_code is None
    assert result.paths == [folder.resolve() / "Dream_1____x.0012.png"]
    assert [path.name for path in folder.iterdir()] == ["Dream_1____x.0012.png"]  # nothing partial left beside it
    with Image.open(result.paths[0]) as image:
        assert image.format == "PNG" and image.size == (128, 96)
    assert any(record.status.value == "running" and record.progress.step >= 1 for record in updates)
    assert updates[-1].status.value == "succeeded"
    assert result.record.request["image"].startswith("sha256:")  # the local file was uploaded


def test_job_cancelled_while_running_is_delivered_cancelled(api_address: str, user_key: str, main: MainThread, tmp_path: Path) -> None:
    request = image_request("tiny-sd", "long", width=256, height=256, steps=50)
    result, _ = run_job(
        main, request, tmp_path, cancel_when=lambda record: record.status.value == "running", address=api_address, api_key=user_key
    )
    assert result.status == "cancelled" and result.paths == [] and result.task_id is not None
    assert result.record is not None and result.record.progress.step < 50
    assert list(tmp_path.iterdir()) == []


def test_job_cancelled_before_it_starts_submits_nothing(main: MainThread, tmp_path: Path) -> None:
    recorder = Recorder()
    # No platform at this address: a cancelled job must not even try to reach it.
    job = BackgroundJob({"model": "tiny-sd"}, tmp_path, "n", recorder.deliver, main.post, address=f"http://127.0.0.1:{free_port()}")
    job.cancel()
    main.pump(job.start())
    assert recorder.only_result(main) == JobResult("cancelled")


@pytest.fixture
def thread_exceptions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BaseException]]:
    raised: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args.exc_value))
    yield raised


def test_api_errors_are_delivered_not_raised_on_the_worker_thread(
    api_address: str, user_key: str, main: MainThread, tmp_path: Path, thread_exceptions: list[BaseException]
) -> None:
    refused, _ = run_job(main, image_request("no-such-model", "x"), tmp_path, address=api_address, api_key=user_key)
    assert (refused.status, refused.error_code, refused.task_id) == ("error", "unknown_model", None)
    assert "no-such-model" in (refused.error_message or "") and refused.summary.startswith("error: unknown_model: ")
    unreachable, _ = run_job(main, image_request("tiny-sd", "x"), tmp_path, address=f"http://127.0.0.1:{free_port()}", api_key="dd_x_y")
    assert (unreachable.status, unreachable.error_code) == ("error", "unreachable")
    missing_input, _ = run_job(
        main, image_request("tiny-sd", "x", image=str(tmp_path / "missing.png")), tmp_path, address=api_address, api_key=user_key
    )
    assert (missing_input.status, missing_input.error_code) == ("error", "FileNotFoundError")
    assert thread_exceptions == [] and list(tmp_path.iterdir()) == []


def test_requests_and_names_from_node_parameters(tmp_path: Path) -> None:
    assert image_request(" tiny-sd ", "p") == {"model": "tiny-sd", "prompt": "p"}  # unset: the model's defaults, a drawn seed
    assert image_request("m", "p", seed=0, width=64, height=32, steps=4, strength=0.5) == {
        "model": "m", "prompt": "p", "seed": 0, "width": 64, "height": 32, "steps": 4
    }  # fmt: skip
    assert image_request("m", "p", image="in.png", strength=0.5)["strength"] == 0.5
    assert safe_name("../a b$F4#") == "___a_b_F4_" and safe_name("") == "ddiffusion"
    assert output_folder(tmp_path, "Group1.ddiffusion") == tmp_path / "ddiffusion" / "Group1_ddiffusion"
    assert output_path(tmp_path, "n", 7, 0, ".png").name == "n.0007.png"
    assert output_path(tmp_path, "n", 1001, 2, ".mp4").name == "n_2.1001.mp4"
    assert image_request("m", "p", priority="batch")["priority"] == "batch"
    assert image_request("tiny-sd", " ") == {"model": "tiny-sd"}  # a blank prompt: the platform says who needs one


def test_modes_and_file_choices_from_node_parameters() -> None:
    depth = image_request("", "p", seed=3, width=64, steps=4, image="in.png", strength=0.5, mode="depth", output_format="exr")
    assert depth == {"model": "depth-anything-2", "image": "in.png", "output_format": "exr"}  # only what a utility reads
    assert image_request(" tiny-sam-3 ", "the car", seed=3, image="in.png", mode="matte") == {
        "model": "tiny-sam-3", "prompt": "the car", "image": "in.png"
    }  # fmt: skip
    assert image_request("", "", image="in.png", mode="matte")["model"] == "sam-3"
    with pytest.raises(ValueError, match="unknown mode 'upscale'"):
        image_request("m", "p", mode="upscale")
    assert [file_format("generate", choice) for choice in ("auto", "png", "exr")] == [None, "png", "exr"]
    assert [file_format("depth", choice) for choice in ("auto", "png", "exr")] == ["exr", "png16", "exr"]
    assert [file_format("matte", choice) for choice in ("auto", "png", "exr")] == ["exr", "png", "exr"]
    with pytest.raises(ValueError, match="unknown file choice 'tiff'"):
        file_format("generate", "tiff")


class BatchRecorder:
    """The outcome and progress of one batch job, with the thread each callback ran on."""

    def __init__(self) -> None:
        self.results: list[tuple[int, BatchResult]] = []
        self.progress: list[tuple[int, BatchRecord]] = []

    def deliver(self, result: BatchResult) -> None:
        self.results.append((threading.get_ident(), result))

    def on_progress(self, batch: BatchRecord) -> None:
        self.progress.append((threading.get_ident(), batch))

    def only_result(self, main: MainThread) -> BatchResult:
        [(ident, result)] = self.results
        assert ident == main.ident and all(ident == main.ident for ident, _ in self.progress)
        return result


def test_batch_job_submits_one_batch_and_saves_each_task_where_its_label_says(
    api_address: str, user_key: str, main: MainThread, tmp_path: Path
) -> None:
    plate = tmp_path / "plate.png"
    plate.write_bytes(png_bytes(64, 64))
    base = image_request("tiny-sd", "a wedge", width=96, height=64, steps=2, image=str(plate), strength=0.9, priority="batch")
    requests, labels = wedge("seed", wedge_values("seed", "", seed=5, count=3))
    folder = tmp_path / "renders"
    recorder = BatchRecorder()

    def target(label: str, index: int, suffix: str) -> Path:
        return output_path(folder, "node", 7, index, suffix, label)

    job = BatchJob(
        base, requests, labels, folder, target, "node", recorder.deliver, main.post,
        on_progress=recorder.on_progress, address=api_address, api_key=user_key, timeout_s=WAIT_S,
    )  # fmt: skip
    main.pump(job.start())
    result = recorder.only_result(main)
    assert result.status == "succeeded", result.summary
    assert result.summary == "3/3 succeeded" and result.batch_id == job.batch_id
    assert list(result.paths) == labels == ["_seed_5", "_seed_6", "_seed_7"]
    assert [path.name for paths in result.paths.values() for path in paths] == ["node_seed_5.0007.png", "node_seed_6.0007.png", "node_seed_7.0007.png"]
    assert sorted(path.name for path in folder.iterdir()) == sorted(path.name for paths in result.paths.values() for path in paths)
    for [path] in result.paths.values():
        with Image.open(path) as image:
            assert image.size == (96, 64)
    with Client(api_address, user_key) as client:
        batch = client.batch(job.batch_id)
    assert [(task.label, task.request["seed"], task.priority.value) for task in batch.tasks] == [
        ("_seed_5", 5, "batch"), ("_seed_6", 6, "batch"), ("_seed_7", 7, "batch")
    ]  # fmt: skip
    assert len({task.request["image"] for task in batch.tasks}) == 1  # the shared input went up once
    progress = [batch for _, batch in recorder.progress]
    assert progress[-1].done and any(not batch.done for batch in progress)


def test_batch_job_cancelled_while_running_and_refused_batches_are_delivered(
    api_address: str, user_key: str, main: MainThread, tmp_path: Path
) -> None:
    recorder = BatchRecorder()
    job: BatchJob

    def cancel_when_running(batch: BatchRecord) -> None:
        recorder.on_progress(batch)
        if any(task.status.value == "running" for task in batch.tasks):
            job.cancel()  # from the main thread, as a Cancel button would

    base = image_request("tiny-sd", "long", width=512, height=512, steps=50)  # seconds on a CPU: the cancel lands mid-run
    requests, labels = wedge("seed", [1, 2])
    target = partial(output_path, tmp_path, "n", 1)
    job = BatchJob(
        base, requests, labels, tmp_path, lambda label, index, suffix: target(index, suffix, label), "n", recorder.deliver,
        main.post, on_progress=cancel_when_running, address=api_address, api_key=user_key, timeout_s=WAIT_S,
    )  # fmt: skip
    main.pump(job.start())
    cancelled = recorder.only_result(main)
    assert cancelled.status == "cancelled" and cancelled.paths == {} and cancelled.record is not None
    assert cancelled.summary.startswith("0/2 succeeded; cancelled") and list(tmp_path.iterdir()) == []

    refused = BatchRecorder()
    bad = BatchJob(
        {"model": "no-such-model", "prompt": "x"}, [{}], ["a"], tmp_path, target, "n", refused.deliver, main.post,
        address=api_address, api_key=user_key,
    )  # fmt: skip
    main.pump(bad.start())
    result = refused.only_result(main)
    assert (result.status, result.batch_id, result.record) == ("error", None, None) and result.error_code == "unknown_model"
    assert result.summary.startswith("error: unknown_model: ")


def test_wedge_values_and_labels_from_node_parameters(tmp_path: Path) -> None:
    assert wedge_values("seed", "", seed=-1, count=3) == [0, 1, 2]  # a drawn seed wedges from 0
    assert wedge_values("seed", "4, 9 12") == [4, 9, 12]
    assert wedge_values("guidance", "5 7.5") == [5.0, 7.5]
    assert wedge_values("prompt", "a teapot\n\n a kettle \n") == ["a teapot", "a kettle"]
    for parm, text, said in [
        ("seed", "1.5", "must be int numbers"), ("strength", "0.3 x", "must be float numbers"), ("strength", "nan", "finite"),
        ("prompt", " \n", "no wedge values"), ("seed", "3 3", "repeat (3)"), ("model", "a", "cannot wedge 'model'"),
    ]:  # fmt: skip
        with pytest.raises(ValueError, match=re.escape(said)):
            wedge_values(parm, text)
    assert [wedge_label("seed", 3, 0), wedge_label("guidance", 7.5, 1), wedge_label("strength", 0.35, 2)] == ["_seed_3", "_guidance_7.5", "_strength_0.35"]
    assert wedge_label("prompt", "a/b $c", 4) == "_prompt_4"  # a prompt is no file name: its index is
    assert wedge("guidance", [5.0, 7.5]) == ([{"guidance": 5.0}, {"guidance": 7.5}], ["_guidance_5", "_guidance_7.5"])
    assert output_path(tmp_path, "n", 12, 0, ".png", "_seed_3").name == "n_seed_3.0012.png"
    assert output_path(tmp_path, "n", 12, 1, ".png", "../$x").name == "n..__x_1.0012.png"  # no separator or variable from a label
    assert output_path(tmp_path, "n", 12, 0, ".png", "$WEDGE").name == "n$WEDGE.0012.png"  # the pattern a File node reads
    assert output_path(tmp_path, "n", "%04d", 0, ".png").name == "n.%04d.png"  # the pattern a Read node reads


# Nuke, with a recording stand-in for the `nuke` module.


class NukeKnob:
    def __init__(self, nuke: "FakeNuke", name: str, label: str = "", value: Any = None) -> None:
        self.nuke, self.knob_name, self.label, self._value = nuke, name, label, value
        self.visible = True
        self.expression: str | None = None
        self.reloads = 0
        self.history: list[Any] = []

    def value(self) -> Any:
        if self.expression is not None:  # only `root.<knob>` expressions are used
            return self.nuke.root_node[self.expression.removeprefix("root.")].value()
        return self._value

    def setValue(self, value: Any) -> None:
        self.nuke.touched.append(threading.get_ident())
        self._value = value
        self.expression = None  # a value typed in replaces the expression, as in Nuke
        self.history.append(value)

    def setExpression(self, expression: str) -> None:
        self.nuke.touched.append(threading.get_ident())
        self.expression = expression

    fromUserText = setValue

    def setVisible(self, visible: bool) -> None:
        self.visible = visible

    def execute(self) -> None:
        self.nuke.touched.append(threading.get_ident())
        self.reloads += 1


class NukeNode:
    def __init__(self, nuke: "FakeNuke", node_class: str, parent: Optional["NukeNode"], name: str, knobs: dict[str, Any]) -> None:
        self.nuke, self.node_class, self.parent, self.node_name = nuke, node_class, parent, name
        self.knobs = {name: NukeKnob(nuke, name, value=value) for name, value in knobs.items()}
        self.inputs: dict[int, NukeNode | None] = {}
        self.position = (100, 200)

    def __getitem__(self, name: str) -> NukeKnob:
        return self.knobs[name]

    def addKnob(self, knob: NukeKnob) -> None:
        self.knobs[knob.knob_name] = knob

    def name(self) -> str:
        return self.node_name

    fullName = name

    def setName(self, name: str) -> None:
        self.node_name = name

    def input(self, index: int) -> Optional["NukeNode"]:
        return self.inputs.get(index)

    def setInput(self, index: int, node: Optional["NukeNode"]) -> None:
        self.inputs[index] = node

    def node(self, name: str) -> Optional["NukeNode"]:
        return next((node for node in self.nuke.all if node.parent is self and node.node_name == name), None)

    def begin(self) -> None:
        self.nuke.context.append(self)

    def end(self) -> None:
        self.nuke.context.remove(self)

    def __enter__(self) -> "NukeNode":
        self.begin()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.end()

    def xpos(self) -> int:
        return self.position[0]

    def ypos(self) -> int:
        return self.position[1]

    def screenHeight(self) -> int:
        return 20

    def setXYpos(self, x: int, y: int) -> None:
        self.position = (x, y)


class FakeNuke(types.ModuleType):
    """The part of `nuke` the glue uses: nodes are made in the current group (`with group:`), and
    `execute` renders a Write as an 80x48 PNG."""

    def __init__(self, main: MainThread, script: Path) -> None:
        super().__init__("nuke")
        self.main = main
        self.root_node = NukeNode(self, "Root", None, script.as_posix(), {"first_frame": 1001, "last_frame": 1003})
        self.context = [self.root_node]
        self.all: list[NukeNode] = []
        self.touched: list[int] = []  # the thread of every change to the node graph
        self.renders: list[tuple[NukeNode, NukeNode | None, int, int]] = []
        self.menus: dict[str, list[tuple[str, Any]]] = {}
        self.nodes = types.SimpleNamespace(
            Group=lambda: self.create("Group"),
            Input=lambda name=None: self.create("Input", name),
            Output=lambda: self.create("Output"),
            Write=lambda **knobs: self.create("Write", **knobs),
            Read=lambda: self.create(
                "Read", file="", reload=None, first=1, last=1, origfirst=1, origlast=1, colorspace=0, raw=False
            ),  # colorspace 0: its first item, the file type's default
            Constant=lambda: self.create("Constant"),
        )
        defaults = {"Int_Knob": 0, "Double_Knob": 0.0, "File_Knob": "", "Tab_Knob": None}
        for knob_class in (
            "Tab_Knob",
            "String_Knob",
            "Multiline_Eval_String_Knob",
            "Int_Knob",
            "Double_Knob",
            "File_Knob",
            "PyScript_Knob",
            "Text_Knob",
        ):
            default = defaults.get(knob_class, "")
            setattr(self, knob_class, lambda name, label="", value=default: NukeKnob(self, name, label, value))
        self.Enumeration_Knob = lambda name, label, values: NukeKnob(self, name, label, values[0])
        self.this_node: NukeNode | None = None

    def create(self, node_class: str, name: str | None = None, **knobs: Any) -> NukeNode:
        name = name or f"{node_class}{sum(node.node_class == node_class for node in self.all) + 1}"
        node = NukeNode(self, node_class, self.context[-1], name, knobs)
        self.touched.append(threading.get_ident())
        self.all.append(node)
        return node

    def executeInMainThread(self, call: Callable[..., None], args: tuple = (), kwargs: dict | None = None) -> None:
        self.main.post(lambda: call(*args, **(kwargs or {})))

    def execute(self, write: NukeNode, first: int, last: int) -> None:
        """Renders each frame as an 80x48 PNG of its own colour (so each frame's file differs)."""
        self.renders.append((write, write.input(0), first, last))
        pattern = Path(write["file"].value())
        for frame in range(first, last + 1):
            pattern.with_name(pattern.name % frame).write_bytes(png_bytes(80, 48, (frame % 256, 40, 40)))

    def delete(self, node: NukeNode) -> None:
        self.all.remove(node)

    def toNode(self, name: str) -> NukeNode | None:
        return next((node for node in self.all if node.fullName() == name), None)

    def root(self) -> NukeNode:
        return self.root_node

    def frame(self) -> int:
        return 12

    def thisNode(self) -> NukeNode | None:
        return self.this_node

    def menu(self, name: str) -> Any:
        def add_menu(submenu: str) -> Any:
            commands = self.menus.setdefault(f"{name}/{submenu}", [])
            return types.SimpleNamespace(addCommand=lambda label, command: commands.append((label, command)))

        return types.SimpleNamespace(addMenu=add_menu)


@pytest.fixture
def nuke(main: MainThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeNuke:
    fake = FakeNuke(main, tmp_path / "comp" / "shot010.nk")
    monkeypatch.setitem(sys.modules, "nuke", fake)
    monkeypatch.syspath_prepend(str(NUKE_DIR))
    monkeypatch.delitem(sys.modules, "ddiffusion_nuke", raising=False)
    return fake


def press(nuke: FakeNuke, node: NukeNode, button: str) -> None:
    """What Nuke does for a PyScript_Knob: runs its command inside the group, with
    `nuke.thisNode()` the node."""
    nuke.this_node = node
    with node:
        exec(node[button].value(), {"nuke": nuke})


def test_nuke_group_renders_its_input_submits_and_points_a_read_node_at_the_result(
    platform_env: None, nuke: FakeNuke, main: MainThread, tmp_path: Path
) -> None:
    import ddiffusion_nuke

    group = ddiffusion_nuke.create_node()
    assert {"model", "prompt", "seed", "width", "height", "steps", "strength", "submit", "cancel", "status"} <= group.knobs.keys()
    assert group["seed"].value() == -1 and not group["read_node"].visible
    plate = nuke.nodes.Constant()
    group.setInput(0, plate)
    for knob, value in {"model": "tiny-sd", "prompt": "a teapot", "seed": 3, "width": 96, "height": 64, "steps": 2}.items():
        group[knob].setValue(value)

    press(nuke, group, "submit")
    main.pump(ddiffusion_nuke.JOBS["ddiffusion"])
    folder = tmp_path / "comp" / "ddiffusion" / "ddiffusion"
    [(write, source, first, last)] = nuke.renders
    assert write.parent is group and source is group.node("image") and source.node_class == "Input"  # what feeds the group
    assert (first, last) == (12, 12) and write not in nuke.all  # the temporary Write is gone
    assert Path(write["file"].value()) == folder / "ddiffusion_input.%04d.png" and (folder / "ddiffusion_input.0012.png").is_file()
    assert group["status"].value() == "succeeded"
    read = nuke.toNode(group["read_node"].value())
    assert read is not None and read.node_class == "Read" and read.parent is nuke.root() and read.position == (100, 240)
    result = Path(read["file"].value())
    assert result == folder.resolve() / "ddiffusion.0012.png"
    with Image.open(result) as image:
        assert image.size == (96, 64)
    assert set(nuke.touched) == {main.ident}  # every change to the graph ran on the main thread

    group.setInput(0, None)  # no input: text to image, and the same Read is reloaded
    press(nuke, group, "submit")
    main.pump(ddiffusion_nuke.JOBS["ddiffusion"])
    assert len(nuke.renders) == 1 and group["status"].value() == "succeeded"
    assert [node for node in nuke.all if node.node_class == "Read"] == [read] and read["reload"].reloads == 2


def test_nuke_cancel_resubmit_and_a_deleted_node(platform_env: None, nuke: FakeNuke, main: MainThread) -> None:
    import ddiffusion_nuke

    group = ddiffusion_nuke.create_node()
    long = {"model": "tiny-sd", "prompt": "long", "width": 256, "height": 256, "steps": 50}
    short = {"width": 64, "height": 64, "steps": 1}
    for knob, value in long.items():
        group[knob].setValue(value)
    press(nuke, group, "submit")
    job = ddiffusion_nuke.JOBS["ddiffusion"]
    main.pump_until(lambda: group["status"].value().startswith("running"))
    press(nuke, group, "cancel")
    main.pump(job)
    assert group["status"].value().startswith("cancelled")
    assert not [node for node in nuke.all if node.node_class == "Read"]

    # A second Submit replaces the running job: the first is cancelled and its news is dropped.
    press(nuke, group, "submit")
    replaced = ddiffusion_nuke.JOBS["ddiffusion"]
    for knob, value in short.items():
        group[knob].setValue(value)
    since = len(group["status"].history)
    press(nuke, group, "submit")
    main.pump(replaced)
    main.pump(ddiffusion_nuke.JOBS["ddiffusion"])
    statuses = group["status"].history[since:]
    assert statuses[-1] == "succeeded" and not [status for status in statuses if status.startswith("cancel")]
    [read] = [node for node in nuke.all if node.node_class == "Read"]
    assert Path(read["file"].value()).is_file()

    press(nuke, group, "submit")
    nuke.delete(group)  # deleted while its job runs: the delivery finds no node and does nothing
    main.pump(ddiffusion_nuke.JOBS["ddiffusion"])
    assert [node for node in nuke.all if node.node_class == "Read"] == [read] and read["reload"].reloads == 1


def test_nuke_frame_range_is_one_batch_by_frame_read_back_as_the_numbered_sequence(
    platform_env: None, api_address: str, user_key: str, nuke: FakeNuke, main: MainThread, tmp_path: Path
) -> None:
    import ddiffusion_nuke

    group = ddiffusion_nuke.create_node()
    assert (group["frames"].value(), group["first"].value(), group["last"].value()) == ("current", 1001, 1003)  # the script's range
    assert group["priority"].value() == "normal"
    group.setInput(0, nuke.nodes.Constant())
    knobs = {"model": "tiny-sd", "prompt": "a teapot", "seed": 3, "width": 96, "height": 64, "steps": 2, "frames": "range", "priority": "batch"}
    for knob, value in knobs.items():
        group[knob].setValue(value)

    press(nuke, group, "submit")
    job = ddiffusion_nuke.JOBS["ddiffusion"]
    main.pump(job)
    folder = tmp_path / "comp" / "ddiffusion" / "ddiffusion"
    [(write, _, first, last)] = nuke.renders  # the whole range in one render
    assert (first, last) == (1001, 1003) and Path(write["file"].value()) == folder / "ddiffusion_input.%04d.png"
    assert group["status"].value() == "3/3 succeeded"
    assert any(status.startswith(("queued 0/3", "running")) for status in group["status"].history)  # progress came in between
    with Client(api_address, user_key) as client:
        batch = client.batch(job.batch_id)
    assert [(task.label, task.priority.value) for task in batch.tasks] == [("1001", "batch"), ("1002", "batch"), ("1003", "batch")]
    assert len({task.request["image"] for task in batch.tasks}) == 3  # each task got its own frame's render
    read = nuke.toNode(group["read_node"].value())
    assert read is not None and Path(read["file"].value()) == folder.resolve() / "ddiffusion.%04d.png"
    assert [read[knob].value() for knob in ("first", "last", "origfirst", "origlast")] == [1001, 1003, 1001, 1003]
    assert read["reload"].reloads == 1
    for frame in (1001, 1002, 1003):
        with Image.open(folder / f"ddiffusion.{frame}.png") as image:
            assert image.size == (96, 64)
    assert set(nuke.touched) == {main.ident}

    group["first"].setValue(1010)  # typed in: no longer the script's range, and ending before it starts
    press(nuke, group, "submit")
    assert "ddiffusion" not in ddiffusion_nuke.JOBS and group["status"].value() == "error: the frame range ends (1003) before it starts (1010)"


def exr_channels(path: Path) -> dict[str, np.ndarray]:
    with OpenEXR.File(str(path)) as exr:
        return {name: channel.pixels for name, channel in exr.channels().items()}


def submitted(nuke: FakeNuke, main: MainThread, group: NukeNode, knobs: dict[str, Any]) -> NukeNode:
    """Sets the knobs, presses Submit, runs the job to its end; returns the group's Read."""
    import ddiffusion_nuke

    for knob, value in knobs.items():
        group[knob].setValue(value)
    press(nuke, group, "submit")
    main.pump(ddiffusion_nuke.JOBS["ddiffusion"])
    read = nuke.toNode(group["read_node"].value())
    assert group["status"].value() == "succeeded" and read is not None, group["status"].value()
    return read


def test_nuke_depth_mode_reads_the_inputs_depth_back_raw_as_exr_or_png16(
    platform_env: None, api_client: Client, nuke: FakeNuke, main: MainThread, tmp_path: Path
) -> None:
    import ddiffusion_nuke

    group = ddiffusion_nuke.create_node()
    assert (group["mode"].value(), group["output_format"].value(), group["utility_model"].value()) == ("generate", "auto", "")
    knobs = {"mode": "depth", "utility_model": "tiny-depth-anything-2", "prompt": "ignored", "steps": 4}
    for knob, value in knobs.items():
        group[knob].setValue(value)
    press(nuke, group, "submit")  # nothing connected: nothing to take the depth of
    assert "ddiffusion" not in ddiffusion_nuke.JOBS and not nuke.renders
    assert group["status"].value() == "error: depth works on the node's input; connect the image to it"

    group.setInput(0, nuke.nodes.Constant())
    read = submitted(nuke, main, group, {})  # auto: EXR, the depth in Z
    job = ddiffusion_nuke.JOBS["ddiffusion"]
    result = Path(read["file"].value())
    assert result == tmp_path.resolve() / "comp" / "ddiffusion" / "ddiffusion" / "ddiffusion.0012.exr"
    depth = exr_channels(result)["Z"]
    assert depth.shape == (48, 80) and depth.dtype == np.float32  # the rendered input's 80x48
    assert read["raw"].value() is True and read["colorspace"].value() == 0  # data: no colour transform
    request = api_client.get("images", job.task_id).request.to_dict()
    assert request["output_format"] == "exr" and not {"prompt", "steps", "seed", "strength"} & request.keys()

    read = submitted(nuke, main, group, {"output_format": "png"})  # a depth PNG is the 16-bit one
    width, height, _, info = png.Reader(filename=read["file"].value()).read()
    assert Path(read["file"].value()).suffix == ".png" and (width, height, info["bitdepth"]) == (80, 48, 16)
    assert read["raw"].value() is True and read["reload"].reloads == 2


def test_nuke_matte_mode_mattes_what_the_prompt_names_on_the_input(
    platform_env: None, api_client: Client, nuke: FakeNuke, main: MainThread
) -> None:
    import ddiffusion_nuke

    group = ddiffusion_nuke.create_node()
    group.setInput(0, nuke.nodes.Constant())
    read = submitted(nuke, main, group, {"mode": "matte", "utility_model": "tiny-sam-3", "prompt": "the red car"})
    alpha = exr_channels(Path(read["file"].value()))["A"]
    assert alpha.shape == (48, 80) and alpha.dtype == np.float32 and read["raw"].value() is True
    job = ddiffusion_nuke.JOBS["ddiffusion"]
    record = api_client.get("images", job.task_id)
    assert (record.model, record.request["prompt"]) == ("tiny-sam-3", "the red car") and record.outputs[0].colorspace == "raw"

    group["prompt"].setValue("")  # the platform says what is missing
    press(nuke, group, "submit")
    main.pump(ddiffusion_nuke.JOBS["ddiffusion"])
    assert group["status"].value().startswith("error: invalid_request: tiny-sam-3 mattes what `prompt` names; add one")


def test_nuke_generate_as_exr_reads_it_in_the_colour_space_it_was_written_in(
    platform_env: None, api_client: Client, nuke: FakeNuke, main: MainThread
) -> None:
    import ddiffusion_nuke

    group = ddiffusion_nuke.create_node()
    knobs = {"model": "tiny-sd", "prompt": "a teapot", "width": 64, "height": 64, "steps": 2, "output_format": "exr"}
    read = submitted(nuke, main, group, knobs)
    rgb = exr_channels(Path(read["file"].value()))["RGB"]  # the OpenEXR module groups R, G and B
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.float32
    job = ddiffusion_nuke.JOBS["ddiffusion"]
    [output] = api_client.get("images", job.task_id).outputs
    assert output.content_type == "image/x-exr" and read["colorspace"].value() == output.colorspace == "ACEScg"
    assert read["raw"].value() is False

    read = submitted(nuke, main, group, {"output_format": "auto"})  # the model's PNG, on the same Read
    assert Path(read["file"].value()).suffix == ".png" and read["colorspace"].value() == 0 and read["raw"].value() is False


def test_nuke_frame_range_of_exrs_reads_as_the_numbered_exr_sequence(
    platform_env: None, nuke: FakeNuke, main: MainThread, tmp_path: Path
) -> None:
    import ddiffusion_nuke

    group = ddiffusion_nuke.create_node()
    group.setInput(0, nuke.nodes.Constant())
    knobs = {"mode": "depth", "utility_model": "tiny-depth-anything-2", "frames": "range", "last": 1002}
    for knob, value in knobs.items():
        group[knob].setValue(value)
    press(nuke, group, "submit")
    main.pump(ddiffusion_nuke.JOBS["ddiffusion"])
    assert group["status"].value() == "2/2 succeeded"
    folder = (tmp_path / "comp" / "ddiffusion" / "ddiffusion").resolve()
    read = nuke.toNode(group["read_node"].value())
    assert Path(read["file"].value()) == folder / "ddiffusion.%04d.exr" and read["raw"].value() is True
    assert [read[knob].value() for knob in ("first", "last", "origfirst", "origlast")] == [1001, 1002, 1001, 1002]
    for frame in (1001, 1002):
        assert exr_channels(folder / f"ddiffusion.{frame}.exr")["Z"].shape == (48, 80)


def test_nuke_menu_adds_the_node_command(nuke: FakeNuke) -> None:
    import ddiffusion_nuke

    exec((NUKE_DIR / "menu.py").read_text(), {"__name__": "menu"})
    assert nuke.menus == {"Nodes/ddiffusion": [("Image", ddiffusion_nuke.create_node)]}


# Houdini, with recording stand-ins for `hou` and `hdefereval`.


class ParmTemplate:
    def __init__(self, name: str, label: str, num_components: int = 1, default_value: tuple = (), **options: Any) -> None:
        self.name, self.label, self.default, self.options = name, label, default_value, options


class ParmTemplateGroup:
    def __init__(self, templates: list[ParmTemplate] | None = None) -> None:
        self.templates = list(templates or [])

    def append(self, template: ParmTemplate) -> None:
        self.templates.append(template)

    def flat(self) -> Iterator[ParmTemplate]:
        for template in self.templates:
            yield from template.options.get("parm_templates", [template])


class HouParm:
    def __init__(self, hou: "FakeHou", template: ParmTemplate) -> None:
        self.hou, self.template = hou, template
        self.value = template.default[0] if template.default else None
        self.history: list[Any] = []

    def eval(self) -> Any:
        return self.value

    def set(self, value: Any) -> None:
        self.hou.touched.append(threading.get_ident())
        self.value = value
        self.history.append(value)


class HouNode:
    def __init__(self, hou: "FakeHou", path: str) -> None:
        self.hou, self.node_path = hou, path
        self.group = ParmTemplateGroup()
        self.parms: dict[str, HouParm] = {}
        self.asset: dict[str, Any] | None = None
        hou.nodes[path] = self

    def path(self) -> str:
        return self.node_path

    def name(self) -> str:
        return self.node_path.rsplit("/", 1)[-1]

    def createNode(self, node_type: str, name: str) -> "HouNode":
        return HouNode(self.hou, f"{self.node_path}/{name}")

    def parmTemplateGroup(self) -> ParmTemplateGroup:
        return ParmTemplateGroup(self.group.templates)

    def setParmTemplateGroup(self, group: ParmTemplateGroup) -> None:
        self.group = group
        self.parms = {template.name: HouParm(self.hou, template) for template in group.flat()}

    def parm(self, name: str) -> HouParm | None:
        return self.parms.get(name)

    def evalParm(self, name: str) -> Any:
        return self.parms[name].eval()

    def setSelected(self, on: bool, clear_all_selected: bool = False) -> None:
        pass

    def destroy(self) -> None:
        del self.hou.nodes[self.node_path]

    def createDigitalAsset(self, **options: Any) -> "HouNode":
        self.asset = options
        return self

    def type(self) -> Any:
        return types.SimpleNamespace(definition=lambda: self)


class Names:
    """Enumerations such as `hou.scriptLanguage.Python`: each value is its own name."""

    def __getattr__(self, name: str) -> str:
        return name


class FakeHou(types.ModuleType):
    def __init__(self, hip: Path) -> None:
        super().__init__("hou")
        self.hip = hip
        self.nodes: dict[str, HouNode] = {}
        self.touched: list[int] = []
        for kind in ("String", "Int", "Float", "Button", "Folder"):
            setattr(self, f"{kind}ParmTemplate", ParmTemplate)
        self.scriptLanguage = self.stringParmType = self.paneTabType = self.menuType = Names()
        network = HouNode(self, "/img/comp1")
        HouNode(self, "/obj")
        self.ui = types.SimpleNamespace(paneTabOfType=lambda kind: types.SimpleNamespace(pwd=lambda: network))

    def node(self, path: str) -> HouNode | None:
        return self.nodes.get(path)

    def getenv(self, name: str) -> str | None:
        return str(self.hip) if name == "HIP" else None

    def intFrame(self) -> int:
        return 12

    def isUIAvailable(self) -> bool:
        return True


@pytest.fixture
def hou(main: MainThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHou:
    fake = FakeHou(tmp_path / "shot010")
    hdefereval = types.ModuleType("hdefereval")
    hdefereval.executeDeferred = main.post  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "hou", fake)
    monkeypatch.setitem(sys.modules, "hdefereval", hdefereval)
    monkeypatch.syspath_prepend(str(HOUDINI_DIR))
    for module in ("ddiffusion_houdini", "build_hda"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    return fake


def click(node: HouNode, button: str) -> None:
    """What Houdini does for a button parameter: runs its Python callback with `kwargs["node"]`."""
    exec(node.parms[button].template.options["script_callback"], {"kwargs": {"node": node}})


def test_houdini_node_submits_its_parms_and_sets_output_under_hip(
    platform_env: None, hou: FakeHou, main: MainThread, tmp_path: Path
) -> None:
    import ddiffusion_houdini

    node = ddiffusion_houdini.create_node()  # the shelf tool: in the network being looked at
    assert node.path() == "/img/comp1/ddiffusion"
    assert node.evalParm("seed") == -1 and node.evalParm("status") == "idle" and node.evalParm("output") == ""
    plate = tmp_path / "plate.png"
    plate.write_bytes(png_bytes(32, 32))
    values = {
        "model": "tiny-sd",
        "prompt": "a teapot",
        "seed": 5,
        "width": 64,
        "height": 96,
        "steps": 2,
        "image": str(plate),
        "strength": 0.5,
    }
    for name, value in values.items():
        node.parms[name].value = value

    click(node, "submit")
    main.pump(ddiffusion_houdini.JOBS[node.path()])
    status = node.parms["status"].history
    assert status[0] == "submitting" and status[-1] == "succeeded" and len(status) >= 3  # progress came in between
    assert node.evalParm("output") == "$HIP/ddiffusion/ddiffusion/ddiffusion.0012.png"
    with Image.open(hou.hip / "ddiffusion" / "ddiffusion" / "ddiffusion.0012.png") as image:
        assert image.size == (64, 96)
    assert set(hou.touched) == {main.ident}


def test_houdini_writes_exr_under_hip_and_depth_and_matte_of_the_input_image(
    platform_env: None, api_client: Client, hou: FakeHou, main: MainThread, tmp_path: Path
) -> None:
    import ddiffusion_houdini

    node = ddiffusion_houdini.create_node(hou.node("/obj"))
    assert (node.evalParm("mode"), node.evalParm("output_format"), node.evalParm("utility_model")) == ("generate", "auto", "")
    for name, value in {"model": "tiny-sd", "prompt": "a teapot", "width": 64, "height": 96, "steps": 2, "output_format": "exr"}.items():
        node.parms[name].value = value
    click(node, "submit")
    main.pump(ddiffusion_houdini.JOBS[node.path()])
    assert node.evalParm("status") == "succeeded" and node.evalParm("output") == "$HIP/ddiffusion/ddiffusion/ddiffusion.0012.exr"
    rgb = exr_channels(hou.hip / "ddiffusion" / "ddiffusion" / "ddiffusion.0012.exr")["RGB"]
    assert rgb.shape == (96, 64, 3) and rgb.dtype == np.float32
    assert api_client.get("images", ddiffusion_houdini.JOBS[node.path()].task_id).outputs[0].colorspace == "ACEScg"

    node.parms["mode"].value = "depth"
    node.parms["utility_model"].value = "tiny-depth-anything-2"
    click(node, "submit")  # no input image: nothing to take the depth of
    assert node.evalParm("status") == "error: depth works on the Input Image; set one"

    plate = tmp_path / "plate.png"
    plate.write_bytes(png_bytes(72, 40))
    node.parms["image"].value = str(plate)
    for mode, model, channel in (("depth", "tiny-depth-anything-2", "Z"), ("matte", "tiny-sam-3", "A")):
        node.parms["mode"].value, node.parms["utility_model"].value = mode, model
        node.parms["output_format"].value = "auto"  # data: EXR
        click(node, "submit")
        main.pump(ddiffusion_houdini.JOBS[node.path()])
        assert node.evalParm("status") == "succeeded", node.evalParm("status")
        data = exr_channels(hou.hip / "ddiffusion" / "ddiffusion" / "ddiffusion.0012.exr")[channel]
        assert data.shape == (40, 72), mode  # the input image's size


def test_houdini_cancel_button(platform_env: None, hou: FakeHou, main: MainThread) -> None:
    import ddiffusion_houdini

    node = ddiffusion_houdini.create_node(hou.node("/obj"))
    for name, value in {"model": "tiny-sd", "prompt": "long", "width": 256, "height": 256, "steps": 50}.items():
        node.parms[name].value = value
    click(node, "submit")
    click(node, "cancel")
    main.pump(ddiffusion_houdini.JOBS[node.path()])
    assert node.parms["status"].history[-1].startswith("cancelled") and node.evalParm("output") == ""


def test_houdini_wedge_is_one_batch_written_where_a_file_node_reads_it_with_wedge(
    platform_env: None, api_address: str, user_key: str, hou: FakeHou, main: MainThread
) -> None:
    import ddiffusion_houdini

    node = ddiffusion_houdini.create_node(hou.node("/obj"))
    assert (node.evalParm("wedge"), node.evalParm("priority"), node.evalParm("wedge_count")) == ("off", "normal", 4)
    values = {"model": "tiny-sd", "prompt": "a teapot", "seed": 5, "width": 64, "height": 96, "steps": 2}
    for name, value in (values | {"wedge": "seed", "wedge_count": 3, "priority": "batch"}).items():
        node.parms[name].value = value

    click(node, "submit")
    job = ddiffusion_houdini.JOBS[node.path()]
    main.pump(job)
    status = node.parms["status"].history
    assert status[0] == "submitting" and status[-1] == "3/3 succeeded" and len(status) >= 3  # progress came in between
    assert node.evalParm("wedges") == "_seed_5 _seed_6 _seed_7"
    output = node.evalParm("output")
    assert output == "$HIP/ddiffusion/ddiffusion/ddiffusion$WEDGE.0012.png"
    for wedge_name in ("_seed_5", "_seed_6", "_seed_7"):  # the File node's path, $HIP and $WEDGE expanded
        with Image.open(output.replace("$HIP", str(hou.hip)).replace("$WEDGE", wedge_name)) as image:
            assert image.size == (64, 96)
    with Client(api_address, user_key) as client:
        batch = client.batch(job.batch_id)
    assert [(task.label, task.request["seed"], task.priority.value) for task in batch.tasks] == [
        ("_seed_5", 5, "batch"), ("_seed_6", 6, "batch"), ("_seed_7", 7, "batch")
    ]  # fmt: skip
    assert set(hou.touched) == {main.ident}

    for name, value in {"wedge": "guidance", "wedge_values": "5, 7.5", "priority": "interactive"}.items():
        node.parms[name].value = value
    click(node, "submit")
    main.pump(ddiffusion_houdini.JOBS[node.path()])
    assert node.evalParm("status") == "2/2 succeeded" and node.evalParm("wedges") == "_guidance_5 _guidance_7.5"
    assert (hou.hip / "ddiffusion" / "ddiffusion" / "ddiffusion_guidance_7.5.0012.png").is_file()


def test_houdini_wedge_refused_values_and_priority_say_so_on_the_status_line(
    platform_env: None, api_address: str, hou: FakeHou, main: MainThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ddiffusion_houdini

    node = ddiffusion_houdini.create_node(hou.node("/obj"))
    for name, value in {"model": "tiny-sd", "prompt": "x", "wedge": "strength", "wedge_values": "0.3 lots"}.items():
        node.parms[name].value = value
    click(node, "submit")
    assert node.evalParm("status") == "error: wedge values of strength must be float numbers, not '0.3 lots'"
    assert node.path() not in ddiffusion_houdini.JOBS

    response = httpx.post(f"{api_address}/api/admin/keys", json={"name": "farm", "max_priority": "batch"}, headers=ADMIN)
    monkeypatch.setenv("DDIFFUSION_API_KEY", response.json()["key"])
    for name, value in {"wedge": "seed", "wedge_values": "", "priority": "normal"}.items():
        node.parms[name].value = value
    click(node, "submit")
    main.pump(ddiffusion_houdini.JOBS[node.path()])
    assert node.evalParm("status").startswith("error: priority_not_allowed: This key may submit at most `batch` priority, not `normal`")
    assert node.evalParm("output") == "" and node.evalParm("wedges") == ""


def test_houdini_build_hda_puts_the_parms_on_an_asset(hou: FakeHou, tmp_path: Path) -> None:
    import build_hda

    definition = build_hda.build(tmp_path / "otls" / "ddiffusion_image.hda")
    assert definition.asset is not None and definition.asset["name"] == "ddiffusion::image::1.0"
    assert definition.asset["hda_file_path"] == str(tmp_path / "otls" / "ddiffusion_image.hda")
    names = {template.name for template in definition.group.flat()}
    assert {"model", "prompt", "seed", "width", "height", "steps", "image", "priority", "wedge", "wedge_values", "submit", "output"} <= names
    assert "/obj/ddiffusion_image" not in hou.nodes  # the scaffolding node is removed


@pytest.mark.parametrize("path", sorted([*HOUDINI_DIR.glob("*.py"), *NUKE_DIR.glob("*.py")]), ids=lambda path: path.name)
def test_glue_is_python_3_9_code(path: Path) -> None:
    """DCC hosts run older Pythons than the server's."""
    ast.parse(path.read_text(), filename=str(path), feature_version=(3, 9))
