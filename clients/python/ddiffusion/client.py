"""A small layer on the generated client: settings from the environment, one error type,
upload, submit, wait with progress (SSE, polling when that fails), download, cancel, keys."""

from __future__ import annotations

import json
import mimetypes
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Optional, Union

import httpx

from deferred_diffusion_client import AuthenticatedClient
from deferred_diffusion_client.api.admin import create_key, list_keys, revoke_key, set_max_priority
from deferred_diffusion_client.api.batches import cancel_batch, create_batch, get_batch
from deferred_diffusion_client.api.files import upload_file
from deferred_diffusion_client.api.images import cancel_image, create_image, get_image, list_image_models
from deferred_diffusion_client.api.tasks import list_tasks
from deferred_diffusion_client.api.texts import cancel_text, create_text, get_text, list_text_models
from deferred_diffusion_client.api.videos import cancel_video, create_video, get_video, list_video_models
from deferred_diffusion_client.api.workflows import cancel_workflow, create_workflow, get_workflow, list_workflow_models
from deferred_diffusion_client.models import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyInfo,
    BatchCreated,
    BatchRecord,
    BatchRequest,
    Domain,
    ErrorResponse,
    FileUpload,
    FileUploaded,
    ImageRequest,
    ModelInfo,
    Priority,
    PriorityCap,
    TaskCreated,
    TaskPage,
    TaskRecord,
    TaskStatus,
    TextRequest,
    VideoRequest,
    WorkflowRequest,
)
from deferred_diffusion_client.types import UNSET, File, Response

DEFAULT_API_ADDRESS = "http://127.0.0.1:8000"
EVENTS_PATH = "/api/{domain}/{task_id}/events"
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
# What a request may name as an input without uploading it first.
INPUT_REF = re.compile(r"^(sha256:[0-9a-f]{64}|data:|https?://)")

ProgressCallback = Callable[[TaskRecord], None]


