"""The engine registry: which class runs each kind of catalogue entry, built once per worker
process on first use (after the pool forks), so weights stay warm between tasks and a cpu worker
never imports torch."""

import importlib
from typing import Any

from core.catalogue import EngineKind, ModelEntry
from core.settings import Settings
from workers.runner import Engine

ENGINES: dict[EngineKind, str] = {
    EngineKind.diffusers: "workers.local.images:DiffusersImageEngine",
    EngineKind.diffusers_video: "workers.local.videos:DiffusersVideoEngine",
    EngineKind.transformers: "workers.local.texts:TransformersTextEngine",
    EngineKind.vision_utility: "workers.local.utilities:VisionUtilityEngine",
    EngineKind.openai: "workers.providers.openai_chat:OpenAIChatEngine",
    EngineKind.openai_images: "workers.providers.openai_images:OpenAIImageEngine",
    EngineKind.replicate: "workers.providers.replicate:ReplicateEngine",
    EngineKind.comfyui: "workers.comfy.engine:ComfyEngine",
}
# Engines that run weights on this machine: they share one model cache per process.
LOCAL_ENGINES = frozenset({EngineKind.diffusers, EngineKind.diffusers_video, EngineKind.transformers, EngineKind.vision_utility})


class Engines:
    """One process's engines, created lazily, and the model cache its local engines share."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engines: dict[EngineKind, Engine] = {}
        self.model_cache: Any = None  # workers.local.cache.ModelCache, imported only where torch is

    def warm_names(self) -> list[str]:
        return self.model_cache.warm_names() if self.model_cache is not None else []

    def loads(self) -> int:
        return self.model_cache.loads if self.model_cache is not None else 0

    def would_evict(self, entry: ModelEntry) -> bool:
        """Whether running this entry here would first push another warm model out of memory."""
        if self.model_cache is None or entry.engine not in LOCAL_ENGINES:
            return False
        path = importlib.import_module("workers.local.weights").find_weights(entry, self.settings.resolved_models_dir)
        return path is not None and self.model_cache.would_evict(path)

    def engine(self, entry: ModelEntry) -> Engine:
        if entry.engine not in self._engines:
            module, name = ENGINES[entry.engine].split(":")
            engine_class = getattr(importlib.import_module(module), name)
            if entry.engine in LOCAL_ENGINES:
                if self.model_cache is None:
                    cache = importlib.import_module("workers.local.cache")
                    weights = importlib.import_module("workers.local.weights")
                    self.model_cache = cache.ModelCache.for_settings(self.settings, weights.pick_device(self.settings.device)[0])
                self._engines[entry.engine] = engine_class(self.settings, cache=self.model_cache)
            else:
                self._engines[entry.engine] = engine_class(self.settings)
        return self._engines[entry.engine]
