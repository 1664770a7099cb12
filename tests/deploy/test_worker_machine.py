"""`make test-deploy`, the farm: docker-compose.worker.yml run for real as a GPU machine of its own.

A head node (the compose stack's redis and api, blobs in an S3 bucket served by moto's server
standing in for MinIO) and, as a second compose project, only a gpu worker from
docker-compose.worker.yml: it shares no volume with the head, reaches its Redis and the bucket
over the network, and is the only gpu worker there is, so the task it runs proves the file works.
DEPLOY_FARM_PORT (18081) is the head's published port.
"""

import json
import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.utils.deploy import Stack, docker_available, finished, submit, user_key, wait_until

pytestmark = pytest.mark.deploy

BUCKET = "dd-farm"
# moto's S3 server at the version the tests use (pyproject's test extra).
S3_DOCKERFILE = """FROM python:3.11-slim
RUN pip install --no-cache-dir 'moto[server]==5.2.5'
CMD ["moto_server", "-H", "0.0.0.0", "-p", "5000"]
"""


def write(path: Path, lines: dict[str, str]) -> Path:
    path.write_text("".join(f"{name}={value}\n" for name, value in lines.items()))
    return path


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Stack]]:
    if not docker_available():
        pytest.fail("make test-deploy needs a Docker engine with Compose v2: `docker compose version` and `docker info` must work")
    tmp = tmp_path_factory.mktemp("farm")
    port = int(os.environ.get("DEPLOY_FARM_PORT", "18081"))
    redis_password, admin_key = secrets.token_hex(16), secrets.token_urlsafe(24)
    store = {
        "DDIFFUSION_BLOB_STORE": f"s3://{BUCKET}/blobs",
        "DDIFFUSION_S3_ENDPOINT_URL": "http://s3:5000",
        "AWS_ACCESS_KEY_ID": "farm",
        "AWS_SECRET_ACCESS_KEY": secrets.token_hex(16),
    }
    head_env = tmp / "head.env"
    write(head_env, {
        "REDIS_PASSWORD": redis_password, "DDIFFUSION_ADMIN_KEY": admin_key, "DDIFFUSION_SECRET_KEY": secrets.token_urlsafe(24),
        "DDIFFUSION_PORT": str(port), "DDIFFUSION_LOG_LEVEL": "WARNING", "DDIFFUSION_ENV_FILE": str(head_env), **store,
    })  # fmt: skip
    (tmp / "s3.Dockerfile").write_text(S3_DOCKERFILE)
    (tmp / "head.yml").write_text(
        "services:\n"
        "  s3:\n"
        f"    build: {{context: {tmp}, dockerfile: s3.Dockerfile}}\n"
        "    healthcheck:\n"
        '      test: ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen(\'http://127.0.0.1:5000/\', timeout=3)"]\n'
        "      interval: 2s\n"
        "      retries: 30\n"
    )
    head = Stack(f"dd-farm-{uuid.uuid4().hex[:6]}", head_env, ["docker-compose.yml", str(tmp / "head.yml")], f"http://127.0.0.1:{port}", admin_key)

    # The GPU machine: its own project and env file, on the head's network as on a studio LAN.
    worker_env = tmp / "worker.env"
    write(worker_env, {
        "DDIFFUSION_REDIS_URL": f"redis://:{redis_password}@redis:6379/0", "DDIFFUSION_LOG_LEVEL": "WARNING",
        "DDIFFUSION_ENV_FILE": str(worker_env), **store,
    })  # fmt: skip
    (tmp / "network.yml").write_text(f"networks:\n  default:\n    name: {head.project}_default\n    external: true\n")
    files = ["docker-compose.worker.yml"] + ([] if os.environ.get("DEPLOY_GPU") == "1" else ["docker-compose.no-gpu.yml"])
    machine = Stack(f"{head.project}-gpu0", worker_env, [*files, str(tmp / "network.yml")], head.base, admin_key)
    try:
        head.timed("build", "build", "s3", "api", timeout_s=1800)
        machine.timed("build", "build", "gpu-workers", timeout_s=3600)
        head.compose("up", "-d", "--wait", "s3", timeout_s=300)
        create = f"import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:5000', region_name='us-east-1').create_bucket(Bucket='{BUCKET}')"
        head.compose("exec", "-T", "-e", f"AWS_ACCESS_KEY_ID={store['AWS_ACCESS_KEY_ID']}", "-e",
                     f"AWS_SECRET_ACCESS_KEY={store['AWS_SECRET_ACCESS_KEY']}", "s3", "python", "-c", create)  # fmt: skip
        head.timed("up", "up", "-d", "--wait", "--wait-timeout", "300", "redis", "api", timeout_s=400)
        machine.timed("up", "up", "-d", "--wait", "--wait-timeout", "300", "gpu-workers", timeout_s=400)
        yield head, machine
    finally:
        machine.compose("down", "-v", "--remove-orphans", timeout_s=300)
        head.compose("down", "-v", "--remove-orphans", timeout_s=300)
        print("\n" + json.dumps({"farm": {"head": head.figures, "gpu_machine": machine.figures}}, indent=2))


def test_a_worker_machine_runs_the_heads_tasks_through_the_bucket(farm: tuple[Stack, Stack]) -> None:
    head, machine = farm
    # The machine's worker is the only gpu worker: the head's readiness sees it by name.
    with head.client() as client:
        live = wait_until("the gpu machine's worker", lambda: [w for w in client.get("/readyz").json().get("live", []) if "gpu" in w["queues"]], 180)
    assert len(live) == 1, live
    container = machine.compose("ps", "-q", "gpu-workers").strip()[:12]
    assert live[0]["name"] == f"gpu@{container}", (live, container)

    headers = user_key(head)
    done = finished(head, headers, "images", submit(head, headers, "images", {"model": "tiny-sd", "prompt": "farm", "seed": 2}))
    assert done["status"] == "succeeded", done
    with head.client() as client:
        png = client.get(done["outputs"][0]["url"])
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    # The output is in the bucket, where the head read it from: the two share no disk.
    listing = head.compose("exec", "-T", "s3", "python", "-c", (
        "import boto3; c = boto3.client('s3', endpoint_url='http://127.0.0.1:5000', region_name='us-east-1', "
        "aws_access_key_id='x', aws_secret_access_key='x'); "
        f"print('\\n'.join(o['Key'] for o in c.list_objects_v2(Bucket='{BUCKET}').get('Contents', [])))"
    ))  # fmt: skip
    ref = done["outputs"][0]["ref"].removeprefix("sha256:")
    assert any(ref in key for key in listing.split()), listing
