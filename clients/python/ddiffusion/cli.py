"""`ddiffusion`: the platform from a shell. Exit codes scripts can rely on: 0 success, 1 the task
failed or was cancelled, 2 usage error, 3 API or connection error (or --timeout reached)."""

# No `from __future__ import annotations` here: typer on Python 3.9 reads the raw signature, and
# string annotations would hide the `Annotated[..., typer.Option(...)]` metadata from it.
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from ddiffusion.client import DEFAULT_API_ADDRESS, INPUT_REF, ApiError, Client, is_terminal, outcome_summary
from ddiffusion.jobs import ended
from deferred_diffusion_client.models import BatchRecord, Domain, ImageRequestSchedulerType0, Priority, TaskRecord

EXIT_TASK_FAILED = 1
EXIT_USAGE = 2
EXIT_API_ERROR = 3
SERVER_PROGRAM = "ddiffusion-server"
# What stops the server in order: passed on to it while this process waits for it (no SIGHUP on Windows).
SERVER_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
images_app = typer.Typer(no_args_is_help=True, help="Image tasks.")
texts_app = typer.Typer(no_args_is_help=True, help="Text (chat) tasks.")
videos_app = typer.Typer(no_args_is_help=True, help="Video tasks.")
workflows_app = typer.Typer(no_args_is_help=True, help="ComfyUI workflow tasks.")
tasks_app = typer.Typer(no_args_is_help=True, help="Any task by domain and id.")
batches_app = typer.Typer(no_args_is_help=True, help="Batches and wedges: many tasks of one domain, followed as one.")
models_app = typer.Typer(no_args_is_help=True, help="The model catalogue.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys (needs the admin key).")
for sub_app, name in [
    (images_app, "images"),
    (texts_app, "texts"),
    (videos_app, "videos"),
    (workflows_app, "workflows"),
    (tasks_app, "tasks"),
    (batches_app, "batches"),
    (models_app, "models"),
    (keys_app, "keys"),
]:
    app.add_typer(sub_app, name=name)

stderr = Console(stderr=True)
# What each failure asks the user to change, in the names the user sets them by.
NO_KEY = "no API key: set DDIFFUSION_API_KEY or pass --api-key (the admin creates keys: ddiffusion keys create NAME with the admin key)"
REFUSED_KEY = "set DDIFFUSION_API_KEY or pass --api-key with a key the admin created (ddiffusion keys create NAME)"
UNREACHABLE = "is the platform running there? Set DDIFFUSION_API_ADDRESS or pass --address"
# A LoRA's trailing `:SCALE`, e.g. `detail:0.8`.
LORA_SCALE = re.compile(r"-?(\d+(\.\d*)?|\.\d+)")


@dataclass
class Connection:
    address: str
    api_key: Optional[str]
    client: Optional[Client] = None

    def open(self, ctx: typer.Context) -> Client:
        if not self.api_key:
            raise ApiError("no_api_key", NO_KEY)
        if self.client is None:
            self.client = Client(self.address, self.api_key)
            ctx.call_on_close(self.client.close)
        return self.client


AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of text.")]
Wait = Annotated[bool, typer.Option("--wait", "-w", help="Wait for the task to finish, showing progress.")]
OutputDir = Annotated[Optional[Path], typer.Option("--output", "-o", help="Save the outputs into this folder (implies --wait).")]
Timeout = Annotated[Optional[float], typer.Option("--timeout", help="Give up waiting after this many seconds (exit 3).")]


@app.callback()
def connect(
    ctx: typer.Context,
    address: Annotated[str, typer.Option(envvar="DDIFFUSION_API_ADDRESS", help="The platform's base URL.")] = DEFAULT_API_ADDRESS,
    api_key: Annotated[Optional[str], typer.Option(envvar="DDIFFUSION_API_KEY", help="Your API key (or the admin key).")] = None,
) -> None:
    ctx.obj = Connection(address, api_key)


def client_of(ctx: typer.Context) -> Client:
    return ctx.find_object(Connection).open(ctx)


def echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def printable(text: str) -> str:
    """Server-supplied text as it may reach a terminal: control characters (an escape sequence
    could move the cursor, retitle the window or hide what came before) shown escaped, `\\x1b`;
    newlines and tabs kept."""
    return "".join(char if char.isprintable() or char in "\n\t" else char.encode("unicode_escape").decode("ascii") for char in text)


def say(label: str, text: str) -> None:
    """A `label: text` line on stderr; the text is shown as it is, never read as rich markup."""
    stderr.print(f"{label} {escape(printable(text))}", highlight=False, soft_wrap=True)  # one line each, for grep


