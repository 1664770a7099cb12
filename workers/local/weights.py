"""Where weights come from: the local models dir first, then the Hugging Face cache. They are
fetched from the Hub only when asked: ahead of time by `ddiffusion models pull NAME`, or on first
use where DDIFFUSION_ALLOW_DOWNLOADS is set. Otherwise a miss names every place that was looked in
and how to get the weights."""

import glob
import io
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import structlog
from tqdm.auto import tqdm

from core.catalogue import ModelEntry
from core.errors import ModelUnavailableError

if TYPE_CHECKING:
    import torch

Log = Callable[[str], None]

# Files a torch `from_pretrained` never reads: other frameworks' weights (ONNX, Flax, TensorFlow,
# Rust, GGUF), original single-file checkpoints, the model card, its media and the licence.
UNREAD_SUFFIXES = frozenset({".onnx", ".onnx_data", ".pb", ".msgpack", ".h5", ".ot", ".tflite", ".gguf", ".ckpt", ".md"})
MEDIA_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".mp4"})
TORCH_WEIGHTS = frozenset({".safetensors", ".bin", ".pt", ".pth"})

log = structlog.get_logger("worker")
# Downloads in one process take turns: each lifts HF_HUB_OFFLINE for its own duration (see _hub_reachable).
_HUB_ONLINE = threading.Lock()


def worker_log(line: str) -> None:
    """Where download progress goes when no task is there to show it (a warm-up, a benchmark)."""
    log.info(line)


def local_path(entry: ModelEntry, models_dir: Path) -> Path:
    return models_dir / entry.weights


def hub_repo(entry: ModelEntry) -> bool:
    """Whether the weights are a Hugging Face repo (the tiny models are built here, never fetched)."""
    return not entry.tiny and "/" in entry.weights


def wanted_files(files: Iterable[str]) -> list[str]:
    """Of a repo's files, those a local `from_pretrained` reads. Diffusers' own download makes a
    similar choice, but reports no progress we can log and knows nothing of transformers repos.

    Left out: formats torch does not load and media; pickled weights where safetensors sit in the
    same folder; variants (`name.fp16.safetensors`) beside the plain files; and for a pipeline
    (model_index.json at the root) the single-file checkpoints at the root, which are tens of GB
    on Flux or LTX-Video while its components load from their own folders."""
    paths = [PurePosixPath(name) for name in files if not _unread(PurePosixPath(name))]
    pipeline = PurePosixPath("model_index.json") in paths
    folders: dict[PurePosixPath, list[PurePosixPath]] = {}
    for path in paths:
        folders.setdefault(path.parent, []).append(path)
    wanted = []
    for folder, members in folders.items():
        weights = [path for path in members if path.suffix in TORCH_WEIGHTS]
        wanted += [str(path) for path in members if path.suffix not in TORCH_WEIGHTS]
        if pipeline and folder == PurePosixPath("."):
            continue
        if any(path.suffix == ".safetensors" for path in weights):
            weights = [path for path in weights if path.suffix == ".safetensors"]
        # `model.fp16-00001-of-00002.safetensors` is a variant; `model-00001-of-00002.safetensors` is not.
        plain = [path for path in weights if len(path.name.split(".")) == 2]
        wanted += [str(path) for path in plain or weights]
    return sorted(wanted)


def _unread(path: PurePosixPath) -> bool:
    return path.suffix in UNREAD_SUFFIXES | MEDIA_SUFFIXES or path.name == ".gitattributes" or path.name.upper().startswith("LICENSE")


def exact_patterns(files: Iterable[str]) -> list[str]:
    """Patterns matching exactly these names (huggingface_hub filters files with fnmatch)."""
    return [glob.escape(name) for name in files]


def hf_cache_path(entry: ModelEntry) -> Path | None:
    """The entry's snapshot in the Hugging Face cache, when every file we would fetch is there."""
    if not hub_repo(entry):
        return None
    from huggingface_hub import get_cached_repo_tree, snapshot_download
    from huggingface_hub.errors import CachedRepoTreeNotFoundError, LocalEntryNotFoundError

    try:
        # The listing our download cached: the snapshot is complete when it holds what we fetch.
        patterns = exact_patterns(wanted_files(file.path for file in get_cached_repo_tree(entry.weights)))
    except (CachedRepoTreeNotFoundError, OSError, ValueError):
        patterns = None  # filled by another tool: taken as it is
    try:
        return Path(snapshot_download(entry.weights, local_files_only=True, allow_patterns=patterns))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None


