"""OpenAI chat engine: streams a chat completion from OpenAI (or any compatible server).

The SDK's own retries are off (`max_retries=0`) so that retrying is ours: bounded, with
full-jitter backoff, honouring `Retry-After`, and checking for cancellation between attempts.
"""

import random
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import openai
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.catalogue import ModelEntry
from core.errors import ModelUnavailableError, PlatformError
from workers.context import TaskContext

# Long waits are cut into slices so a cancel reaches a task sleeping through a backoff.
_CANCEL_POLL_S = 0.5


class ProviderSettings(BaseSettings):
    """Provider configuration, read from the environment when the engine is built."""

    model_config = SettingsConfigDict(env_prefix="DDIFFUSION_PROVIDER_", env_file=".env", extra="ignore")

    openai_api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=AliasChoices("OPENAI_BASE_URL"))
    timeout_s: float = Field(120, gt=0, description="Per-request connect/read timeout.")
    max_retries: int = Field(4, ge=0, description="Retries after the first attempt on 429, 5xx and network errors.")
    backoff_s: float = Field(1.0, ge=0, description="Base of the exponential backoff.")
    max_backoff_s: float = Field(30, ge=0, description="Cap on any one wait, Retry-After included.")


class _Retryable(Exception):
    """One failed attempt worth another try; `error` is what to raise if it was the last."""

    def __init__(self, error: PlatformError, retry_after_s: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after_s = retry_after_s


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
        retries = self.settings.max_retries
        attempt = 0
        while True:
            ctx.check_cancelled()
            try:
                return [{"text": self._stream(self._client, entry, params, ctx)}]
            except _Retryable as failure:
                if attempt == retries:
                    raise failure.error from failure
                delay = self._delay(attempt, failure.retry_after_s)
                attempt += 1
                ctx.log(f"{failure.error.message}; retry {attempt}/{retries} in {delay:.2f}s")
                _wait(ctx, delay)

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
            raise _Retryable(PlatformError(f"OpenAI did not answer within {self.settings.timeout_s:g}s", code="provider_timeout")) from exc
        except openai.APIConnectionError as exc:
            raise _Retryable(PlatformError(f"Could not reach OpenAI at {client.base_url}: {exc.message}", code="provider_error")) from exc
        except openai.RateLimitError as exc:
            error = PlatformError(f"OpenAI rate limit: {exc.message}", code="provider_rate_limited")
            if exc.code == "insufficient_quota":
                raise error from exc  # the account is out of credit: waiting will not help
            raise _Retryable(error, _retry_after_s(exc.response.headers)) from exc
        except openai.InternalServerError as exc:
            error = PlatformError(f"OpenAI failed: {exc.message}", code="provider_error")
            raise _Retryable(error, _retry_after_s(exc.response.headers)) from exc
        except openai.APIError as exc:
            # Other 4xx and errors sent inside the stream: the request itself is wrong.
            raise PlatformError(f"OpenAI refused the request: {exc.message}", code="provider_error") from exc
        return "".join(pieces)

    def _delay(self, attempt: int, retry_after_s: float | None) -> float:
        cap = self.settings.max_backoff_s
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), cap)
        # Full jitter keeps many workers hit by the same outage from retrying in step.
        return random.uniform(0, min(cap, self.settings.backoff_s * 2**attempt))


def _retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds the provider asked us to wait: `retry-after-ms`, or `retry-after` as seconds or an HTTP date."""
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def _wait(ctx: TaskContext, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, _CANCEL_POLL_S))
        ctx.check_cancelled()