def hint_for(exc: ApiError) -> Optional[str]:
    if exc.code == "unreachable":
        return UNREACHABLE
    if exc.status == 401:
        return REFUSED_KEY
    return None


@dataclass
class ErrorReport:
    """What `reporting_errors` adds to an error: how to find the task again once there is one."""

    resume: Optional[str] = None


@contextmanager
def reporting_errors(as_json: bool) -> Iterator[ErrorReport]:
    """Turns the layer's exceptions into a message and the documented exit code."""
    report = ErrorReport()
    try:
        yield report
    except ApiError as exc:
        hint = hint_for(exc)
        if as_json:
            error = {"code": exc.code, "message": exc.message, "status": exc.status}
            echo_json({"error": error | {key: value for key, value in (("hint", hint), ("resume", report.resume)) if value}})
        else:
            say("[red]error:[/]", f"{exc}; {hint}" if hint else str(exc))
        exit_with(EXIT_API_ERROR, report)
    except TimeoutError as exc:
        say("[red]timeout:[/]", str(exc))
        exit_with(EXIT_API_ERROR, report)
    except (ValueError, OSError) as exc:
        say("[red]usage:[/]", str(exc))
        raise typer.Exit(EXIT_USAGE) from None


def exit_with(code: int, report: ErrorReport) -> None:
    if report.resume:
        say("[yellow]the task goes on; follow it again with:[/]", report.resume)
    raise typer.Exit(code) from None


def wait_with_progress(client: Client, domain: str, task_id: str, as_json: bool, timeout_s: Optional[float]) -> TaskRecord:
    if as_json or not stderr.is_terminal:  # a bar in a log file or a pipe is only noise
        return client.wait(domain, task_id, timeout_s=timeout_s)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=True) as progress:
        bar: TaskID = progress.add_task(task_id, total=None)

        def show(record: TaskRecord) -> None:
            status = record.status.value
            if status == "queued" and isinstance(record.position, int):
                status = f"queued, {record.position} ahead"
            step, total = (record.progress.step, record.progress.total) if record.progress else (0, 0)
            progress.update(bar, description=f"{task_id} {status}", completed=step or 0, total=total or None)

        return client.wait(domain, task_id, on_progress=show, timeout_s=timeout_s)


def report(client: Client, record: TaskRecord, output: Optional[Path], as_json: bool) -> None:
    """Prints the outcome (downloading outputs first when asked) and exits 1 unless it succeeded."""
    succeeded = record.status.value == "succeeded"
    saved = client.download(record, output) if output is not None and succeeded else []
    if as_json:
        echo_json({"id": record.id, "status": record.status.value, "files": [str(path) for path in saved], "record": record.to_dict()})
    else:
        for result in record.outputs or []:
            if isinstance(result.text, str):
                typer.echo(printable(result.text))
        for path in saved:
            typer.echo(str(path))
        if not succeeded:
            code, message = (record.error.code, record.error.message) if record.error else (None, None)
            say("[red]error:[/]" if record.status.value == "failed" else "[yellow]note:[/]", outcome_summary(record.status.value, code, message))
    if not succeeded:
        raise typer.Exit(EXIT_TASK_FAILED)


def submit(
    ctx: typer.Context, domain: str, request: dict[str, Any], wait: bool, output: Optional[Path], as_json: bool, timeout_s: Optional[float]
) -> None:
    """Submits; without waiting prints the task id, otherwise waits, downloads and reports. The id
    and how to follow the task are printed before waiting, so a lost connection never loses it."""
    with reporting_errors(as_json) as errors:
        client = client_of(ctx)
        request = {name: value for name, value in request.items() if value is not None}
        created = client.submit(domain, request)
        if not (wait or output is not None):
            echo_json(created.to_dict()) if as_json else typer.echo(created.id)
            return
        errors.resume = watch_command(domain, created.id, output)
        say("[green]submitted[/]", f"{created.id}; follow it with: {errors.resume}")
        report(client, wait_with_progress(client, domain, created.id, as_json, timeout_s), output, as_json)


def watch_command(domain: str, task_id: str, output: Optional[Path]) -> str:
    return f"ddiffusion tasks watch {domain} {shlex.quote(task_id)}" + ("" if output is None else f" -o {shlex.quote(str(output))}")


