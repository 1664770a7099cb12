"""Submitting from inside a DCC (Houdini, Nuke) without freezing it.

A `BackgroundJob` (one task) or a `BatchJob` (a wedge, a frame range: one batch) uploads, submits,
waits and downloads on a worker thread. Progress and the outcome reach the host through
`call_on_main`, the host's way to run a function on its UI thread (`nuke.executeInMainThread`,
`hdefereval.executeDeferred`), because DCC scene APIs may only be touched from there. The outcome
is always delivered, errors included: an exception on a worker thread would only reach a console
nobody reads.
"""

from __future__ import annotations

import math
import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Generic, Optional, TypeVar, Union

from ddiffusion.client import ApiError, Client, is_terminal, outcome_summary, safe_name
from deferred_diffusion_client.models import BatchRecord, TaskRecord

MainThreadCall = Callable[[Callable[[], None]], None]
# Request fields that name input files: local paths among them are uploaded on the worker thread.
INPUT_FIELDS = ("image", "mask")
PRIORITIES = ("interactive", "normal", "batch")
DEFAULT_PRIORITY = "normal"
# What a node can wedge: the fields an artist compares side by side.
WEDGE_PARMS = ("seed", "prompt", "strength", "guidance")
# A wedge label goes into file names after the node's name: a number's `.` and `-` may stay.
LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
# Where a File COP/SOP's path names the wedge to read: Houdini's Wedge ROP sets this variable.
WEDGE_VARIABLE = "$WEDGE"
# What a node does: generate images, or run a compositing utility on its input image.
GENERATE, DEPTH, MATTE = "generate", "depth", "matte"
MODES = (GENERATE, DEPTH, MATTE)
# The utility a mode runs when the node names none (it may name the tiny twin, or a studio's own).
UTILITY_MODELS = {DEPTH: "depth-anything-2", MATTE: "sam-3"}
# A node's file choice; auto: the model's own (PNG) when generating, EXR for data (depth in Z, a matte in A).
AUTO = "auto"
FILE_CHOICES = (AUTO, "png", "exr")
# The colour space the platform records for data (depth maps, mattes): no colour transform applies.
RAW = "raw"


def output_folder(base: Union[str, os.PathLike], node_name: str) -> Path:
    """`<base>/ddiffusion/<node>`: one folder per node, e.g. under `$HIP` or next to a Nuke script."""
    return Path(base) / "ddiffusion" / safe_name(node_name)


def output_path(folder: Path, name: str, frame: Union[int, str], index: int, suffix: str, label: str = "") -> Path:
    """`<name><label>.<frame:04d><ext>` (`<name><label>_<n>.…` for a task's further outputs): the
    padded frame-number form that Read nodes (`name.%04d.png`) and File nodes (`name.$F4.png`)
    expect; a wedge's label (`_seed_3`) goes where a File node's `$WEDGE` stands. A pattern token
    in place of the frame (`%04d`) or of the label (`$WEDGE`) is kept as it is: that is the path a
    node reads them all by."""
    stem = safe_name(name) + (label if label == WEDGE_VARIABLE else LABEL_UNSAFE.sub("_", label))
    shown = f"{frame:04d}" if isinstance(frame, int) else frame
    return folder / f"{stem if index == 0 else f'{stem}_{index}'}.{shown}{suffix}"


def file_format(mode: str, choice: str) -> Optional[str]:
    """The request's `output_format` for a node's mode and file choice (one of FILE_CHOICES):
    None (the model's default) for auto when generating, EXR for auto on data; a depth map's PNG
    is the 16-bit one (8 bits would band it)."""
    if choice not in FILE_CHOICES:
        raise ValueError(f"unknown file choice {choice!r}: one of {', '.join(FILE_CHOICES)}")
    if choice == AUTO:
        return None if mode == GENERATE else "exr"
    return "png16" if (mode, choice) == (DEPTH, "png") else choice


