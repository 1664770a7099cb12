"""One settings object per process, read from `DDIFFUSION_*` environment variables and `.env`."""

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.catalogue import CATALOGUE, EngineKind
from core.schemas.common import Queue
from core.workflows import DEFAULT_ALLOWED_NODES

DAY_S = 24 * 3600
# The engines the per-model settings (offload, compile, the fast paths) act on.
DIFFUSERS_ENGINES = (EngineKind.diffusers, EngineKind.diffusers_video)
# Templates beside the source tree, in a checkout (core/ is one level below the repository root).
CHECKOUT_WORKFLOWS_DIR = Path(__file__).resolve().parents[1] / "comfy_sidecar" / "workflows"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DDIFFUSION_", env_file=".env", extra="ignore", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    data_dir: Path = Path("data")
    models_dir: Path | None = Field(None, description="Local weights; defaults to <data_dir>/models.")
    redis_url: str | None = Field(None, description="When unset, `ddiffusion serve` starts an embedded Redis.")
    redis_port: int = Field(6390, ge=1, le=65535, description="Port of the embedded Redis.")
    redis_min_replicas: int = Field(
        0, ge=0, description="A submit answers 202 only once this many replicas hold the task (Redis WAIT); 0 = do not wait."
    )
    redis_outage_s: float = Field(
        300, gt=0, description="How long a worker keeps a finished task's result and retries writing it while Redis is unreachable."
    )
    admin_key: SecretStr | None = None
    secret_key: SecretStr | None = Field(None, description="Signs file URLs; generated into the data dir when unset.")
    public_url: str | None = Field(None, description="Base of signed URLs; defaults to the request's own base URL.")

    blob_store: str | None = Field(
        None, description="Where inputs and outputs live: file:///abs/path or s3://bucket/prefix; unset = <data_dir>/blobs."
    )
    s3_endpoint_url: str | None = Field(None, description="An S3-compatible server (MinIO, Ceph RGW, SeaweedFS); unset = AWS.")
    s3_region: str = "us-east-1"
    s3_connect_timeout_s: float = Field(5, gt=0)
    s3_read_timeout_s: float = Field(30, gt=0)
    s3_retries: int = Field(2, ge=0, le=10, description="Retries after the first attempt (botocore's standard mode).")
    result_ttl_s: int = Field(7 * DAY_S, ge=60, alias="DDIFFUSION_RESULT_TTL")
    url_ttl_s: int = Field(DAY_S, ge=10, description="Lifetime of signed file URLs.")
    backlog_per_key: int = Field(50, ge=1)
    backlog_total: int = Field(500, ge=1)
    batch_max_tasks: int = Field(200, ge=1, le=1000, description="The most tasks one batch may hold (after `vary` is expanded).")
    max_upload_mb: float = Field(50, gt=0)
    max_image_pixels: int = Field(40_000_000, ge=4096, description="Larger input images are refused (decompression bombs).")
    fetch_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    fetch_timeout_s: float = Field(20, gt=0)
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Hosts (host or host:port) webhooks may be sent to; empty: webhooks are refused."
    )
    webhook_retry_s: float = Field(3600, gt=0, description="How long a failing webhook is retried, with exponential backoff.")
    webhook_timeout_s: float = Field(10, gt=0, description="Per delivery attempt.")
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    task_log_lines: int = Field(200, ge=10, description="Each task keeps its last N log lines.")
    ready_queues: Annotated[list[Queue], NoDecode] = Field(
        default_factory=lambda: list(Queue),
        description="Queues /readyz wants a live worker on (comma list; empty = Redis only). Leave out those an "
        "autoscaler starts from zero, or the api is never ready to take the tasks that would start them.",
    )

    gpu_time_limit_s: int = Field(1800, ge=10)
    cpu_time_limit_s: int = Field(600, ge=10)
    comfy_time_limit_s: int = Field(1800, ge=10)
    visibility_timeout_s: int = Field(7200, ge=5, description="Unacknowledged tasks are redelivered after this.")
    max_attempts: int = Field(3, ge=1, description="A task whose worker died this many times ends failed.")
    gpu_devices: str = Field(
        "all",
        pattern=r"^(all|cpu|[A-Za-z0-9-]+(,[A-Za-z0-9-]+)*)$",
        description="CUDA devices that get a gpu worker each: all (every GPU nvidia-smi lists), cpu (one worker, no GPU), "
        "or a comma list of indices or GPU UUIDs such as 0,1.",
    )
    drain_s: float = Field(
        25, ge=0, description="On SIGTERM a worker lets its running task finish for this long, then requeues it at its next step."
    )
    task_lease_s: float = Field(
        15, ge=1, description="A running task's worker renews its lease this often (in thirds); an expired lease requeues the task."
    )
    affinity_backlog: int = Field(
        16,
        ge=0,
        description="Model affinity: up to this many gpu tasks per warm worker wait for a worker that holds their model "
        "(while the other workers are busy) before a cold worker loads it too; 0 = off (any free worker takes any task).",
    )
    device: str | None = Field(None, description="Torch device for local engines: cuda, mps or cpu (auto when unset).")
    model_memory_gb: float = Field(0, ge=0, description="Budget for warm pipelines per worker process; 0 = 90% of the device's memory.")
    allow_downloads: bool = Field(False, description="Let workers fetch missing weights from the Hugging Face Hub (HF_TOKEN where needed).")
    loras_dir: Path | None = Field(None, description="LoRAs requested by name; defaults to <data_dir>/loras.")
    preview_every: int = Field(5, ge=0, description="A preview image every N denoising steps; 0 = none.")
    cpu_offload_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Models whose components stay in RAM and move to the GPU only while they run."
    )
    compile_models: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Models whose denoiser runs under torch.compile.")
    compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = Field(
        "max-autotune-no-cudagraphs", description="torch.compile's mode for DDIFFUSION_COMPILE_MODELS."
    )
    compile_cache_dir: Path | None = Field(
        None, description="torch.compile's caches (Inductor, Triton), kept across restarts; defaults to <data_dir>/compile-cache."
    )
    fused_qkv_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Models whose attention runs with fused QKV projections (same images, faster on large GPUs)."
    )
    channels_last_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Models whose UNet runs in channels-last memory format (same images, faster on tensor cores)."
    )
    fp8_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Models whose denoiser runs in FP8 (torchao; CUDA compute capability 8.9+): faster, with slightly different images; "
        "such models take no LoRAs.",
    )
    ocio_config: str | None = Field(
        None,
        description="The studio's OpenColorIO config (a path to config.ocio, or an ocio:// URI) that EXR outputs are converted "
        "with; unset = OCIO's built-in CG config (ocio://cg-config-latest).",
    )
    ocio_target: str = Field(
        "ACEScg", min_length=1, description="The scene-linear colour space of that config EXR outputs are written in (from the models' sRGB)."
    )
    # Both the api (checks at submit, lists templates) and the comfy workers (run them) read these two.
    comfy_workflows_dir: Path | None = Field(
        None,
        description="Trusted ComfyUI templates, <name>.json in API format; defaults to comfy_sidecar/workflows in "
        "a checkout, else <data_dir>/workflows.",
    )
    comfy_allowed_nodes: Annotated[frozenset[str], NoDecode] = Field(
        DEFAULT_ALLOWED_NODES, description="Node classes a user-supplied ComfyUI graph may use (comma list)."
    )
    comfy_url: str = Field("http://127.0.0.1:8188", description="Base URL of the ComfyUI server.")
    comfy_timeout_s: float = Field(30, gt=0, description="Per-request read timeout.")
    comfy_connect_timeout_s: float = Field(5, gt=0)
    comfy_retries: int = Field(3, ge=0, description="Retries after the first attempt when ComfyUI cannot be reached.")
    comfy_backoff_s: float = Field(0.5, ge=0, description="Base of the exponential backoff between retries.")
    comfy_poll_s: float = Field(1.0, gt=0, description="How often a silent run checks for cancellation.")
    comfy_history_poll_s: float = Field(15, gt=0, description="After this much silence, /history is asked whether the prompt ended.")
    comfy_history_wait_s: float = Field(10, ge=0, description="How long to wait for /history once the prompt ended.")
    comfy_preview_interval_s: float = Field(1.0, ge=0, description="At most one preview is stored per interval.")

    # Hosted providers (cpu workers); the SDKs' own variable names are kept for keys and endpoints.
    openai_api_key: SecretStr | None = Field(None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, alias="OPENAI_BASE_URL", description="Any OpenAI-compatible server.")
    replicate_api_token: SecretStr | None = Field(None, alias="REPLICATE_API_TOKEN")
    replicate_base_url: str | None = None
    provider_timeout_s: float = Field(120, gt=0, description="Per-request connect/read timeout.")
    provider_max_retries: int = Field(4, ge=0, description="Retries after the first attempt on 429, 5xx and network errors.")
    provider_backoff_s: float = Field(1.0, ge=0, description="Base of the exponential backoff.")
    provider_max_backoff_s: float = Field(30, ge=0, description="Cap on any one wait, Retry-After included.")
    provider_deadline_s: float = Field(180, gt=0, description="A provider call fails `provider_timeout` after this long in all, retries included.")
    provider_replicate_deadline_s: float = Field(
        540, gt=0, description="A Replicate prediction still running after this is cancelled there; keep it below the cpu time limit."
    )
    provider_replicate_poll_s: float = Field(1.0, gt=0, description="How often a running Replicate prediction is polled.")
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("fetch_allowed_hosts", "webhook_allowed_hosts", "cors_origins", "ready_queues", "comfy_allowed_nodes", "cpu_offload_models", "compile_models",
                     "fused_qkv_models", "channels_last_models", "fp8_models", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cpu_offload_models", "compile_models", "fused_qkv_models", "channels_last_models", "fp8_models")
    @classmethod
    def _diffusers_models(cls, names: list[str]) -> list[str]:
        # A misspelt name would otherwise be a setting that silently does nothing.
        if unknown := [name for name in names if name not in CATALOGUE or CATALOGUE[name].engine not in DIFFUSERS_ENGINES]:
            raise ValueError(f"{', '.join(unknown)}: not a diffusers model of the catalogue (GET /api/models lists them)")
        return names

    @field_validator("blob_store")
    @classmethod
    def _blob_store_url(cls, value: str | None) -> str | None:
        if value is None or value.startswith("file:///") or (value.startswith("s3://") and value[5:].split("/")[0]):
            return value
        raise ValueError(f"{value!r} is not a blob store; use file:///absolute/path or s3://bucket/prefix.")

    @cached_property
    def resolved_models_dir(self) -> Path:
        return (self.models_dir or self.data_dir / "models").resolve()

    @cached_property
    def resolved_compile_cache_dir(self) -> Path:
        return (self.compile_cache_dir or self.data_dir / "compile-cache").resolve()

    @cached_property
    def resolved_loras_dir(self) -> Path:
        return (self.loras_dir or self.data_dir / "loras").resolve()

    @cached_property
    def resolved_comfy_workflows_dir(self) -> Path:
        if self.comfy_workflows_dir is not None:
            return self.comfy_workflows_dir.resolve()
        # An installed package has no comfy_sidecar/ beside it: the data dir is the fallback.
        return CHECKOUT_WORKFLOWS_DIR if CHECKOUT_WORKFLOWS_DIR.is_dir() else (self.data_dir / "workflows").resolve()

    @cached_property
    def blobs_dir(self) -> Path:
        return (self.data_dir / "blobs").resolve()

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def admin_key_value(self) -> str:
        return self.admin_key.get_secret_value() if self.admin_key else stored_secret(self.data_dir, "admin_key")

    def secret_key_value(self) -> str:
        return self.secret_key.get_secret_value() if self.secret_key else stored_secret(self.data_dir, "secret_key")

    def to_env(self) -> dict[str, str]:
        """These settings as DDIFFUSION_* variables, for child processes to read back."""
        env = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, list | frozenset):
                value = ",".join(value if isinstance(value, list) else sorted(value))
            elif isinstance(value, Path):
                value = value.resolve()
            env[field.alias or f"DDIFFUSION_{name.upper()}"] = str(value)
        return env

    def redis_url_or_raise(self) -> str:
        if not self.redis_url:
            raise RuntimeError("DDIFFUSION_REDIS_URL is not set; start the platform with `ddiffusion serve`.")
        return self.redis_url

    def time_limit_s(self, queue: str) -> int:
        return {"gpu": self.gpu_time_limit_s, "cpu": self.cpu_time_limit_s, "comfy": self.comfy_time_limit_s}[queue]


def stored_secret(data_dir: Path, name: str) -> str:
    """A secret kept in the data dir (created 0600 on first use), for settings left unset."""
    path = data_dir / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secret)
        return secret