def input_ref(ctx: typer.Context, value: Optional[str], as_json: bool) -> Optional[str]:
    """A local path is uploaded first; refs and URLs pass as they are."""
    if value is None:
        return None
    with reporting_errors(as_json):
        return client_of(ctx).input_ref(value)


# Options named as the API names the request's fields (`num_frames` → `--num-frames`);
# tests/clients/test_cli_options.py holds every request field of openapi.json to one.
NegativePrompt = Annotated[Optional[str], typer.Option(help="What to keep out of it.")]
Width = Annotated[Optional[int], typer.Option(help="Pixels (snapped to the model's multiple); the model's default when unset.")]
Height = Annotated[Optional[int], typer.Option(help="Pixels, like --width.")]
Steps = Annotated[Optional[int], typer.Option(help="Denoising steps; the model's default when unset.")]
Guidance = Annotated[Optional[float], typer.Option(help="Guidance scale; the model's default when unset.")]
Seed = Annotated[Optional[int], typer.Option(help="Repeatable results; drawn (and recorded) when unset.")]
WebhookUrl = Annotated[Optional[str], typer.Option(help="POST the record here when the task starts or ends (signed; see `--webhook-event`).")]
WebhookEvents = Annotated[
    Optional[list[str]], typer.Option(help="running, succeeded, failed, cancelled (batches: batch_completed); repeatable. Default: the ends.")
]


def webhook_of(url: Optional[str], events: Optional[list[str]]) -> dict[str, Any]:
    if not url:
        return {}
    return {"webhook": {"url": url, **({"events": events} if events else {})}}


PriorityOption = Annotated[
    Optional[Priority],
    typer.Option(help="What starts next: interactive before normal (the default) before batch; the admin may cap a key's."),
]


def priority_of(priority: Optional[Priority]) -> dict[str, Any]:
    return {"priority": priority.value} if priority else {}


NumOutputs = Annotated[Optional[int], typer.Option(min=1, max=8, help="Variations in one task: output i has seed SEED + i.")]


def parse_lora(ctx: typer.Context, text: str, as_json: bool) -> dict[str, Any]:
    """`NAME[:SCALE]` (a file in the platform's LoRA dir), `sha256:…[:SCALE]` (from POST /api/files),
    or a local `FILE.safetensors[:SCALE]`, uploaded first."""
    target, separator, scale = text.rpartition(":")
    if not separator or target == "sha256" or not LORA_SCALE.fullmatch(scale):
        target, scale = text, ""
    spec: dict[str, Any] = {"name": target}
    if INPUT_REF.match(target) or target.endswith(".safetensors"):
        spec = {"ref": input_ref(ctx, target, as_json)}
    return spec | ({"scale": float(scale)} if scale else {})


