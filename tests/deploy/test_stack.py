"""`make test-deploy`: the compose stack built from this checkout and run for real, checked through
its published port as a studio would use it, then taken down with nothing left behind.

Needs a Docker engine with Compose v2 (not part of `make test`). Without an NVIDIA GPU the gpu
service runs its CPU-torch variant (docker-compose.no-gpu.yml); DEPLOY_GPU=1 uses the GPU as
docker-compose.yml says. DEPLOY_TORCH_WHEEL names a local torch wheel for that variant where the
PyTorch index cannot be reached (it is copied to docker/wheels). DEPLOY_PORT (18080) is the port
published on the host; DEPLOY_BASE_URL, where the api is reached if not at that port on 127.0.0.1.
The figures (timings, image sizes) are printed as one JSON object at the end.
"""

import json
import os
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.deploy

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("redis", "api", "gpu-workers", "cpu-workers", "comfy-workers")
BUILT = {"api": "api", "gpu-workers": "gpu-workers", "cpu-workers": "cpu-workers"}
# Seconds of tiny-sd on a CPU (its largest size and most steps): long enough to restart something under it.
LONG_TASK = {"model": "tiny-sd", "prompt": "a long one", "width": 512, "height": 512, "steps": 50, "seed": 3}
DRAIN_S = 3  # the workers' drain in this stack: a stopped worker hands its task back after this


@dataclass
class Stack:
    project: str
    env_file: Path
    files: list[str]
    base: str
    admin_key: str
    figures: dict[str, Any] = field(default_factory=dict)

    def compose(self, *args: str, timeout_s: float = 900) -> str:
        command = ["docker", "compose", "-p", self.project, "--env-file", str(self.env_file)]
        for name in self.files:
            command += ["-f", name]
        done = subprocess.run([*command, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout_s)
        assert done.returncode == 0, f"docker compose {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    def timed(self, name: str, *args: str, timeout_s: float = 900) -> str:
        started = time.monotonic()
        out = self.compose(*args, timeout_s=timeout_s)
        self.figures[f"{name}_s"] = round(time.monotonic() - started, 1)
        return out

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30, trust_env=False)


