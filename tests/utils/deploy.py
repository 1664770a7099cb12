"""The compose stack of `make test-deploy` (tests/deploy): a project of its own, driven with the
real `docker compose` and checked through its published port, as a studio would use it."""

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    project: str
    env_file: Path
    files: list[str]
    base: str
    admin_key: str
    figures: dict[str, Any] = field(default_factory=dict)

    def command(self) -> list[str]:
        command = ["docker", "compose", "-p", self.project, "--env-file", str(self.env_file)]
        for name in self.files:
            command += ["-f", name]
        return command

    def compose(self, *args: str, timeout_s: float = 900) -> str:
        done = subprocess.run([*self.command(), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout_s)
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