def parse_point(text: str) -> dict[str, Any]:
    """`X,Y[,LABEL]`: a click in the image's pixels; LABEL 1 on the object (the default), 0 off it."""
    try:
        x, y, *label = (float(part) for part in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not X,Y[,LABEL] (numbers, e.g. 120,80 or 120,80,0).") from None
    if label not in ([], [0], [1]):
        raise typer.BadParameter(f"{text!r} is not X,Y[,LABEL]: LABEL is 1 (on the object) or 0 (off it).")
    return {"x": x, "y": y, "label": int(label[0]) if label else 1}


def parse_box(text: str) -> dict[str, float]:
    """`X0,Y0,X1,Y1`: a box's top-left and bottom-right corners in the image's pixels."""
    try:
        x0, y0, x1, y1 = (float(part) for part in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not X0,Y0,X1,Y1 (four numbers: top-left, then bottom-right).") from None
    return {"x0": x0, "y0": y0, "x1": x1, "y1": y1}


@images_app.command("create")
def create_image(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="e.g. tiny-sd, sd-1.5, sdxl (see `ddiffusion models list images`).")],
    prompt: Annotated[Optional[str], typer.Option(help="What to make (generators need it); sam-3: what to matte.")] = None,
    negative_prompt: NegativePrompt = None,
    width: Width = None,
    height: Height = None,
    steps: Steps = None,
    guidance: Guidance = None,
    seed: Seed = None,
    num_outputs: NumOutputs = None,
    scheduler: Annotated[Optional[ImageRequestSchedulerType0], typer.Option(help="Where the model offers a choice.")] = None,
    image: Annotated[Optional[str], typer.Option(help="Init image: a local file (uploaded), a sha256: ref or a URL.")] = None,
    reference: Annotated[
        Optional[list[str]],
        typer.Option(help="An extra image for an edit of --image (flux-2, flux-2-klein, qwen-image-edit), like --image; repeatable."),
    ] = None,
    mask: Annotated[Optional[str], typer.Option(help="Inpainting mask, like --image: white is repainted, black kept.")] = None,
    strength: Annotated[Optional[float], typer.Option(help="How much of --image is repainted (0-1].")] = None,
    lora: Annotated[
        Optional[list[str]],
        typer.Option(metavar="NAME[:SCALE]", help="NAME[:SCALE] from the platform's LoRA dir, a sha256: ref or a local .safetensors; repeatable."),
    ] = None,
    point: Annotated[
        Optional[list[str]], typer.Option(metavar="X,Y[,LABEL]", help="sam-2: a click on --image (LABEL 1 on the object, 0 off it); repeatable.")
    ] = None,
    box: Annotated[Optional[list[str]], typer.Option(metavar="X0,Y0,X1,Y1", help="sam-2: a box around an object in --image; repeatable.")] = None,
    matte: Annotated[Optional[str], typer.Option(help="sam-2 / sam-3: mask (8-bit matte, the default) or alpha (--image as RGBA).")] = None,
    scale: Annotated[Optional[int], typer.Option(help="Upscalers: 2 or 4, the model's own factor.")] = None,
    output_format: Annotated[
        Optional[str],
        typer.Option(help="png (8-bit), png16, exr (float, scene-linear via the platform's OCIO config), jpeg or webp; the model's default when unset."),
    ] = None,
    quality: Annotated[Optional[int], typer.Option(min=1, max=100, help="jpeg and webp: 1 (smallest) to 100 (best).")] = None,
    priority: PriorityOption = None,
    webhook: WebhookUrl = None,
    webhook_event: WebhookEvents = None,
    wait: Wait = False,
    output: OutputDir = None,
    as_json: AsJson = False,
    timeout: Timeout = None,
) -> None:
    """Submit an image task."""
    request = {
        "model": model,
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "width": width,
        "height": height,
        "steps": steps,
        "guidance": guidance,
        "seed": seed,
        "num_outputs": num_outputs,
        "scheduler": scheduler.value if scheduler else None,
        "image": input_ref(ctx, image, as_json),
        "references": [input_ref(ctx, item, as_json) for item in reference] if reference else None,
        "mask": input_ref(ctx, mask, as_json),
        "strength": strength,
        "loras": [parse_lora(ctx, item, as_json) for item in lora] if lora else None,
        "points": [parse_point(item) for item in point] if point else None,
        "boxes": [parse_box(item) for item in box] if box else None,
        "matte": matte,
        "scale": scale,
        "output_format": output_format,
        "quality": quality,
    }
    submit(ctx, "images", request | priority_of(priority) | webhook_of(webhook, webhook_event), wait, output, as_json, timeout)


@texts_app.command("create")
def create_text(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="e.g. tiny-llm, qwen-2.5, gpt-4o (see `ddiffusion models list texts`).")],
    prompt: Annotated[str, typer.Option(help="The user message.")],
    system: Annotated[Optional[str], typer.Option(help="A system message before it.")] = None,
    image: Annotated[
        Optional[list[str]], typer.Option(help="An image shown with the prompt, for vision models: a local file, a sha256: ref or a URL; repeatable.")
    ] = None,
    max_tokens: Annotated[Optional[int], typer.Option(help="The longest answer, in tokens.")] = None,
    temperature: Annotated[Optional[float], typer.Option(help="0 for the likeliest answer, up to 2.")] = None,
    seed: Seed = None,
    priority: PriorityOption = None,
    webhook: WebhookUrl = None,
    webhook_event: WebhookEvents = None,
    wait: Wait = False,
    output: OutputDir = None,
    as_json: AsJson = False,
    timeout: Timeout = None,
) -> None:
    """Submit a chat task; with --wait the answer is printed."""
    images = [{"type": "image", "image": input_ref(ctx, item, as_json)} for item in image or []]
    content: Any = [{"type": "text", "text": prompt}, *images] if images else prompt
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": content}]
    request = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": temperature, "seed": seed}
    submit(ctx, "texts", request | priority_of(priority) | webhook_of(webhook, webhook_event), wait, output, as_json, timeout)


