"""OpenAI chat engine: streams a chat completion from OpenAI (or any compatible server)."""

from pathlib import Path
from typing import Any

import openai

from core.catalogue import ModelEntry
from core.errors import ModelUnavailableError, PlatformError
from workers.context import TaskContext
from workers.providers.common import ProviderSettings, Retryable, retry_after_s, with_retries


class OpenAIChatEngine:
    def __init__(self, models_dir: Path, device: str | None = None) -> None:
        # Neither applies to a hosted model; the signature is the one every engine has.
        self.settings = ProviderSettings()
        self._client: openai.OpenAI | None = None
        if self.settings.openai_api_key is not None:
            self._client = openai.OpenAI(
                api_key=self.settings.openai_api_key.get_secret_value(),
                base_url=self.settings.openai_base_url,
                timeout=self.settings.timeout_s,
                max_retries=0,
            )

    def run(self, entry: ModelEntry, params: dict[str, Any], ctx: TaskContext) -> list[dict[str, Any]]:
        if self._client is None:
            raise ModelUnavailableError(f"{entry.name} needs OpenAI, which is not configured on this worker: set OPENAI_API_KEY.")
        client = self._client
        return with_retries(self.settings, ctx, lambda: [{"text": self._stream(client, entry, params, ctx)}])

    def _stream(self, client: openai.OpenAI, entry: ModelEntry, params: dict[str, Any], ctx: TaskContext) -> str:
        max_tokens: int = params["max_tokens"]
        pieces: list[str] = []
        try:
            stream = client.chat.completions.create(
                model=entry.pipeline,
                messages=params["messages"],
                # `max_tokens` is deprecated upstream and refused by reasoning models.
                max_completion_tokens=max_tokens,
                temperature=params["temperature"],
                seed=params.get("seed"),
                stream=True,
                stream_options={"include_usage": True},
            )
            with stream:
                for chunk in stream:
                    if chunk.usage is not None:
                        ctx.log(f"OpenAI usage: {chunk.usage.prompt_tokens} prompt + {chunk.usage.completion_tokens} completion tokens")
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    if choice.delta.content:
                        pieces.append(choice.delta.content)
                        # One content delta is about one token; this is also where a cancel lands.
                        ctx.progress(min(len(pieces), max_tokens), max_tokens)
                    if choice.finish_reason == "length":
                        ctx.log(f"the answer was cut at max_tokens={max_tokens}")
        except openai.APITimeoutError as exc:
            raise Retryable(PlatformError(f"OpenAI did not answer within {self.settings.timeout_s:g}s", code="provider_timeout")) from exc
        except openai.APIConnectionError as exc:
            raise Retryable(PlatformError(f"Could not reach OpenAI at {client.base_url}: {exc.message}", code="provider_error")) from exc
        except openai.RateLimitError as exc:
            error = PlatformError(f"OpenAI rate limit: {exc.message}", code="provider_rate_limited")
            if exc.code == "insufficient_quota":
                raise error from exc  # the account is out of credit: waiting will not help
            raise Retryable(error, retry_after_s(exc.response.headers)) from exc
        except openai.InternalServerError as exc:
            error = PlatformError(f"OpenAI failed: {exc.message}", code="provider_error")
            raise Retryable(error, retry_after_s(exc.response.headers)) from exc
        except openai.APIError as exc:
            # Other 4xx and errors sent inside the stream: the request itself is wrong.
            raise PlatformError(f"OpenAI refused the request: {exc.message}", code="provider_error") from exc
        return "".join(pieces)