def find_weights(entry: ModelEntry, models_dir: Path) -> Path | None:
    local = local_path(entry, models_dir)
    if (local / "model_index.json").exists() or (local / "config.json").exists():
        return local
    return hf_cache_path(entry)


def require_weights(entry: ModelEntry, models_dir: Path, allow_downloads: bool, log: Log = worker_log) -> Path:
    """The weights' directory; fetched into the Hugging Face cache first where downloads are
    allowed, with progress lines through `log` (the task's log in a worker)."""
    path = find_weights(entry, models_dir)
    if path is not None:
        return path
    if allow_downloads and hub_repo(entry):
        return download(entry.weights, log)
    raise ModelUnavailableError(missing_message(entry, models_dir))


def missing_message(entry: ModelEntry, models_dir: Path) -> str:
    local = local_path(entry, models_dir)
    if not hub_repo(entry):
        hint = f"run `ddiffusion models pull {entry.name}` (or `ddiffusion serve` once) to build it" if entry.tiny else "copy them there"
        return f"Weights for {entry.name} not found: looked in {local}; {hint}."
    from huggingface_hub.constants import HF_HUB_CACHE

    return (
        f"Weights for {entry.name} not found: looked in {local} and the Hugging Face cache {HF_HUB_CACHE} (repo {entry.weights}). "
        f"Get them with `ddiffusion models pull {entry.name}` on the worker machine; or set DDIFFUSION_ALLOW_DOWNLOADS=true "
        f"(with HF_TOKEN for gated models) so the worker fetches them on first use; or, without internet, copy a models dir "
        f"holding {entry.weights}/ into {models_dir}."
    )


@contextmanager
def _hub_reachable() -> Iterator[None]:
    """Lift HF_HUB_OFFLINE for one explicit download. The Makefile and the gpu image set it so that
    nothing reaches the Hub implicitly (from_pretrained, library look-ups); a download that
    DDIFFUSION_ALLOW_DOWNLOADS or `models pull` asked for is the one exception."""
    from huggingface_hub import constants

    with _HUB_ONLINE:
        offline, constants.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE, False
        try:
            yield
        finally:
            constants.HF_HUB_OFFLINE = offline


def download(repo_id: str, log: Log, local_dir: Path | None = None) -> Path:
    """Fetch the files of repo_id that `from_pretrained` reads, into the Hugging Face cache (or
    local_dir), logging progress. huggingface_hub sends HF_TOKEN (or a saved login) where set."""
    import httpx2  # huggingface_hub's HTTP client
    from huggingface_hub import HfApi, constants, snapshot_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    started = time.monotonic()
    try:
        with _hub_reachable():
            info = HfApi().model_info(repo_id, files_metadata=True)
            sizes = {sibling.rfilename: sibling.size or 0 for sibling in info.siblings or []}
            files = wanted_files(sizes)
            progress = DownloadProgress(repo_id, {name: sizes[name] for name in files}, log)
            path = Path(
                snapshot_download(repo_id, allow_patterns=exact_patterns(files), local_dir=local_dir, tqdm_class=progress.bar_class())
            )
    except GatedRepoError as exc:
        raise ModelUnavailableError(
            f"{repo_id} is gated on the Hugging Face Hub (HTTP {exc.response.status_code}): accept its terms at "
            f"{constants.ENDPOINT}/{repo_id}, then set HF_TOKEN on the worker to a read token of that account{_token_note()}."
        ) from exc
    except RepositoryNotFoundError as exc:
        raise ModelUnavailableError(
            f"{repo_id} was not found on the Hugging Face Hub or needs a login (HTTP {exc.response.status_code}): check the "
            f"name, or set HF_TOKEN on the worker for a private or gated repo{_token_note()}."
        ) from exc
    except HfHubHTTPError as exc:
        status = exc.response.status_code
        hint = f"set HF_TOKEN on the worker to a token with access{_token_note()}" if status in (401, 403) else "try again later"
        raise ModelUnavailableError(f"The Hugging Face Hub answered HTTP {status} for {repo_id}; {hint}.") from exc
    except httpx2.TransportError as exc:
        raise ModelUnavailableError(
            f"Could not reach the Hugging Face Hub at {constants.ENDPOINT} to fetch {repo_id} ({type(exc).__name__}: {exc}). "
            "Without internet, pull the model on a connected machine with `ddiffusion models pull` and copy it here."
        ) from exc
    except OSError as exc:  # disk full, a file that arrived short
        raise ModelUnavailableError(f"Could not fetch {repo_id} from {constants.ENDPOINT}: {exc}") from exc
    log(f"downloaded {repo_id} ({progress.summary()}) in {time.monotonic() - started:.0f} s into {path}")
    return path