@videos_app.command("create")
def create_video(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="See `ddiffusion models list videos`.")],
    prompt: Annotated[str, typer.Option(help="What to make.")],
    negative_prompt: NegativePrompt = None,
    image: Annotated[Optional[str], typer.Option(help="First frame: a local file (uploaded), a sha256: ref or a URL.")] = None,
    width: Width = None,
    height: Height = None,
    num_frames: Annotated[Optional[int], typer.Option(help="Number of frames; the model's default when unset.")] = None,
    fps: Annotated[Optional[int], typer.Option(help="Frames per second of the MP4.")] = None,
    steps: Steps = None,
    guidance: Guidance = None,
    seed: Seed = None,
    num_outputs: NumOutputs = None,
    output_format: Annotated[
        Optional[str],
        typer.Option(help="mp4, or png_sequence / exr_sequence: one file per frame, saved by -o as <task id>.<frame>.png|exr."),
    ] = None,
    start_frame: Annotated[Optional[int], typer.Option(min=0, help="A sequence's first frame number (the platform's default: 1001).")] = None,
    priority: PriorityOption = None,
    webhook: WebhookUrl = None,
    webhook_event: WebhookEvents = None,
    wait: Wait = False,
    output: OutputDir = None,
    as_json: AsJson = False,
    timeout: Timeout = None,
) -> None:
    """Submit a video task."""
    request = {
        "model": model,
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "image": input_ref(ctx, image, as_json),
        "width": width,
        "height": height,
        "num_frames": num_frames,
        "fps": fps,
        "steps": steps,
        "guidance": guidance,
        "seed": seed,
        "num_outputs": num_outputs,
        "output_format": output_format,
        "start_frame": start_frame,
    }
    submit(ctx, "videos", request | priority_of(priority) | webhook_of(webhook, webhook_event), wait, output, as_json, timeout)


def parse_assignment(text: str) -> tuple[str, str]:
    name, separator, value = text.partition("=")
    if not separator or not name:
        raise typer.BadParameter(f"{text!r} is not NAME=VALUE.")
    return name, value


def parse_patches(patches: list[str]) -> dict[str, dict[str, Any]]:
    """`NODE.INPUT=VALUE` items, VALUE read as JSON where it is JSON (768, true) and as text otherwise."""
    parsed: dict[str, dict[str, Any]] = {}
    for patch in patches:
        target, value = parse_assignment(patch)
        node, dot, input_name = target.rpartition(".")
        if not dot or not node or not input_name:
            raise typer.BadParameter(f"{patch!r} is not NODE.INPUT=VALUE.")
        try:
            parsed.setdefault(node, {})[input_name] = json.loads(value)
        except ValueError:
            parsed.setdefault(node, {})[input_name] = value
    return parsed


@workflows_app.command("create")
def create_workflow(
    ctx: typer.Context,
    template: Annotated[Optional[str], typer.Option(help="A trusted template from comfy_sidecar/workflows/, e.g. txt2img.")] = None,
    workflow: Annotated[Optional[Path], typer.Option(help="Your own API-format ComfyUI graph (a JSON file).")] = None,
    patch: Annotated[
        Optional[list[str]], typer.Option(help="NODE.INPUT=VALUE, by node title or id; repeatable. VALUE is JSON or text.")
    ] = None,
    input_files: Annotated[
        Optional[list[str]], typer.Option("--input", help="NODE=FILE|REF: an input file for a LoadImage node; repeatable.")
    ] = None,
    model: Annotated[Optional[str], typer.Option(help="The ComfyUI backend (default: the server's).")] = None,
    priority: PriorityOption = None,
    webhook: WebhookUrl = None,
    webhook_event: WebhookEvents = None,
    wait: Wait = False,
    output: OutputDir = None,
    as_json: AsJson = False,
    timeout: Timeout = None,
) -> None:
    """Submit a ComfyUI workflow task: --template NAME or --workflow FILE, with --patch and --input."""
    if (template is None) == (workflow is None):
        raise typer.BadParameter("Give exactly one of --template or --workflow.")
    inputs = dict(parse_assignment(item) for item in input_files or [])
    request = {
        "model": model,
        "template": template,
        "workflow": json.loads(workflow.read_text()) if workflow is not None else None,
        "patches": parse_patches(patch or []),
        "inputs": {node: input_ref(ctx, value, as_json) for node, value in inputs.items()},
    }
    submit(ctx, "workflows", request | priority_of(priority) | webhook_of(webhook, webhook_event), wait, output, as_json, timeout)


def print_record(record: TaskRecord) -> None:
    typer.echo(printable(f"{record.id}  {record.domain.value}  {record.model}  {record.status.value}"))
    if record.progress and record.progress.total:
        typer.echo(f"progress  {record.progress.step}/{record.progress.total}")
    if record.error:
        typer.echo(printable(f"error  {outcome_summary(record.status.value, record.error.code, record.error.message)}"))
    for line in record.logs or []:
        typer.echo(printable(f"log  {line}"))
    for result in record.outputs or []:
        typer.echo(printable(result.url if isinstance(result.url, str) else str(result.text)))