def image_request(
    model: str,
    prompt: str,
    seed: int = -1,
    width: int = 0,
    height: int = 0,
    steps: int = 0,
    image: Optional[str] = None,
    strength: Optional[float] = None,
    priority: Optional[str] = None,
    *,
    mode: str = GENERATE,
    output_format: Optional[str] = None,
) -> dict[str, Any]:
    """An images request from node parameters. DCC parameters cannot be empty, so the node's
    "unset" values mean the model's default: a negative seed (drawn by the platform), 0 for size
    and steps, a blank prompt (the platform says which models need one). Strength only applies
    with an input image. A utility mode (depth, matte) sends only what utilities read: its model
    (UTILITY_MODELS' when blank), the image and, for a matte, the prompt naming what to matte."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
    request: dict[str, Any] = {"model": model.strip() or UTILITY_MODELS.get(mode, "")}
    if prompt.strip() and mode != DEPTH:
        request["prompt"] = prompt
    if mode == GENERATE:
        request.update({key: value for key, value in {"width": width, "height": height, "steps": steps}.items() if value > 0})
        if seed >= 0:
            request["seed"] = seed
    if image:
        request["image"] = image
        if strength is not None and mode == GENERATE:
            request["strength"] = strength
    if output_format:
        request["output_format"] = output_format
    if priority:
        request["priority"] = priority
    return request


def task_label(record: TaskRecord) -> str:
    """A batch task's label, or its id where it has none: the key of its files in a BatchResult."""
    return record.label if isinstance(record.label, str) else record.id


def file_colorspaces(record: TaskRecord) -> list[Optional[str]]:
    """The colour space of each file output, in the order `Client.download` saves them: sRGB, the
    OCIO space of an EXR's colour (e.g. ACEScg), or RAW for data."""
    return [
        output.colorspace if isinstance(output.colorspace, str) else None for output in record.outputs or [] if isinstance(output.url, str)
    ]


def wedge_values(parm: str, text: str, seed: int = -1, count: int = 1) -> list[Any]:
    """The values a wedge over `parm` takes, from a node's text: prompts one per line; numbers
    separated by spaces or commas (seeds whole); seeds without a text are `count` seeds from the
    node's seed (from 0 when it is drawn). Raises ValueError saying what to change."""
    if parm not in WEDGE_PARMS:
        raise ValueError(f"cannot wedge {parm!r}: one of {', '.join(WEDGE_PARMS)}")
    if parm == "prompt":
        values: list[Any] = [line.strip() for line in text.splitlines() if line.strip()]
    elif not text.strip() and parm == "seed":
        values = list(range(max(seed, 0), max(seed, 0) + count))
    else:
        number = int if parm == "seed" else float
        try:
            values = [number(word) for word in re.split(r"[\s,]+", text.strip()) if word]
        except ValueError:
            raise ValueError(f"wedge values of {parm} must be {number.__name__} numbers, not {text.strip()!r}") from None
        if not all(math.isfinite(value) for value in values):
            raise ValueError(f"wedge values of {parm} must be finite numbers")
    if not values:
        raise ValueError(f"no wedge values: give the {parm} values to wedge")
    repeated = sorted({str(value) for value in values if values.count(value) > 1})
    if repeated:
        raise ValueError(f"wedge values repeat ({', '.join(repeated)}): each wedge needs its own value")
    return values


def wedge_label(parm: str, value: Any, index: int) -> str:
    """A wedge's name as Houdini's Wedge ROP sets `$WEDGE`: `_<parm>_<value>` (`_seed_3`,
    `_guidance_7.5`); a prompt, which makes no file name, by its index (`$WEDGENUM`): `_prompt_0`."""
    shown = str(index) if parm == "prompt" else f"{value:g}" if isinstance(value, float) else str(value)
    return LABEL_UNSAFE.sub("_", f"_{parm}_{shown}")


