"""The server's console script, `ddiffusion-server serve | models pull NAME`; the client's
`ddiffusion serve` and `ddiffusion models pull` call it too."""

import argparse
import sys
from pathlib import Path

from core.launcher import serve
from core.settings import Settings

EXIT_USAGE = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ddiffusion-server", description="deferred-diffusion platform")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="start Redis (embedded unless DDIFFUSION_REDIS_URL is set), the api and the workers")
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
    return pull_model(args.name, args.models_dir)


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