@tasks_app.command("get")
def get_task(ctx: typer.Context, domain: Domain, task_id: str, as_json: AsJson = False) -> None:
    """Show a task's record."""
    with reporting_errors(as_json):
        record = client_of(ctx).get(domain.value, task_id)
    echo_json(record.to_dict()) if as_json else print_record(record)


@tasks_app.command("cancel")
def cancel_task(ctx: typer.Context, domain: Domain, task_id: str, as_json: AsJson = False) -> None:
    """Cancel a task: a queued one never runs, a running one stops at its next step."""
    with reporting_errors(as_json):
        record = client_of(ctx).cancel(domain.value, task_id)
    echo_json(record.to_dict()) if as_json else print_record(record)


@tasks_app.command("list")
def list_tasks(
    ctx: typer.Context,
    domain: Annotated[Optional[Domain], typer.Option(help="Only this domain's tasks.")] = None,
    status: Annotated[Optional[str], typer.Option(help="queued, running, succeeded, failed or cancelled.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Only this model's tasks.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Tasks per page.")] = 20,
    cursor: Annotated[Optional[str], typer.Option(help="`next` of the previous page.")] = None,
    as_json: AsJson = False,
) -> None:
    """List your tasks, newest first (a page; the last line says how to get the next)."""
    with reporting_errors(as_json):
        page = client_of(ctx).tasks(domain.value if domain else None, status, model, limit=limit, cursor=cursor)
    if as_json:
        echo_json(page.to_dict())
        return
    # Ids are what users copy next: never wrapped; the rest gives way in a narrow terminal.
    table = Table(Column("id", no_wrap=True, min_width=32), "domain", Column("model", overflow="fold"), "status", Column("created", overflow="fold"))
    for record in page.tasks:
        cells = [record.id, record.domain.value, record.model, record.status.value, record.created_at.isoformat(timespec="seconds")]
        table.add_row(*(escape(printable(cell)) for cell in cells))
    Console().print(table)
    if isinstance(page.next_cursor, str):
        typer.echo(f"next: ddiffusion tasks list --cursor {page.next_cursor}" + (f" --limit {limit}" if limit != 20 else ""))


@tasks_app.command("watch")
def watch_task(
    ctx: typer.Context,
    domain: Domain,
    task_id: str,
    output: OutputDir = None,
    as_json: AsJson = False,
    timeout: Timeout = None,
) -> None:
    """Wait for a task with a progress bar; exit 0 when it succeeded, 1 otherwise."""
    with reporting_errors(as_json) as errors:
        errors.resume = watch_command(domain.value, task_id, output)
        client = client_of(ctx)
        record = client.get(domain.value, task_id)
        if not is_terminal(record):
            record = wait_with_progress(client, domain.value, task_id, as_json, timeout)
        report(client, record, output, as_json)


def json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def parse_vary(text: str) -> tuple[str, Any]:
    """`FIELD=A..B` or `FIELD=A..B:STEP` (a range, both ends included) or `FIELD=V1,V2,…`."""
    name, value = parse_assignment(text)
    if match := re.fullmatch(r"(-?[\d.]+)\.\.(-?[\d.]+)(?::([\d.]+))?", value):
        start, stop, step = (json.loads(part) for part in (match.group(1), match.group(2), match.group(3) or "1"))
        return name, {"from": start, "to": stop, "step": step}
    return name, [json_or_text(part) for part in value.split(",")]


def print_batch(batch: BatchRecord) -> None:
    counts = ", ".join(f"{count} {status}" for status, count in batch.counts.to_dict().items() if count)
    typer.echo(printable(f"{batch.id}  {batch.domain.value}  {'done' if batch.done else 'running'}  {counts}"))
    for record in batch.tasks:
        label = record.label if isinstance(record.label, str) else "-"
        typer.echo(printable(f"{label}  {record.id}  {record.status.value}"))


