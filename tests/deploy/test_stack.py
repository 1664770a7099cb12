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

import pytest

from tests.utils.chart import container, render, workers
from tests.utils.deploy import REPO, Stack, docker_available, finished, record, submit, user_key, wait_until

pytestmark = pytest.mark.deploy

SERVICES = ("redis", "api", "gpu-workers", "cpu-workers", "comfy-workers")
BUILT = {"api": "api", "gpu-workers": "gpu-workers", "cpu-workers": "cpu-workers"}
# Seconds of tiny-sd on a CPU (its largest size and most steps): long enough to restart something under it.
LONG_TASK = {"model": "tiny-sd", "prompt": "a long one", "width": 512, "height": 512, "steps": 50, "seed": 3}
DRAIN_S = 3  # the workers' drain in this stack: a stopped worker hands its task back after this


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


def test_the_charts_drain_hook_hands_a_running_task_back(stack: Stack) -> None:
    """The Kubernetes preStop hook of charts/deferred-diffusion, run in the real gpu worker image."""
    hook = container(workers(render("default"))["gpu"], "worker")["lifecycle"]["preStop"]["exec"]["command"]
    headers = user_key(stack)
    task_id = start_long_task(stack, headers)
    started = time.monotonic()
    # The hook returns only when the worker (PID 1) has exited, which ends the container and the hook with it.
    subprocess.run([*stack.command(), "exec", "-T", "gpu-workers", *hook], cwd=REPO, capture_output=True, timeout=120)
    stack.figures["drain_hook_s"] = round(time.monotonic() - started, 1)
    logs = record(stack, headers, "images", task_id)["logs"]
    assert any("requeued: worker shutting down" in line for line in logs), logs
    # restart: unless-stopped brings the worker back (as a Deployment would start a new pod).
    done = finished(stack, headers, "images", task_id, timeout_s=600)
    assert done["status"] == "succeeded" and done["attempts"] == 1, done
