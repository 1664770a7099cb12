"""Transformers text engine: warm causal LMs, and vision-language models, answering chat messages."""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any

import torch
import transformers
from PIL import Image
from transformers import (
    AutoImageProcessor,
    AutoTokenizer,
    BaseImageProcessor,
    BatchFeature,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
    TextStreamer,
)

from core.catalogue import Capability, ModelEntry
from core.settings import Settings
from workers.local.cache import ModelCache, run_guard
from workers.local.calls import open_image
from workers.local.weights import Log, pick_device, require_weights, worker_log

if TYPE_CHECKING:  # engines know nothing of Celery or Redis: the context they are given is typed, not imported
    from workers.context import TaskContext


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


MIN_SAMPLING_TEMPERATURE = 1e-3

# Qwen2-VL's image processors refuse images whose long side is more than 200 times the short one.
MAX_ASPECT = 200


def _within_aspect(image: Image.Image, ctx: TaskContext) -> Image.Image:
    """A strip of an image (a 1000x2 banner) letterboxed in black to an aspect ratio the vision tower takes."""
    width, height = image.size
    short = math.ceil(max(width, height) / MAX_ASPECT)
    if min(width, height) >= short:
        return image
    padded = Image.new("RGB", (max(width, short), max(height, short)))
    padded.paste(image, ((padded.width - width) // 2, (padded.height - height) // 2))
    ctx.log(f"an image of {width}x{height} was padded to {padded.width}x{padded.height}: the vision model takes aspect ratios up to {MAX_ASPECT}:1")
    return padded


def _vision_inputs(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, image_processor: BaseImageProcessor, messages: list[dict[str, Any]], ctx: TaskContext
) -> BatchFeature:
    """What Qwen2_5_VLProcessor would make of chat messages with image parts: the chat template
    puts one image pad per image, widened here to the image's number of merged patches, beside
    the image processor's pixels and patch grids. Done by hand because transformers builds that
    processor only with torchvision, which the CPU install leaves out (see tiny.build_tiny_vlm)."""
    images = [
        _within_aspect(open_image(ctx, part["image"], f"messages[{index}].content[{place}].image", "RGB"), ctx)
        for index, message in enumerate(messages) if not isinstance(message["content"], str)
        for place, part in enumerate(message["content"]) if part["type"] == "image"
    ]  # fmt: skip
    # The template needs only where each image goes; the blob refs stay out of the prompt.
    template_messages = [
        message if isinstance(message["content"], str)
        else {"role": message["role"], "content": [{"type": "image"} if part["type"] == "image" else part for part in message["content"]]}
        for message in messages
    ]  # fmt: skip
    prompt = tokenizer.apply_chat_template(template_messages, add_generation_prompt=True, tokenize=False)
    vision: dict[str, Any] = {}
    if images:
        vision = dict(image_processor(images=images, return_tensors="pt"))
        pad = tokenizer.convert_ids_to_tokens(model.config.image_token_id)
        counts = (vision["image_grid_thw"].prod(dim=-1) // image_processor.merge_size**2).tolist()
        before, *after = prompt.split(pad)
        prompt = before + "".join(pad * count + piece for count, piece in zip(counts, after, strict=True))
    inputs = dict(tokenizer(prompt, return_tensors="pt", add_special_tokens=False))
    if images:
        # Marks the image tokens, so that they get the vision tower's 3-D rotary positions.
        inputs["mm_token_type_ids"] = (inputs["input_ids"] == model.config.image_token_id).int()
    return BatchFeature(inputs | vision)


class TransformersTextEngine:
    def __init__(self, settings: Settings, cache: ModelCache | None = None) -> None:
        self.models_dir = settings.resolved_models_dir
        self.allow_downloads = settings.allow_downloads
        self.device, self.dtype = pick_device(settings.device)
        self.cache = cache or ModelCache.for_settings(settings, self.device)
        # Sampling draws from torch's global generator, so seeded runs take turns.
        self._lock = threading.Lock()

    def model(self, entry: ModelEntry, log: Log = worker_log) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, BaseImageProcessor | None]:
        """The warm model, its tokenizer and (for a vision model) its image processor, loading
        them (into the shared cache) on first use; weights are fetched first where downloads are allowed."""
        path = require_weights(entry, self.models_dir, self.allow_downloads, log)

        def load() -> tuple[PreTrainedModel, dict[str, Any]]:
            model = getattr(transformers, entry.pipeline).from_pretrained(path, dtype=self.dtype).to(self.device).eval()
            vision = Capability.vision in entry.capabilities
            return model, {"tokenizer": AutoTokenizer.from_pretrained(path), "image_processor": AutoImageProcessor.from_pretrained(path) if vision else None}

        warm = self.cache.get(path, entry.name, load, log)
        return warm.model, warm.info["tokenizer"], warm.info["image_processor"]

    def run(self, entry: ModelEntry, params: dict[str, Any], ctx: TaskContext) -> list[dict[str, Any]]:
        with self._lock:
            model, tokenizer, image_processor = self.model(entry, ctx.log)
            if image_processor is None:
                inputs = tokenizer.apply_chat_template(_text_messages(params["messages"]), add_generation_prompt=True, return_tensors="pt", return_dict=True)
            else:
                inputs = _vision_inputs(model, tokenizer, image_processor, params["messages"], ctx)
            inputs = inputs.to(self.device)
            prompt_tokens = inputs["input_ids"].shape[-1]
            temperature = params["temperature"]
            # Logits divided by a near-zero temperature overflow to inf and sampling fails; so close to 0 it is greedy anyway.
            sampling = {"do_sample": True, "temperature": temperature} if temperature >= MIN_SAMPLING_TEMPERATURE else {"do_sample": False}
            if 0 < temperature < MIN_SAMPLING_TEMPERATURE:
                ctx.log(f"temperature {temperature:g} is below {MIN_SAMPLING_TEMPERATURE:g}: decoding greedily, as temperature 0 does")
            ctx.check_cancelled()
            torch.manual_seed(params["seed"])
            with run_guard(self.device, f"{entry.name} on {prompt_tokens} prompt tokens", "max_tokens or shorten the messages"), torch.inference_mode():
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