def follow_batch(client: Client, batch_id: str, output: Optional[Path], as_json: bool, timeout_s: Optional[float]) -> None:
    """Waits (a bar of the whole batch: tasks ended of all, and the progress over all tasks),
    downloads each task's outputs as `<label or task id>-<n>` and exits 1 unless every task succeeded."""
    if as_json or not stderr.is_terminal:
        batch = client.wait_batch(batch_id, timeout_s=timeout_s)
    else:
        columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
        with Progress(*columns, console=stderr, transient=True) as progress:
            bar = progress.add_task(batch_id, total=None)

            def show(record: BatchRecord) -> None:
                # The bar moves with the steps of running tasks too, not only when a task ends.
                description = f"{batch_id} {ended(record)}/{len(record.tasks)} tasks done"
                progress.update(bar, description=description, completed=record.fraction, total=1.0)

            batch = client.wait_batch(batch_id, on_progress=show, timeout_s=timeout_s)
    saved: list[Path] = []
    if output is not None:
        for record in batch.tasks:
            if record.status.value == "succeeded":
                saved += client.download(record, output, name=record.label if isinstance(record.label, str) else None)
    if as_json:
        echo_json({"id": batch.id, "files": [str(path) for path in saved], "batch": batch.to_dict()})
    else:
        print_batch(batch)
        for path in saved:
            typer.echo(str(path))
    if any(record.status.value != "succeeded" for record in batch.tasks):
        raise typer.Exit(EXIT_TASK_FAILED)


@batches_app.command("create")
def create_batch(
    ctx: typer.Context,
    domain: Domain,
    field: Annotated[
        Optional[list[str]], typer.Option("--set", metavar="FIELD=VALUE", help="A field every task shares (JSON where it is JSON); repeatable.")
    ] = None,
    vary: Annotated[
        Optional[list[str]],
        typer.Option(metavar="FIELD=A..B[:STEP] | FIELD=V1,V2", help="Values of one field; every combination is a task. Repeatable."),
    ] = None,
    label: Annotated[Optional[list[str]], typer.Option(help="One per task, in order (frame numbers, wedge names); repeatable.")] = None,
    priority: PriorityOption = None,
    webhook: WebhookUrl = None,
    webhook_event: WebhookEvents = None,
    wait: Wait = False,
    output: OutputDir = None,
    as_json: AsJson = False,
    timeout: Timeout = None,
) -> None:
    """Submit a batch, e.g. `ddiffusion batches create images --set model=tiny-sd --set prompt=teapot --vary seed=1..8`."""
    base = {name: json_or_text(value) for name, value in map(parse_assignment, field or [])} | priority_of(priority)
    varied = dict(map(parse_vary, vary or []))
    with reporting_errors(as_json) as errors:
        client = client_of(ctx)
        created = client.submit_batch(domain.value, base, vary=varied, labels=label or None, **webhook_of(webhook, webhook_event))
        if not (wait or output is not None):
            echo_json(created.to_dict()) if as_json else typer.echo(created.id)
            return
        errors.resume = f"ddiffusion batches watch {shlex.quote(created.id)}" + ("" if output is None else f" -o {shlex.quote(str(output))}")
        say("[green]submitted[/]", f"{created.id} ({len(created.tasks)} tasks); follow it with: {errors.resume}")
        follow_batch(client, created.id, output, as_json, timeout)


@batches_app.command("get")
def get_batch(ctx: typer.Context, batch_id: str, as_json: AsJson = False) -> None:
    """Show a batch: counts by status and every task with its label."""
    with reporting_errors(as_json):
        batch = client_of(ctx).batch(batch_id)
    echo_json(batch.to_dict()) if as_json else print_batch(batch)


@batches_app.command("watch")
def watch_batch(ctx: typer.Context, batch_id: str, output: OutputDir = None, as_json: AsJson = False, timeout: Timeout = None) -> None:
    """Wait for a batch with a progress bar; exit 0 when every task succeeded, 1 otherwise."""
    with reporting_errors(as_json):
        follow_batch(client_of(ctx), batch_id, output, as_json, timeout)


@batches_app.command("cancel")
def cancel_batch(ctx: typer.Context, batch_id: str, as_json: AsJson = False) -> None:
    """Cancel every unfinished task of a batch."""
    with reporting_errors(as_json):
        batch = client_of(ctx).cancel_batch(batch_id)
    echo_json(batch.to_dict()) if as_json else print_batch(batch)


@models_app.command("list")
def list_models(ctx: typer.Context, domain: Annotated[Optional[Domain], typer.Argument()] = None, as_json: AsJson = False) -> None:
    """List models (of one domain, or all) and whether they are available here."""
    with reporting_errors(as_json):
        client = client_of(ctx)
        models = [model for each in ([domain] if domain else list(Domain)) for model in client.models(each.value)]
    if as_json:
        echo_json([model.to_dict() for model in models])
        return
    # Names are what users type next: fold long ones rather than cut them short.
    table = Table(Column("name", overflow="fold"), "domain", "queue", "available", "capabilities")
    for model in models:
        cells = [model.name, model.domain.value, model.queue.value, "yes" if model.available else "no", ", ".join(model.capabilities)]
        table.add_row(*(escape(printable(cell)) for cell in cells))
    Console().print(table)