class ApiError(Exception):
    """The API refused or could not be reached: its `{error: {code, message}}`, and the HTTP status
    (None when no answer came back)."""

    def __init__(self, code: str, message: str, status: Optional[int] = None) -> None:
        super().__init__(f"{code}: {message}" if status is None else f"{status} {code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class DomainEndpoints:
    """The generated modules of one domain's routes, and its request model."""

    request: Any
    create: ModuleType
    get: ModuleType
    cancel: ModuleType
    models: ModuleType


DOMAINS = {
    "images": DomainEndpoints(ImageRequest, create_image, get_image, cancel_image, list_image_models),
    "texts": DomainEndpoints(TextRequest, create_text, get_text, cancel_text, list_text_models),
    "videos": DomainEndpoints(VideoRequest, create_video, get_video, cancel_video, list_video_models),
    "workflows": DomainEndpoints(WorkflowRequest, create_workflow, get_workflow, cancel_workflow, list_workflow_models),
}


@dataclass(frozen=True)
class ClientSettings:
    address: str = DEFAULT_API_ADDRESS
    api_key: Optional[str] = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ClientSettings:
        """`DDIFFUSION_API_ADDRESS` (default http://127.0.0.1:8000) and `DDIFFUSION_API_KEY`."""
        return cls(address=environ.get("DDIFFUSION_API_ADDRESS") or DEFAULT_API_ADDRESS, api_key=environ.get("DDIFFUSION_API_KEY") or None)


# Content types the stdlib's mimetypes does not map (it knows EXR only as image/aces).
EXTENSIONS = {"image/x-exr": ".exr"}
SEQUENCE_FILENAME = re.compile(r"[0-9a-f]+(-[0-9]+)?\.([0-9]{4,})\.([a-z0-9]+)")


def safe_name(name: str) -> str:
    """A task id or node name as a file or folder name: no separators, no `..`, nothing a shell
    or a frame-pattern parser (`#`, `$`, `%`) would read."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:100] or "ddiffusion"


def is_terminal(record: TaskRecord) -> bool:
    return record.status.value in TERMINAL_STATUSES


def outcome_summary(status: str, code: Optional[str] = None, message: Optional[str] = None) -> str:
    """`succeeded`, `failed: out_of_memory: …`, `cancelled: Cancelled while running.`: a code that
    only repeats the status (a cancelled task's `cancelled`) is said once."""
    details = [part for part in (code, message) if part and part != status]
    return ": ".join([status, *details])


def error_from_response(status: int, content: bytes, parsed: object = None) -> ApiError:
    if isinstance(parsed, ErrorResponse):
        return ApiError(parsed.error.code, parsed.error.message, int(status))
    try:
        error = json.loads(content)["error"]
        return ApiError(str(error["code"]), str(error["message"]), int(status))
    except (ValueError, KeyError, TypeError):
        # Not our envelope (a proxy's page, a crash): keep the start of it for the message.
        return ApiError("http_error", content[:200].decode("utf-8", "replace") or f"HTTP {status}", int(status))


class Client:
    """One platform, one key. `Client()` reads DDIFFUSION_API_ADDRESS and DDIFFUSION_API_KEY."""

    def __init__(self, address: Optional[str] = None, api_key: Optional[str] = None, timeout_s: float = 30.0) -> None:
        settings = ClientSettings.from_env()
        self.address = (address or settings.address).rstrip("/")
        self.timeout = httpx.Timeout(timeout_s)
        self.api = AuthenticatedClient(
            base_url=self.address,
            token=api_key or settings.api_key or "",
            prefix="",
            auth_header_name="X-API-Key",
            timeout=self.timeout,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.api.get_httpx_client().close()

    def _call(self, endpoint: ModuleType, *args: Any, **kwargs: Any) -> Any:
        """Runs a generated endpoint; returns the parsed body of a 2xx answer, raises ApiError otherwise."""
        try:
            response: Response[Any] = endpoint.sync_detailed(*args, client=self.api, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError("unreachable", f"No answer from {self.address}: {exc}") from exc
        if response.status_code >= 400:
            raise error_from_response(response.status_code, response.content, response.parsed)
        return response.parsed

    @staticmethod
    def _domain(domain: str) -> DomainEndpoints:
        if domain not in DOMAINS:
            raise ValueError(f"Unknown domain {domain!r}; one of {', '.join(DOMAINS)}.")
        return DOMAINS[domain]

    def upload(self, path: Union[str, os.PathLike], content_type: Optional[str] = None) -> FileUploaded:
        """Stores a local file on the platform; use the returned `ref` as an input."""
        path = Path(path)
        content_type = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with path.open("rb") as payload:
            body = FileUpload(file=File(payload=payload, file_name=path.name, mime_type=content_type))
            return self._call(upload_file, body=body)

    def input_ref(self, value: str) -> str:
        """A ref, data URL or http(s) URL as it is; anything else is a local file to upload first."""
        return value if INPUT_REF.match(value) else self.upload(value).ref

    def submit(self, domain: str, request: Mapping[str, Any], idempotency_key: Optional[str] = None) -> TaskCreated:
        endpoints = self._domain(domain)
        body = endpoints.request.from_dict(dict(request))
        return self._call(endpoints.create, body=body, idempotency_key=idempotency_key or UNSET)

    def get(self, domain: str, task_id: str) -> TaskRecord:
        return self._call(self._domain(domain).get, task_id)

    def cancel(self, domain: str, task_id: str) -> TaskRecord:
        return self._call(self._domain(domain).cancel, task_id)

    def tasks(
        self,
        domain: Optional[str] = None,
        status: Optional[str] = None,
        model: Optional[str] = None,
        since: Optional[datetime] = None,
        limit: int = 20,
        cursor: Optional[str] = None,
    ) -> TaskPage:
        """One page of this key's tasks, newest first; pass `next_cursor` back for the next one."""
        return self._call(
            list_tasks,
            domain=Domain(domain) if domain else UNSET,
            status=TaskStatus(status) if status else UNSET,
            model=model or UNSET,
            since=since or UNSET,
            limit=limit,
            cursor=cursor or UNSET,
        )

    def submit_batch(
        self,
        domain: str,
        base: Mapping[str, Any],
        vary: Optional[Mapping[str, Any]] = None,
        requests: Optional[list[Mapping[str, Any]]] = None,
        labels: Optional[list[str]] = None,
        webhook: Optional[Mapping[str, Any]] = None,
    ) -> BatchCreated:
        """Many tasks at once: `vary` maps fields to lists or {"from", "to", "step"} ranges (every
        combination is a task), or `requests` lists each task's fields over `base`."""
        body: dict[str, Any] = {"domain": domain, "base": dict(base)}
        if vary is not None:
            body["vary"] = dict(vary)
        if requests is not None:
            body["requests"] = [dict(item) for item in requests]
        if labels is not None:
            body["labels"] = list(labels)
        if webhook is not None:
            body["webhook"] = dict(webhook)
        return self._call(create_batch, body=BatchRequest.from_dict(body))

    def batch(self, batch_id: str) -> BatchRecord:
        return self._call(get_batch, batch_id)

    def cancel_batch(self, batch_id: str) -> BatchRecord:
        return self._call(cancel_batch, batch_id)

    def wait_batch(
        self,
        batch_id: str,
        on_progress: Optional[Callable[[BatchRecord], None]] = None,
        timeout_s: Optional[float] = None,
        poll_interval_s: float = 1.0,
    ) -> BatchRecord:
        """The batch once every task has ended; `on_progress` sees it whenever a poll finds it
        changed. Raises TimeoutError after `timeout_s`."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        last: Optional[dict[str, Any]] = None
        while True:
            record = self.batch(batch_id)
            current = record.to_dict()
            if on_progress and current != last:
                on_progress(record)
            last = current
            if record.done:
                return record
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"batch {batch_id} has not ended within {timeout_s:g}s")
            time.sleep(poll_interval_s)

    def models(self, domain: str) -> list[ModelInfo]:
        return self._call(self._domain(domain).models)

    def create_key(self, name: str, max_priority: Optional[str] = None) -> ApiKeyCreated:
        """A new key, its secret shown this once; `max_priority` caps what it may submit at."""
        return self._call(create_key, body=ApiKeyCreate(name=name, max_priority=Priority(max_priority) if max_priority else UNSET))

    def set_max_priority(self, key_id: str, max_priority: str) -> PriorityCap:
        """Caps a key's priority: its submits above it are refused (403 priority_not_allowed)."""
        return self._call(set_max_priority, key_id, body=PriorityCap(max_priority=Priority(max_priority)))

    def list_keys(self) -> list[ApiKeyInfo]:
        return self._call(list_keys)

    def revoke_key(self, key_id: str) -> None:
        self._call(revoke_key, key_id)

    def wait(
        self,
        domain: str,
        task_id: str,
        on_progress: Optional[ProgressCallback] = None,
        timeout_s: Optional[float] = None,
        stream: bool = True,
        poll_interval_s: float = 0.5,
    ) -> TaskRecord:
        """Returns the record once its status is terminal, calling `on_progress` on every change.

        Streams Server-Sent Events; when the stream cannot be opened or breaks (a proxy that does
        not pass SSE, a dropped connection), polls GET instead. Raises TimeoutError after `timeout_s`.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        last: Optional[dict[str, Any]] = None

        def changed(record: TaskRecord) -> bool:
            nonlocal last
            current = record.to_dict()
            if current == last:
                return False
            last = current
            if on_progress is not None:
                on_progress(record)
            return True

        if stream:
            try:
                for record in self._events(domain, task_id, deadline):
                    changed(record)
                    if is_terminal(record):
                        return record
            except (httpx.HTTPError, ValueError, KeyError):
                pass  # polling below answers the same question, and reports real API errors
        while True:
            record = self.get(domain, task_id)
            changed(record)
            if is_terminal(record):
                return record
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"Task {task_id} is still {record.status.value} after {timeout_s}s.")
            time.sleep(poll_interval_s)

    def _events(self, domain: str, task_id: str, deadline: Optional[float]) -> Iterator[TaskRecord]:
        """The task's records from its SSE stream. Parsed here rather than with an SSE library so
        the server's keep-alive comments let the deadline be checked while nothing changes."""
        self._domain(domain)
        path = EVENTS_PATH.format(domain=domain, task_id=task_id)
        # Reads may wait for the server's 10 s keep-alive pings; connecting may not wait long.
        timeout = httpx.Timeout(self.timeout.connect, read=max(30.0, self.timeout.read or 0.0))
        with self.api.get_httpx_client().stream("GET", path, headers={"Accept": "text/event-stream"}, timeout=timeout) as response:
            response.raise_for_status()
            data: list[str] = []
            for line in response.iter_lines():
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"Task {task_id} did not finish in time.")
                if line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
                elif not line and data:
                    yield TaskRecord.from_dict(json.loads("\n".join(data)))
                    data = []

    def download(self, record: TaskRecord, folder: Union[str, os.PathLike], name: Optional[str] = None) -> list[Path]:
        """Saves the record's file outputs into `folder` as `<name>-<n><ext>` (name: the task id
        by default), and the frames of an image sequence as `<name>.<frame:04d><ext>` (what a Nuke
        Read node or a Houdini COP reads as `<name>.####<ext>`); returns the paths. Signed URLs
        need no key, so none is sent (they may point at another host)."""
        folder = Path(folder).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        safe_id = safe_name(name or record.id)
        saved: list[Path] = []
        for index, output in enumerate(record.outputs or []):
            if not isinstance(output.url, str):
                continue
            content_type = output.content_type if isinstance(output.content_type, str) else ""
            media_type = content_type.split(";")[0].strip()
            extension = EXTENSIONS.get(media_type) or mimetypes.guess_extension(media_type) or ".bin"
            # The server names a sequence's frames <task id>[-<variation>].<frame:04d>.<ext>.
            sequence = SEQUENCE_FILENAME.fullmatch(str(output.to_dict().get("filename", "")))
            if sequence:
                variation, frame, extension = sequence.groups()
                target = folder / f"{safe_id}{variation or ''}.{frame}.{extension}"
            else:
                target = folder / f"{safe_id}-{index}{extension}"
            # A link planted at the target could point anywhere; write only into the folder itself.
            if target.resolve().parent != folder:
                raise ValueError(f"Refusing to write outside {folder}: {target}")
            partial = target.with_name(target.name + ".part")
            try:
                self._fetch(httpx.URL(self.address + "/").join(output.url), partial)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            partial.replace(target)
            saved.append(target)
        return saved

    def _fetch(self, url: httpx.URL, destination: Path) -> None:
        try:
            with httpx.stream("GET", url, timeout=self.timeout, follow_redirects=True) as response:
                if response.status_code >= 400:
                    raise error_from_response(response.status_code, response.read())
                with destination.open("wb") as file:
                    for chunk in response.iter_bytes():
                        file.write(chunk)
        except httpx.HTTPError as exc:
            raise ApiError("unreachable", f"Downloading {url} failed: {exc}") from exc
