"""`ddiffusion-server models pull NAME` (and the client's `ddiffusion models pull`): a model's
weights onto this machine ahead of time, where the gpu workers look for them.

Hub models go into the Hugging Face cache (HF_HOME or HF_HUB_CACHE: give the workers the same), or
with --models-dir into DIR/<repo id>, which workers read with DDIFFUSION_MODELS_DIR=DIR and which
an air-gapped site can copy as it is. Tiny models are built, never fetched. Progress goes to
stderr; stdout gets one `NAME: PATH` line per model, for scripts.
"""

import sys
from pathlib import Path

from core.catalogue import CATALOGUE, ModelEntry
from core.errors import ModelUnavailableError
from core.schemas import Queue
from core.settings import Settings
from workers.local.weights import download, find_weights, local_path

EXIT_FAILED = 1
EXIT_USAGE = 2


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def pull(name: str, models_dir: Path | None, settings: Settings) -> int:
    """Pull one catalogue entry (every model of a family); returns the exit code."""
    entry = CATALOGUE.get(name)
    # Local models are the gpu queue's; hosted and ComfyUI models have no weights here.
    if entry is None or entry.queue != Queue.gpu:
        local = ", ".join(sorted(model for model, each in CATALOGUE.items() if each.queue == Queue.gpu))
        problem = "is not in the catalogue" if entry is None else "runs at a service: it has no weights to pull"
        progress(f"error: {name} {problem}. Models with local weights: {local}")
        return EXIT_USAGE
    targets = [CATALOGUE[target] for target in sorted(set(entry.routes.values()))] if entry.routes else [entry]
    try:
        for target in targets:
            print(f"{target.name}: {pull_one(target, models_dir, settings)}", flush=True)
    except ModelUnavailableError as exc:
        progress(f"error: {exc.message}")
        return EXIT_FAILED
    return 0


def pull_one(entry: ModelEntry, models_dir: Path | None, settings: Settings) -> Path:
    if entry.tiny:
        from workers.local.tiny import ensure_tiny_models  # torch and diffusers: only for this

        target = (models_dir or settings.resolved_models_dir).resolve()
        progress(f"building {entry.name} into {target} (small random weights, no download)")
        ensure_tiny_models(target, [entry.weights])
        return local_path(entry, target)
    if models_dir is not None:
        # Always asked of the Hub: a pull that stopped half-way is completed, finished files are kept.
        path = download(entry.weights, progress, local_dir=local_path(entry, models_dir.resolve()))
        progress(f"workers read it with DDIFFUSION_MODELS_DIR={models_dir.resolve()}")
        return path
    path = find_weights(entry, settings.resolved_models_dir)
    if path is not None:
        progress(f"{entry.name} is already here")
        return path
    from huggingface_hub.constants import HF_HUB_CACHE

    path = download(entry.weights, progress)
    progress(f"workers read it from the Hugging Face cache {HF_HUB_CACHE}: run them with the same HF_HOME or HF_HUB_CACHE")
    return path