def _token_note() -> str:
    from huggingface_hub import get_token

    return " (a token was sent, and refused for this repo)" if get_token() else " (no token is set)"


class DownloadProgress:
    """snapshot_download's progress bars as log lines: a first line naming the files, then one at
    every 5% of the bytes and at least one every 30 s while bytes come, never one per chunk."""

    STEP = 0.05
    QUIET_S = 30.0

    def __init__(self, repo_id: str, files: dict[str, int], log: Log) -> None:
        self.repo_id = repo_id
        self.files = files
        self.total = sum(files.values())
        self.log = log
        self._lock = threading.Lock()
        self._byte_bars: list[tqdm] = []
        self._file_bars: list[tqdm] = []
        self._logged_step = 0
        self._logged_at = time.monotonic()
        largest = sorted(files, key=lambda name: -files[name])[:3]
        named = ", ".join(f"{name} ({_size(files[name])})" for name in largest)
        more = f" and {len(files) - len(largest)} more" if len(files) > len(largest) else ""
        log(f"downloading {repo_id}: {len(files)} files, {_size(self.total)}: {named}{more}")

    def bar_class(self) -> type[tqdm]:
        """A tqdm class whose bars report here instead of drawing: snapshot_download makes byte
        bars (unit "B": bytes received, bytes written) and one bar counting finished files."""
        progress = self

        class LogBar(tqdm):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs | {"file": io.StringIO(), "disable": False})
                progress._add(self)

            def update(self, n: float | None = 1) -> bool | None:
                shown = super().update(n)
                progress._report()
                return shown

            def display(self, *args: Any, **kwargs: Any) -> bool:
                return True  # the log lines are the display

        return LogBar

    def _add(self, bar: tqdm) -> None:
        with self._lock:
            (self._byte_bars if bar.unit == "B" else self._file_bars).append(bar)

    def done_bytes(self) -> int:
        # Bytes written; they match the file sizes our total sums (received bytes may be compressed).
        return int(max((bar.n for bar in self._byte_bars), default=0))

    def summary(self) -> str:
        done_files = int(max((bar.n for bar in self._file_bars), default=0))
        return f"{_size(self.done_bytes())} of {_size(self.total)}, {done_files} of {len(self.files)} files"

    def _report(self) -> None:
        with self._lock:
            fraction = self.done_bytes() / self.total if self.total else 1.0
            step = int(fraction / self.STEP)
            now = time.monotonic()
            if step <= self._logged_step and now - self._logged_at < self.QUIET_S:
                return
            self._logged_step, self._logged_at = step, now
            # Floored, so a 99.6% line is not shown as a second "100%".
            line = f"downloading {self.repo_id}: {int(fraction * 100)}% ({self.summary()})"
        self.log(line)


def _size(count: float) -> str:
    unit = "B"
    for bigger in ("KB", "MB", "GB"):
        if count < 1000:
            break
        count, unit = count / 1000, bigger
    return f"{count:.0f} B" if unit == "B" else f"{count:.1f} {unit}"


def pick_device(preferred: str | None) -> tuple[str, "torch.dtype"]:
    """cuda → mps → cpu unless set; half precision on GPUs, fp32 on CPU."""
    import torch  # here, so `models pull` runs without loading torch

    if preferred:
        device = preferred
    elif torch.cuda.is_available():
        device = "cuda"
    elif torch.backends.mps.is_available():
        device = "mps"
    else:
        device = "cpu"
    if device.startswith("cuda"):
        return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return device, torch.float16 if device == "mps" else torch.float32
