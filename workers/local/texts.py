"""Transformers text engine: warm causal LMs answering chat messages."""

import threading
from typing import Any

import torch
import transformers
from transformers import (
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
    TextStreamer,
)

from core.catalogue import ModelEntry
from core.settings import Settings
from workers.context import TaskContext
from workers.local.cache import ModelCache, weights_bytes
from workers.local.weights import pick_device, require_weights


class _Progress(StoppingCriteria):
    """Reports each generated token and stops the task when its client cancels."""

    def __init__(self, ctx: TaskContext, prompt_tokens: int, max_tokens: int) -> None:
        self.ctx = ctx
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        self.ctx.progress(input_ids.shape[-1] - self.prompt_tokens, self.max_tokens)
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


class _TextToRecord(TextStreamer):
    """Streams decoded text into the task record as it is generated (transformers holds back
    pieces until they decode to whole words, so no broken characters reach clients)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, ctx: TaskContext) -> None:
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.ctx = ctx

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            self.ctx.stream_text(text)


def _text_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with text content only: a list of parts becomes its text parts joined (the
    catalogue refuses image parts for models without the vision capability)."""
    return [
        message if isinstance(message["content"], str)
        else {"role": message["role"], "content": "\n".join(part["text"] for part in message["content"] if part["type"] == "text")}
        for message in messages
    ]


class TransformersTextEngine:
    def __init__(self, settings: Settings, cache: ModelCache | None = None) -> None:
        self.models_dir = settings.resolved_models_dir
        self.device, self.dtype = pick_device(settings.device)
        self.cache = cache or ModelCache.for_settings(settings, self.device)
        # Sampling draws from torch's global generator, so seeded runs take turns.
        self._lock = threading.Lock()

    def model(self, entry: ModelEntry) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        """The warm model and its tokenizer, loading them (into the shared cache) on first use."""
        path = require_weights(entry, self.models_dir)

        def load() -> tuple[PreTrainedModel, dict[str, Any]]:
            model = getattr(transformers, entry.pipeline).from_pretrained(path, dtype=self.dtype).to(self.device).eval()
            return model, {"tokenizer": AutoTokenizer.from_pretrained(path)}

        warm = self.cache.get(str(path), weights_bytes(path), load)
        warm.names.add(entry.name)
        return warm.model, warm.info["tokenizer"]

    def run(self, entry: ModelEntry, params: dict[str, Any], ctx: TaskContext) -> list[dict[str, Any]]:
        with self._lock:
            model, tokenizer = self.model(entry)
            inputs = tokenizer.apply_chat_template(_text_messages(params["messages"]), add_generation_prompt=True, return_tensors="pt", return_dict=True).to(self.device)
            prompt_tokens = inputs["input_ids"].shape[-1]
            temperature = params["temperature"]
            sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
            ctx.check_cancelled()
            torch.manual_seed(params["seed"])
            with torch.inference_mode():
                generated = model.generate(
                    **inputs,
                    **sampling,
                    max_new_tokens=params["max_tokens"],
                    pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
                    stopping_criteria=StoppingCriteriaList([_Progress(ctx, prompt_tokens, params["max_tokens"])]),
                    streamer=_TextToRecord(tokenizer, ctx),
                )
        text = tokenizer.decode(generated[0, prompt_tokens:], skip_special_tokens=True)
        return [{"text": text}]
