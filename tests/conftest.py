"""Session-wide real parts: tiny models, an embedded Redis, one real Celery worker per queue."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.schemas import Queue
from core.settings import Settings
from tests.fakes import FakeServices
from tests.fakes.comfyui_server import fake_comfyui
from tests.fakes.openai_server import fake_openai
from tests.fakes.replicate_server import fake_replicate
from tests.utils.platform import RedisServer, WorkerFleet, make_settings
from tests.utils.tasks import ADMIN, new_key


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_models(models_dir: Path) -> Path:
    """The tiny-* models, built once per session with the project's own builder."""
    from workers.local.tiny import ensure_tiny_models

    ensure_tiny_models(models_dir)
    return models_dir


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def settings(redis_server: RedisServer, models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(redis_server.url, tmp_path_factory.mktemp("data"), models_dir)


@pytest.fixture(scope="session")
def fakes() -> Iterator[FakeServices]:
    """Loopback stand-ins for OpenAI, Replicate and a ComfyUI sidecar, used by the session's workers."""
    with fake_openai() as openai, fake_comfyui() as comfy, fake_replicate() as replicate:
        yield FakeServices(openai, comfy, replicate)


@pytest.fixture(scope="session")
def workers(settings: Settings, tiny_models: Path, fakes: FakeServices, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerFleet]:
    services = {
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": fakes.openai.base_url,
        "DDIFFUSION_PROVIDER_BACKOFF_S": "0.05",
        "DDIFFUSION_COMFY_URL": fakes.comfy.base_url,
        "REPLICATE_API_TOKEN": fakes.replicate.token,
        "DDIFFUSION_REPLICATE_BASE_URL": fakes.replicate.base_url,
        "DDIFFUSION_PROVIDER_REPLICATE_POLL_S": "0.05",
    }
    fleet = WorkerFleet(settings, tmp_path_factory.mktemp("worker-logs"), extra_env=services)
    for queue in Queue:
        fleet.start(queue)
    fleet.wait_ready(list(Queue))
    yield fleet
    fleet.stop()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The api in-process against the session's Redis (workers not required)."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def platform_client(client: TestClient, workers: WorkerFleet) -> TestClient:
    """The api with real workers behind it."""
    return client


@pytest.fixture
def user(client: TestClient) -> dict[str, str]:
    """Headers of a fresh API key, so every test sees only its own tasks."""
    return new_key(client)


@pytest.fixture
def admin() -> dict[str, str]:
    return dict(ADMIN)
