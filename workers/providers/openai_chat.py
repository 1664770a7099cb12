"""OpenAI chat engine: streams a chat completion from OpenAI (or any compatible server)."""

import base64
from typing import Any

import openai

from core.catalogue import ModelEntry
from core.settings import Settings
from workers.context import TaskContext
from workers.providers.common import call_provider
from workers.providers.openai_client import configured, make_client, mapped_errors, provider_image


class OpenAIChatEngine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client = make_client(self.settings)

    def run(self, entry: ModelEntry, params: dict[str, Any], ctx: TaskContext) -> list[dict[str, Any]]:
        client = configured(self._client, entry)
        # Images are read once, not once per attempt.
        messages = [_openai_message(message, ctx) for message in params["messages"]]
        return call_provider(self.settings, ctx, lambda timeout_s: [{"text": self._stream(client, entry, messages, params, ctx, timeout_s)}])

    def _stream(
        self,
        client: openai.OpenAI,
        entry: ModelEntry,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        ctx: TaskContext,
        timeout_s: float,
    ) -> str:
        """One attempt; `timeout_s` bounds the wait for the answer and for each streamed chunk."""
        max_tokens: int = params["max_tokens"]
        pieces: list[str] = []
        ctx.restart_text()  # a retried attempt starts its answer over
        with mapped_errors(client, timeout_s):
            stream = client.chat.completions.create(
                model=entry.pipeline,
                messages=messages,  # type: ignore[arg-type]  # plain dicts in the SDK's TypedDict shapes
                # `max_tokens` is deprecated upstream and refused by reasoning models.
                max_completion_tokens=max_tokens,
                temperature=params["temperature"],
                seed=params.get("seed"),
                stream=True,
                stream_options={"include_usage": True},
                timeout=timeout_s,
            )
            with stream:
                for chunk in stream:
                    if chunk.usage is not None:
                        ctx.log(f"OpenAI usage: {chunk.usage.prompt_tokens} prompt + {chunk.usage.completion_tokens} completion tokens")
                        ctx.count("units:input_tokens", chunk.usage.prompt_tokens)
                        ctx.count("units:output_tokens", chunk.usage.completion_tokens)
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    if choice.delta.content:
                        pieces.append(choice.delta.content)
                        ctx.stream_text(choice.delta.content)
                        # One content delta is about one token; this is also where a cancel lands.
                        ctx.progress(min(len(pieces), max_tokens), max_tokens)
                    if choice.finish_reason == "length":
                        ctx.log(f"the answer was cut at max_tokens={max_tokens}")
        return "".join(pieces)


def _openai_message(message: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """A message as OpenAI takes it: our image parts (blob refs) become `image_url` data URLs."""
    content = message["content"]
    if isinstance(content, str):
        return message
    return {"role": message["role"], "content": [_openai_part(part, ctx) for part in content]}


def _openai_part(part: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    if part["type"] == "text":
        return {"type": "text", "text": part["text"]}
    data, content_type = provider_image(ctx.read_input(part["image"]))
    return {"type": "image_url", "image_url": {"url": f"data:{content_type};base64,{base64.b64encode(data).decode()}"}}
