"""Transformers text engine: warm causal LMs answering chat messages."""

import threading
from typing import Any

import torch
import transformers
from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase, StoppingCriteria, StoppingCriteriaList

from core.catalogue import ModelEntry
from core.settings import Settings
from workers.context import TaskContext
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


def _text_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with text content only: a list of parts becomes its text parts joined (the
    catalogue refuses image parts for models without the vision capability)."""
    return [
        message if isinstance(message["content"], str)
        else {"role": message["role"], "content": "\n".join(part["text"] for part in message["content"] if part["type"] == "text")}
        for message in messages
    ]


class TransformersTextEngine:
    def __init__(self, settings: Settings) -> None:
        self.models_dir = settings.resolved_models_dir
        self.device, self.dtype = pick_device(settings.device)
        self._models: dict[str, tuple[PreTrainedModel, PreTrainedTokenizerBase]] = {}
        # Sampling draws from torch's global generator, so seeded runs take turns.
        self._lock = threading.Lock()
        self.loads = 0

    def warm_models(self) -> list[str]:
        return sorted(self._models)

    def model(self, entry: ModelEntry) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        if entry.name not in self._models:
            path = require_weights(entry, self.models_dir)
            model_class = getattr(transformers, entry.pipeline)
            model = model_class.from_pretrained(path, dtype=self.dtype).to(self.device).eval()
            self._models[entry.name] = (model, AutoTokenizer.from_pretrained(path))
            self.loads += 1
        return self._models[entry.name]

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
                )
        text = tokenizer.decode(generated[0, prompt_tokens:], skip_special_tokens=True)
        return [{"text": text}]
