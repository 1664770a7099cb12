"""Submitting from inside a DCC (Houdini, Nuke) without freezing it.

A `BackgroundJob` uploads, submits, waits and downloads on a worker thread. Progress and the
outcome reach the host through `call_on_main`, the host's way to run a function on its UI thread
(`nuke.executeInMainThread`, `hdefereval.executeDeferred`), because DCC scene APIs may only be
touched from there. The outcome is always delivered, errors included: an exception on a worker
thread would only reach a console nobody reads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

from ddiffusion.client import ApiError, Client, outcome_summary, safe_name
from deferred_diffusion_client.models import TaskRecord

MainThreadCall = Callable[[Callable[[], None]], None]
# Request fields that name input files: local paths among them are uploaded on the worker thread.
INPUT_FIELDS = ("image", "mask")


def output_folder(base: Union[str, os.PathLike], node_name: str) -> Path:
    """`<base>/ddiffusion/<node>`: one folder per node, e.g. under `$HIP` or next to a Nuke script."""
    return Path(base) / "ddiffusion" / safe_name(node_name)


def output_path(folder: Path, name: str, frame: int, index: int, suffix: str) -> Path:
    """`<name>.<frame:04d><ext>` (`<name>_<n>.…` for a task's further outputs): the padded
    frame-number form that Read nodes (`name.####.png`) and File nodes (`name.$F4.png`) expect."""
    stem = safe_name(name) if index == 0 else f"{safe_name(name)}_{index}"
    return folder / f"{stem}.{frame:04d}{suffix}"


def image_request(
    model: str,
    prompt: str,
    seed: int = -1,
    width: int = 0,
    height: int = 0,
    steps: int = 0,
    image: Optional[str] = None,
    strength: Optional[float] = None,
) -> dict[str, Any]:
    """An images request from node parameters. DCC parameters cannot be empty, so the node's
    "unset" values mean the model's default: a negative seed (drawn by the platform) and 0 for
    size and steps. Strength only applies with an input image."""
    request: dict[str, Any] = {"model": model.strip(), "prompt": prompt}
    request.update({key: value for key, value in {"width": width, "height": height, "steps": steps}.items() if value > 0})
    if seed >= 0:
        request["seed"] = seed
    if image:
        request["image"] = image
        if strength is not None:
            request["strength"] = strength
    return request


def status_text(record: TaskRecord) -> str:
    """One line for a node's status parameter: `queued (2 ahead)`, `running 3/20`, `succeeded`."""
    status = record.status.value
    if status == "queued" and isinstance(record.position, int):
        return f"queued ({record.position} ahead)"
    if status == "running" and record.progress and record.progress.total:
        return f"running {record.progress.step}/{record.progress.total}"
    return status


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
    def summary(self) -> str:
        """`succeeded`, `failed: out_of_memory: …`, `cancelled: Cancelled while running.`"""
        return outcome_summary(self.status, self.error_code, self.error_message)


ProgressCallback = Callable[[TaskRecord], None]
DeliverCallback = Callable[[JobResult], None]


class BackgroundJob:
    """One task from a node: `start()` returns at once; `on_progress(record)` and then exactly one
    `deliver(result)` run through `call_on_main`. Outputs are saved as `output_path(folder, name,
    frame, …)`, each written whole before it appears under its final name (a Read node never sees
    half a file). The address and key default to DDIFFUSION_API_ADDRESS / DDIFFUSION_API_KEY."""

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
        self.request = dict(request)
        self.folder = Path(folder)
        self.name = name
        self.frame = frame
        self.domain = domain
        self.timeout_s = timeout_s
        self.task_id: Optional[str] = None
        self._deliver = deliver
        self._on_progress = on_progress
        self._call_on_main = call_on_main
        self._address = address
        self._api_key = api_key
        self._cancel_requested = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ddiffusion-{safe_name(name)}", daemon=True)

    def start(self) -> BackgroundJob:
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
        if self.task_id is not None:
            threading.Thread(target=self._send_cancel, args=(self.task_id,), daemon=True).start()

    def _send_cancel(self, task_id: str) -> None:
        # Its own connection: the worker closes its client when the task ends, maybe meanwhile.
        try:
            with Client(self._address, self._api_key) as client:
                client.cancel(self.domain, task_id)
        except ApiError:
            pass  # finished already, or unreachable: the worker's wait reports how it ended

    def _run(self) -> None:
        try:
            with Client(self._address, self._api_key) as client:
                result = self._work(client)
        except ApiError as exc:
            result = JobResult("error", self.task_id, error_code=exc.code, error_message=exc.message)
        except Exception as exc:  # a full disk, a timeout, a bad request value: the host must hear of it
            result = JobResult("error", self.task_id, error_code=type(exc).__name__, error_message=str(exc))
        self._call_on_main(lambda: self._deliver(result))

    def _work(self, client: Client) -> JobResult:
        if self._cancel_requested.is_set():
            return JobResult("cancelled")
        request = dict(self.request)
        for key in INPUT_FIELDS:
            if isinstance(request.get(key), str):
                request[key] = client.input_ref(request[key])
        self.task_id = client.submit(self.domain, request).id
        if self._cancel_requested.is_set():
            self._send_cancel(self.task_id)
        on_progress = self._on_progress
        record = client.wait(
            self.domain,
            self.task_id,
            on_progress=None if on_progress is None else lambda update: self._call_on_main(lambda: on_progress(update)),
            timeout_s=self.timeout_s,
        )
        status = record.status.value
        if status != "succeeded":
            code, message = (record.error.code, record.error.message) if record.error else (None, None)
            return JobResult(status, record.id, error_code=code, error_message=message, record=record)
        paths = []
        for index, downloaded in enumerate(client.download(record, self.folder)):
            target = output_path(downloaded.parent, self.name, self.frame, index, downloaded.suffix)
            os.replace(downloaded, target)
            paths.append(target)
        return JobResult(status, record.id, paths=paths, record=record)