@keys_app.command("create")
def create_key(
    ctx: typer.Context,
    name: str,
    max_priority: Annotated[Optional[Priority], typer.Option(help="The highest priority it may submit at (default: interactive, any).")] = None,
    as_json: AsJson = False,
) -> None:
    """Create a key; it is shown this once."""
    with reporting_errors(as_json):
        created = client_of(ctx).create_key(name, max_priority.value if max_priority else None)
    echo_json(created.to_dict()) if as_json else typer.echo(printable(f"{created.id}  {created.key}"))


@keys_app.command("list")
def list_keys(ctx: typer.Context, as_json: AsJson = False) -> None:
    """List keys (without secrets)."""
    with reporting_errors(as_json):
        keys = client_of(ctx).list_keys()
    if as_json:
        echo_json([key.to_dict() for key in keys])
        return
    for key in keys:
        cap = key.max_priority if isinstance(key.max_priority, Priority) else Priority.INTERACTIVE  # unset: no cap
        typer.echo(printable(f"{key.id}  {key.name}  {key.created_at.isoformat()}  max {cap}"))


@keys_app.command("priority")
def set_key_priority(ctx: typer.Context, key_id: str, max_priority: Priority, as_json: AsJson = False) -> None:
    """Cap a key's priority: its submits above the cap are refused (403 priority_not_allowed)."""
    with reporting_errors(as_json):
        cap = client_of(ctx).set_max_priority(key_id, max_priority.value)
    echo_json({"id": key_id} | cap.to_dict()) if as_json else typer.echo(f"{key_id}  max {cap.max_priority}")


@keys_app.command("revoke")
def revoke_key(ctx: typer.Context, key_id: str, as_json: AsJson = False) -> None:
    """Revoke a key; it is refused at once."""
    with reporting_errors(as_json):
        client_of(ctx).revoke_key(key_id)
    echo_json({"id": key_id, "revoked": True}) if as_json else typer.echo(f"revoked {key_id}")


@models_app.command("pull", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def pull_model(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="e.g. sdxl, flux-1 (a family pulls each of its models), tiny-sd (built).")],
) -> None:
    """Fetch a model's weights onto this machine ahead of time, where its gpu workers look: the Hugging Face
    cache, or --models-dir DIR (workers read it with DDIFFUSION_MODELS_DIR=DIR; copy DIR to an air-gapped site).
    Runs on the worker machine and needs the server package; HF_TOKEN for gated models."""
    run_server(ctx, "`ddiffusion models pull` fetches weights for the workers with the server package", ["models", "pull", name])


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def serve(ctx: typer.Context) -> None:
    """Run the platform on this machine (needs the server package: see `ddiffusion-server`)."""
    run_server(ctx, "`ddiffusion serve` runs the platform itself", ["serve"])


def run_server(ctx: typer.Context, what: str, command: list[str]) -> None:
    """Runs the server's program, `ddiffusion-server`, where the server package is installed, and exits with its code."""
    program = server_program()
    if program is None:
        stderr.print(
            f"{what}, which is not installed here (no `{SERVER_PROGRAM}` next to {sys.executable} or on PATH): this is the client only.\n"
            "Install the server from a checkout of the repository with `pip install -e .` (or run `make run` there),\n"
            "or point this client at a running platform with DDIFFUSION_API_ADDRESS.",
            highlight=False,
        )
        raise typer.Exit(EXIT_USAGE)
    server = subprocess.Popen([program, *command, *ctx.args])
    # A Ctrl-C at the terminal reaches the server too; a signal sent to this process only is passed on.
    # Either way the server stops in order and this process waits for it.
    previous = {signum: signal.signal(signum, lambda signum, frame: server.send_signal(signum)) for signum in SERVER_STOP_SIGNALS}
    try:
        code = server.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    raise typer.Exit(code if code >= 0 else 128 - code)  # killed by signal N: 128 + N, as a shell says


def server_program() -> Optional[str]:
    """`ddiffusion-server` of this Python's environment, else the first one on PATH."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])
    return shutil.which(SERVER_PROGRAM, path=search)


def main() -> None:
    app(prog_name="ddiffusion")
