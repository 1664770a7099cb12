"""Warm models within a memory budget: least recently used evicted first.

Sizes are measured from the loaded modules' parameters and buffers; before a load, the
weights' files on disk stand in for the size, so room is made before the memory is needed.
"""

import gc
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
import torch

from core.errors import PlatformError
from core.settings import Settings

log = structlog.get_logger("worker")

GB = 1024**3


@dataclass
class WarmModel:
    """One loaded model and what was derived from it (other pipelines on its components)."""

    model: Any
    size_bytes: int
    info: dict[str, Any] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)  # catalogue entries served by these weights
    derived: dict[str, Any] = field(default_factory=dict)


def module_bytes(model: Any) -> int:
    """Bytes held by the torch modules of a pipeline (its components) or of a single model."""
    modules = [model] if isinstance(model, torch.nn.Module) else [c for c in getattr(model, "components", {}).values() if isinstance(c, torch.nn.Module)]
    return sum(t.numel() * t.element_size() for module in modules for t in (*module.parameters(), *module.buffers()))


def weights_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.suffix in (".safetensors", ".bin") and p.is_file())


def default_budget_bytes(device: str) -> int:
    """90% of the device's memory: the GPU's, or the machine's RAM on CPU/MPS."""
    if device.startswith("cuda"):
        return int(torch.cuda.get_device_properties(torch.device(device)).total_memory * 0.9)
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.9)


class ModelCache:
    """One per worker process, shared by its local engines, so that together they keep to one budget."""

    @classmethod
    def for_settings(cls, settings: Settings, device: str) -> "ModelCache":
        return cls(int(settings.model_memory_gb * GB) or default_budget_bytes(device), device)

    def __init__(self, budget_bytes: int, device: str) -> None:
        self.budget_bytes = budget_bytes
        self.device = device
        self._warm: OrderedDict[str, WarmModel] = OrderedDict()
        self._lock = threading.RLock()
        self.loads = 0
        self.evictions = 0

    def get(
        self, path: Path, name: str, load: Callable[[], tuple[Any, dict[str, Any]]], task_log: Callable[[str], None] | None = None
    ) -> WarmModel:
        """The warm model of the weights at path, serving catalogue entry `name`; on a miss it is
        loaded, after making room for its size on disk (measured only then: a hit touches no file),
        and the task's log says so (a cold start is why a task took longer)."""
        key = str(path)
        with self._lock:
            warm = self._warm.get(key)
            if warm is not None:
                self._warm.move_to_end(key)
            else:
                self._make_room(weights_bytes(path))
                started = time.perf_counter()
                model, info = load()
                self.loads += 1
                if task_log is not None:
                    task_log(f"loaded {name} in {time.perf_counter() - started:.2f}s (it was not warm on this worker)")
                warm = WarmModel(model, module_bytes(model), info)
                self._warm[key] = warm
                self._make_room(0, keep=key)
                log.info("model loaded", key=key, size_gb=round(warm.size_bytes / GB, 3), warm=list(self._warm))
            warm.names.add(name)
            return warm

    def would_evict(self, path: Path) -> bool:
        """Whether loading the weights at path would push a warm model out of the budget."""
        with self._lock:
            return bool(self._warm) and str(path) not in self._warm and self.used_bytes() + weights_bytes(path) > self.budget_bytes

    def warm(self) -> list[WarmModel]:
        with self._lock:
            return list(self._warm.values())

    def warm_names(self) -> list[str]:
        """Catalogue names whose weights are loaded."""
        return sorted(name for warm in self.warm() for name in warm.names)

    def warm_keys(self) -> list[str]:
        with self._lock:
            return list(self._warm)

    def used_bytes(self) -> int:
        return sum(warm.size_bytes for warm in self._warm.values())

    def _make_room(self, needed: int, keep: str | None = None) -> None:
        evicted = False
        while self._warm and self.used_bytes() + needed > self.budget_bytes:
            oldest = next(iter(self._warm))
            if oldest == keep:
                break  # the one just loaded is over the budget on its own; it stays while in use
            del self._warm[oldest]
            self.evictions += 1
            evicted = True
            log.info("model evicted", key=oldest, budget_gb=round(self.budget_bytes / GB, 3))
        if evicted:
            free_memory(self.device)


def free_memory(device: str) -> None:
    """Return freed tensors' memory: after an eviction, a cancel or an out-of-memory error."""
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    elif device == "mps":
        torch.mps.empty_cache()


@contextmanager
def run_guard(device: str, what: str, lower: str) -> Iterator[None]:
    """Out of memory running `what` becomes a clear failure. A cancelled or failed run gives its
    activations back now; a successful one leaves nothing, and the allocator's cache is for the next task."""
    try:
        yield
    except torch.OutOfMemoryError as exc:
        free_memory(device)
        raise PlatformError(f"Out of {device} memory running {what}; lower the {lower}, or free the device.", code="out_of_memory") from exc
    except BaseException:
        free_memory(device)
        raise