def docker_available() -> bool:
    try:
        return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0 and (
            subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def wait_until(what: str, ready: Any, timeout_s: float, every_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = ready()
        except httpx.TransportError:
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not within {timeout_s:g}s"
        time.sleep(every_s)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not docker_available():
        pytest.fail("make test-deploy needs a Docker engine with Compose v2: `docker compose version` and `docker info` must work")
    files = ["docker-compose.yml"] + ([] if os.environ.get("DEPLOY_GPU") == "1" else ["docker-compose.no-gpu.yml"])
    if wheel := os.environ.get("DEPLOY_TORCH_WHEEL"):
        shutil.copy(wheel, REPO / "docker" / "wheels")
    port = int(os.environ.get("DEPLOY_PORT", "18080"))
    admin_key = secrets.token_urlsafe(24)
    env_file = tmp_path_factory.mktemp("deploy") / ".env"  # throwaway secrets, never the checkout's .env
    env_file.write_text(
        f"REDIS_PASSWORD={secrets.token_hex(16)}\nDDIFFUSION_ADMIN_KEY={admin_key}\nDDIFFUSION_SECRET_KEY={secrets.token_urlsafe(24)}\n"
        f"DDIFFUSION_PORT={port}\nDDIFFUSION_DRAIN_S={DRAIN_S}\nDDIFFUSION_LOG_LEVEL=WARNING\n"
        f"DDIFFUSION_ENV_FILE={env_file}\n"  # the containers' env_file too, not the checkout's .env
    )
    stack = Stack(
        f"dd-deploy-{uuid.uuid4().hex[:6]}", env_file, files, os.environ.get("DEPLOY_BASE_URL", f"http://127.0.0.1:{port}"), admin_key
    )
    try:
        stack.timed("build", "build", *BUILT.values(), timeout_s=3600)
        stack.figures["image_mb"] = image_sizes(stack)
        stack.timed("up", "up", "-d", "--wait", "--wait-timeout", "300", *SERVICES, timeout_s=400)
        yield stack
    finally:
        stack.timed("down", "down", "-v", "--remove-orphans", timeout_s=300)
        left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={stack.project}"], capture_output=True, text=True)
        volumes = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={stack.project}"], capture_output=True, text=True)
        stack.figures["left_running"] = len(left.stdout.split()) + len(volumes.stdout.split())
        print("\n" + json.dumps({"deploy": stack.figures}, indent=2))
        assert stack.figures["left_running"] == 0, f"left behind: {left.stdout} {volumes.stdout}"


def image_sizes(stack: Stack) -> dict[str, float]:
    sizes = {}
    for service in BUILT:
        image = f"{stack.project}-{service}"
        size = subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", image], capture_output=True, text=True, check=True).stdout
        sizes[service] = round(int(size) / 1e6, 1)
    return sizes


def user_key(stack: Stack) -> dict[str, str]:
    with stack.client() as client:
        answer = client.post("/api/admin/keys", json={"name": "deploy"}, headers={"X-API-Key": stack.admin_key})
    assert answer.status_code == 201, answer.text
    return {"X-API-Key": answer.json()["key"]}


def submit(stack: Stack, headers: dict[str, str], domain: str, body: dict[str, Any]) -> str:
    """The task id of a 202; a 503 (the api or Redis restarting) is retried, anything else fails."""

    def accepted() -> httpx.Response | None:
        answer = client.post(f"/api/{domain}", json=body, headers=headers)
        assert answer.status_code in (202, 503), answer.text
        return answer if answer.status_code == 202 else None

    with stack.client() as client:
        return wait_until(f"a 202 for {body['model']}", accepted, 60).json()["id"]


def record(stack: Stack, headers: dict[str, str], domain: str, task_id: str) -> dict[str, Any]:
    with stack.client() as client:
        return client.get(f"/api/{domain}/{task_id}", headers=headers).json()


def finished(stack: Stack, headers: dict[str, str], domain: str, task_id: str, timeout_s: float = 300) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        current = record(stack, headers, domain, task_id)
        return current if current.get("status") in ("succeeded", "failed", "cancelled") else None

    return wait_until(f"task {task_id} ending", ended, timeout_s)


def start_long_task(stack: Stack, headers: dict[str, str]) -> str:
    """A long image task's id, once it runs on the gpu worker."""
    task_id = submit(stack, headers, "images", LONG_TASK)
    wait_until(f"task {task_id} running", lambda: record(stack, headers, "images", task_id).get("status") == "running", 120, 0.2)
    return task_id


def test_every_queue_has_a_live_worker(stack: Stack) -> None:
    with stack.client() as client:
        ready = wait_until("/readyz 200", lambda: (r := client.get("/readyz")).status_code == 200 and r.json(), 180)
    assert all(ready["workers"][queue] >= 1 for queue in ("gpu", "cpu", "comfy")), ready
    assert {worker["name"].split("@")[0] for worker in ready["live"]} == {"gpu", "cpu", "comfy"}, ready


def test_a_tiny_image_and_a_tiny_text_succeed_and_their_outputs_download(stack: Stack) -> None:
    headers = user_key(stack)
    started = time.monotonic()
    image = finished(stack, headers, "images", submit(stack, headers, "images", {"model": "tiny-sd", "prompt": "deploy", "seed": 1}))
    stack.figures["first_image_s"] = round(time.monotonic() - started, 1)
    text = finished(stack, headers, "texts", submit(stack, headers, "texts", {"model": "tiny-llm", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}))
    assert image["status"] == "succeeded" and text["status"] == "succeeded", (image, text)
    with stack.client() as client:
        png = client.get(image["outputs"][0]["url"])
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert text["outputs"][0]["text"]


def test_a_task_survives_a_restart_of_the_api(stack: Stack) -> None:
    headers = user_key(stack)
    task_id = submit(stack, headers, "images", LONG_TASK)
    stack.timed("restart_api", "restart", "api", timeout_s=120)
    done = finished(stack, headers, "images", task_id)
    assert done["status"] == "succeeded", done


def test_a_task_survives_a_restart_of_redis(stack: Stack) -> None:
    headers = user_key(stack)
    task_id = start_long_task(stack, headers)
    stack.timed("restart_redis", "restart", "redis", timeout_s=120)
    done = finished(stack, headers, "images", task_id)
    assert done["status"] == "succeeded" and done["attempts"] == 1, done


def test_stopping_the_gpu_worker_mid_task_hands_the_task_back(stack: Stack) -> None:
    headers = user_key(stack)
    task_id = start_long_task(stack, headers)
    stack.timed("stop_gpu_worker", "stop", "gpu-workers", timeout_s=120)
    handed_back = record(stack, headers, "images", task_id)
    assert handed_back["status"] == "queued" and any("requeued: worker shutting down" in line for line in handed_back["logs"]), handed_back
    stack.compose("start", "gpu-workers", timeout_s=120)
    done = finished(stack, headers, "images", task_id, timeout_s=600)
    assert done["status"] == "succeeded" and done["attempts"] == 1, done
