"""The server's console script, `ddiffusion-server serve | worker | logs [NAME] | models pull NAME`; the
client's `ddiffusion serve` and `ddiffusion models pull` call it too."""

import argparse
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from core.schemas import Queue
from core.settings import Settings
from server.launcher import logs_dir, run_workers, serve

EXIT_USAGE = 2


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        # An invalid setting is the studio's to fix: say which and why, not where in pydantic it was found.
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else ""
            env = name if name.startswith("DDIFFUSION_") else f"DDIFFUSION_{name.upper()}"
            print(f"ddiffusion: {env} is invalid: {error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return EXIT_USAGE


def run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="ddiffusion-server", description="deferred-diffusion platform")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="start Redis (embedded unless DDIFFUSION_REDIS_URL is set), the api and the workers")
    worker = commands.add_parser(
        "worker",
        help="join a platform from this machine: its workers against DDIFFUSION_REDIS_URL and the blob store",
        description="Start this machine's workers for the platform whose Redis is DDIFFUSION_REDIS_URL (and whose blob store "
        "is DDIFFUSION_BLOB_STORE): one per queue, and one per GPU on the gpu queue.",
    )
    worker.add_argument("--queues", default="gpu", help="comma list of gpu, cpu, comfy (default gpu)")
    worker.add_argument("--devices", help="all, cpu, or CUDA device indices such as 0,1 (default DDIFFUSION_GPU_DEVICES, all)")
    logs = commands.add_parser("logs", help="where the children's logs are; print the end of one (or all) and follow it")
    logs.add_argument("name", nargs="?", help="api, redis, worker-gpu, worker-cpu, worker-comfy, models; all when left out")
    logs.add_argument("-n", "--lines", type=int, default=40, help="how many last lines to print first (default 40)")
    logs.add_argument("--no-follow", action="store_true", help="print and exit instead of following")
    models = commands.add_parser("models", help="model weights on this machine")
    pull = models.add_subparsers(dest="models_command", required=True).add_parser(
        "pull",
        help="fetch a model's weights ahead of time, where the gpu workers look (tiny-* models are built)",
        description="Fetch a model's weights from the Hugging Face Hub (HF_TOKEN for gated ones) into the Hugging Face "
        "cache, or into --models-dir; build a tiny-* model. Prints NAME: PATH per model.",
    )
    pull.add_argument("name", help="a catalogue name, e.g. sdxl or flux-1 (a family pulls each of its models)")
    pull.add_argument(
        "--models-dir",
        type=Path,
        help="pull into DIR/<repo id> instead of the Hugging Face cache; workers read it with DDIFFUSION_MODELS_DIR=DIR, "
        "and an air-gapped site can copy DIR",
    )
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(Settings())
    if args.command == "worker":
        try:
            queues = [Queue(name.strip()) for name in args.queues.split(",") if name.strip()]
            settings = Settings(**({"gpu_devices": args.devices} if args.devices else {}))
        except ValueError as exc:
            parser.error(f"--queues takes gpu, cpu, comfy and --devices all, cpu or 0,1…: {exc}")
        return run_workers(settings, queues)
    if args.command == "logs":
        return show_logs(logs_dir(Settings()), args.name, args.lines, follow=not args.no_follow)
    return pull_model(args.name, args.models_dir)


def show_logs(directory: Path, name: str | None, lines: int, follow: bool) -> int:
    names = sorted(path.stem for path in directory.glob("*.log"))
    print(f"Logs: {directory}", flush=True)
    if name is not None and name not in names:
        print(f"error: no log named {name!r}; there are: {', '.join(names) or 'none yet (run serve first)'}", file=sys.stderr)
        return EXIT_USAGE
    if not names:
        return 0
    paths = [str(directory / f"{each}.log") for each in ([name] if name else names)]
    # tail does the following (and the file headers for several) better than a loop here would.
    os.execvp("tail", ["tail", "-n", str(lines), *(["-F"] if follow else []), *paths])


def pull_model(name: str, models_dir: Path | None) -> int:
    try:
        # Imported here: fetching needs huggingface_hub (building a tiny model, torch), which the api's install lacks.
        from workers.local.pull import pull
    except ImportError as exc:
        print(f"error: `models pull` needs the gpu workers' packages on this machine (pip install -e '.[gpu]'): {exc}", file=sys.stderr)
        return EXIT_USAGE
    return pull(name, models_dir, Settings())


if __name__ == "__main__":
    raise SystemExit(main())
