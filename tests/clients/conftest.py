"""The platform over real HTTP for the client tests: uvicorn on a loopback port in a thread, in
front of the session's Redis and real Celery workers."""

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from ddiffusion import Client

from api.main import create_app
from core.settings import Settings
from tests.utils.platform import WorkerFleet, free_port
from tests.utils.tasks import ADMIN


@pytest.fixture(scope="session")
def api_address(settings: Settings, workers: WorkerFleet) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="client-tests-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn exited during startup"
        assert time.monotonic() < deadline, "uvicorn did not start in 30s"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


@pytest.fixture
def user_key(api_address: str) -> str:
    """A fresh key per test, so each test sees only its own tasks."""
    response = httpx.post(f"{api_address}/api/admin/keys", json={"name": "client-tests"}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()["key"]


@pytest.fixture
def api_client(api_address: str, user_key: str) -> Iterator[Client]:
    with Client(api_address, user_key) as client:
        yield client


@pytest.fixture
def cli_env(api_address: str, user_key: str) -> dict[str, str]:
    """What a shell user sets before running `ddiffusion`."""
    return {"DDIFFUSION_API_ADDRESS": api_address, "DDIFFUSION_API_KEY": user_key}