def wedge(parm: str, values: list[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Each wedge's request fields over the base request, and its label, in order."""
    return [{parm: value} for value in values], [wedge_label(parm, value, index) for index, value in enumerate(values)]


def status_text(record: TaskRecord) -> str:
    """One line for a node's status parameter: `queued (2 ahead)`, `running 3/20`, `succeeded`."""
    status = record.status.value
    if status == "queued" and isinstance(record.position, int):
        return f"queued ({record.position} ahead)"
    if status == "running" and record.progress and record.progress.total:
        return f"running {record.progress.step}/{record.progress.total}"
    return status


def ended(batch: BatchRecord) -> int:
    """How many of the batch's tasks have ended, whichever way."""
    return sum(1 for record in batch.tasks if is_terminal(record))


def batch_status_text(batch: BatchRecord) -> str:
    """One line for a node's status parameter while a batch runs: `queued 0/8`, `running 3/8 (41%)`."""
    if not batch.done and all(record.status.value == "queued" for record in batch.tasks):
        return f"queued 0/{len(batch.tasks)}"
    return f"{'done' if batch.done else 'running'} {ended(batch)}/{len(batch.tasks)} ({batch.fraction:.0%})"


@dataclass(frozen=True)
class JobResult:
    """How a job ended: `succeeded`, `failed` or `cancelled` (the task's status), or `error` when
    the platform refused or could not be reached (then `task_id` may be None)."""

    status: str
    task_id: Optional[str] = None
    paths: list[Path] = field(default_factory=list)
    error_code: Optional[str] = None
    error_message: Optional[str] = None
    record: Optional[TaskRecord] = None

    @property
    def colorspaces(self) -> list[Optional[str]]:
        """Each of `paths`' colour space (see `file_colorspaces`)."""
        return file_colorspaces(self.record) if self.paths and self.record is not None else []

    @property
    def summary(self) -> str:
        """`succeeded`, `failed: out_of_memory: …`, `cancelled: Cancelled while running.`"""
        return outcome_summary(self.status, self.error_code, self.error_message)


@dataclass(frozen=True)
class BatchResult:
    """How a batch job ended: `succeeded` when every task did, else `failed` when one failed, else
    `cancelled`; `error` when the platform refused or could not be reached (then `batch_id` may be
    None). `paths` are each succeeded task's files by its label, in the batch's order; the error is
    the first unsucceeded task's."""

    status: str
    batch_id: Optional[str] = None
    paths: dict[str, list[Path]] = field(default_factory=dict)
    error_code: Optional[str] = None
    error_message: Optional[str] = None
    record: Optional[BatchRecord] = None

    @property
    def colorspaces(self) -> dict[str, list[Optional[str]]]:
        """Each of `paths`' colour spaces, by the same labels (see `file_colorspaces`)."""
        tasks = {task_label(record): record for record in self.record.tasks} if self.record else {}
        return {label: file_colorspaces(tasks[label]) for label in self.paths}

    @property
    def summary(self) -> str:
        """`8/8 succeeded`, `6/8 succeeded; failed: lora_mismatch: …`, `error: priority_not_allowed: …`."""
        outcome = outcome_summary(self.status, self.error_code, self.error_message)
        if self.record is None:
            return outcome
        succeeded = sum(1 for record in self.record.tasks if record.status.value == "succeeded")
        counted = f"{succeeded}/{len(self.record.tasks)} succeeded"
        return counted if self.status == "succeeded" else f"{counted}; {outcome}"


ProgressCallback = Callable[[TaskRecord], None]
DeliverCallback = Callable[[JobResult], None]
BatchProgressCallback = Callable[[BatchRecord], None]
BatchDeliverCallback = Callable[[BatchResult], None]
# Where a batch task's output goes: (its label, the output's index, its extension) → the file.
OutputTarget = Callable[[str, int, str], Path]
Result = TypeVar("Result", JobResult, BatchResult)


class Job(ABC, Generic[Result]):
    """What both jobs share: a worker thread, cancelling from the UI thread, uploading inputs,
    moving downloads into place, and exactly one `deliver(result)` through `call_on_main`. The
    address and key default to DDIFFUSION_API_ADDRESS / DDIFFUSION_API_KEY."""

    def __init__(
        self,
        name: str,
        deliver: Callable[[Result], None],
        call_on_main: MainThreadCall,
        domain: str,
        address: Optional[str],
        api_key: Optional[str],
        timeout_s: Optional[float],
    ) -> None:
        self.name = name
        self.domain = domain
        self.timeout_s = timeout_s
        self.remote_id: Optional[str] = None  # the task's or batch's id once submitted
        self._deliver = deliver
        self._call_on_main = call_on_main
        self._address = address
        self._api_key = api_key
        self._uploaded: dict[str, str] = {}
        self._cancel_requested = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ddiffusion-{safe_name(name)}", daemon=True)

    def start(self) -> Job[Result]:
        self._thread.start()
        return self

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def cancel(self) -> None:
        """Asks the platform to cancel; the outcome still arrives through `deliver`. Safe to call
        from the UI thread: the request goes out on its own thread."""
        self._cancel_requested.set()
        # The worker also checks the flag right after submitting, so a cancel that races the
        # submit is sent by one side or the other (at worst by both; the second gets a 409).
        if self.remote_id is not None:
            threading.Thread(target=self._send_cancel, args=(self.remote_id,), daemon=True).start()

    def _send_cancel(self, remote_id: str) -> None:
        # Its own connection: the worker closes its client when the job ends, maybe meanwhile.
        try:
            with Client(self._address, self._api_key) as client:
                self._cancel_remote(client, remote_id)
        except ApiError:
            pass  # finished already, or unreachable: the worker's wait reports how it ended

    def _submitted(self, remote_id: str) -> None:
        self.remote_id = remote_id
        if self._cancel_requested.is_set():
            self._send_cancel(remote_id)

    def _run(self) -> None:
        try:
            with Client(self._address, self._api_key) as client:
                result = self._work(client) if not self._cancel_requested.is_set() else self._result("cancelled")
        except ApiError as exc:
            result = self._result("error", exc.code, exc.message)
        except Exception as exc:  # a full disk, a timeout, a bad request value: the host must hear of it
            result = self._result("error", type(exc).__name__, str(exc))
        self._call_on_main(lambda: self._deliver(result))

    def _on_main(self, callback: Optional[Callable[[Any], None]]) -> Optional[Callable[[Any], None]]:
        """`callback`, run on the main thread with the value the worker thread has."""
        if callback is None:
            return None
        return lambda value: self._call_on_main(lambda: callback(value))

    def _with_uploads(self, client: Client, request: Mapping[str, Any]) -> dict[str, Any]:
        """The request with local input files uploaded, each once per job (a batch may share one)."""
        request = dict(request)
        for key in INPUT_FIELDS:
            value = request.get(key)
            if isinstance(value, str):
                if value not in self._uploaded:
                    self._uploaded[value] = client.input_ref(value)
                request[key] = self._uploaded[value]
        return request

    @staticmethod
    def _save(client: Client, record: TaskRecord, folder: Path, target: Callable[[int, str], Path]) -> list[Path]:
        """Downloads the record's outputs into `folder`, then moves each to `target(index, suffix)`:
        a file is whole before it appears under its final name (a Read node never sees half a file)."""
        paths = []
        for index, downloaded in enumerate(client.download(record, folder)):
            path = target(index, downloaded.suffix)
            os.replace(downloaded, path)
            paths.append(path)
        return paths

    @abstractmethod
    def _work(self, client: Client) -> Result:
        """Submits, waits and saves the outputs; returns how it ended."""

    @abstractmethod
    def _result(self, status: str, code: Optional[str] = None, message: Optional[str] = None) -> Result:
        """An outcome without a record: cancelled before submitting, or an error."""

    @abstractmethod
    def _cancel_remote(self, client: Client, remote_id: str) -> None:
        """Cancels what was submitted."""


class BackgroundJob(Job[JobResult]):
    """One task from a node: `start()` returns at once; `on_progress(record)` and then exactly one
    `deliver(result)` run through `call_on_main`. Outputs are saved as `output_path(folder, name,
    frame, …)`."""

    def __init__(
        self,
        request: Mapping[str, Any],
        folder: Union[str, os.PathLike],
        name: str,
        deliver: DeliverCallback,
        call_on_main: MainThreadCall,
        *,
        domain: str = "images",
        frame: int = 1,
        on_progress: Optional[ProgressCallback] = None,
        address: Optional[str] = None,
        api_key: Optional[str] = None,
        timeout_s: Optional[float] = None,
    ) -> None:
        super().__init__(name, deliver, call_on_main, domain, address, api_key, timeout_s)
        self.request = dict(request)
        self.folder = Path(folder)
        self.frame = frame
        self._on_progress = on_progress

    @property
    def task_id(self) -> Optional[str]:
        return self.remote_id

    def _result(self, status: str, code: Optional[str] = None, message: Optional[str] = None) -> JobResult:
        return JobResult(status, self.task_id, error_code=code, error_message=message)

    def _cancel_remote(self, client: Client, remote_id: str) -> None:
        client.cancel(self.domain, remote_id)

    def _work(self, client: Client) -> JobResult:
        self._submitted(client.submit(self.domain, self._with_uploads(client, self.request)).id)
        record = client.wait(self.domain, self.remote_id, on_progress=self._on_main(self._on_progress), timeout_s=self.timeout_s)
        status = record.status.value
        if status != "succeeded":
            code, message = (record.error.code, record.error.message) if record.error else (None, None)
            return JobResult(status, record.id, error_code=code, error_message=message, record=record)
        folder = self.folder.resolve()
        paths = self._save(client, record, folder, lambda index, suffix: output_path(folder, self.name, self.frame, index, suffix))
        return JobResult(status, record.id, paths=paths, record=record)


class BatchJob(Job[BatchResult]):
    """One batch from a node (a wedge, a frame range): `base` is what every task shares,
    `requests[i]` task i's own fields and `labels[i]` its label. `start()` returns at once;
    `on_progress(batch)` on every change and then exactly one `deliver(result)` run through
    `call_on_main`. Each succeeded task's outputs are saved into `folder` at `target(label, index,
    suffix)`, e.g. `output_path(folder, name, frame, index, suffix, label=label)`."""

    def __init__(
        self,
        base: Mapping[str, Any],
        requests: list[Mapping[str, Any]],
        labels: list[str],
        folder: Union[str, os.PathLike],
        target: OutputTarget,
        name: str,
        deliver: BatchDeliverCallback,
        call_on_main: MainThreadCall,
        *,
        domain: str = "images",
        on_progress: Optional[BatchProgressCallback] = None,
        address: Optional[str] = None,
        api_key: Optional[str] = None,
        timeout_s: Optional[float] = None,
    ) -> None:
        if len(requests) != len(labels):
            raise ValueError(f"{len(labels)} labels for {len(requests)} requests: one label per task")
        super().__init__(name, deliver, call_on_main, domain, address, api_key, timeout_s)
        self.base = dict(base)
        self.requests = [dict(request) for request in requests]
        self.labels = list(labels)
        self.folder = Path(folder)
        self.target = target
        self._on_progress = on_progress

    @property
    def batch_id(self) -> Optional[str]:
        return self.remote_id

    def _result(self, status: str, code: Optional[str] = None, message: Optional[str] = None) -> BatchResult:
        return BatchResult(status, self.batch_id, error_code=code, error_message=message)

    def _cancel_remote(self, client: Client, remote_id: str) -> None:
        client.cancel_batch(remote_id)

    def _work(self, client: Client) -> BatchResult:
        base = self._with_uploads(client, self.base)
        requests = [self._with_uploads(client, request) for request in self.requests]
        self._submitted(client.submit_batch(self.domain, base, requests=requests, labels=self.labels).id)
        batch = client.wait_batch(self.remote_id, on_progress=self._on_main(self._on_progress), timeout_s=self.timeout_s)
        folder = self.folder.resolve()
        paths: dict[str, list[Path]] = {}
        for record in batch.tasks:
            if record.status.value == "succeeded":
                label = task_label(record)
                paths[label] = self._save(client, record, folder, partial(self.target, label))
        unsucceeded = [record for record in batch.tasks if record.status.value != "succeeded"]
        if not unsucceeded:
            return BatchResult("succeeded", batch.id, paths=paths, record=batch)
        status = "failed" if any(record.status.value == "failed" for record in unsucceeded) else "cancelled"
        first = next(record for record in unsucceeded if record.status.value == status)
        code, message = (first.error.code, first.error.message) if first.error else (None, None)
        return BatchResult(status, batch.id, paths=paths, error_code=code, error_message=message, record=batch)
