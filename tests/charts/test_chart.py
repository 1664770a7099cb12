"""The Helm chart, rendered by the real `helm template` in three configurations and checked the
way a cluster would check it: every manifest against the Kubernetes OpenAPI schemas
(kubernetes-validate, strict: unknown fields refused), the ScaledObjects against KEDA's CRD
schema, and what the manifests promise against the code (settings that exist, the endpoint and
JSON path KEDA reads, the drain that outlasts no grace period)."""

import copy
import functools
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml
from fastapi.testclient import TestClient

from api.openapi import openapi_document
from core.settings import Settings
from tests.utils.chart import CHART, CONFIGS, NAMESPACE, REPO, container, env_of, helm, of_kind, render, workers

# The oldest Kubernetes the chart accepts (Chart.yaml kubeVersion) and the newest schemas here.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.utils.latest_version())
KEDA_CRD = Path(os.environ.get("KEDA_CRD") or Path(__file__).with_name("keda-scaledobjects-crd.yaml"))


def strict(schema: Any) -> Any:
    """The CRD's openAPIV3Schema as JSON Schema, unknown fields refused (kubectl's strict field validation)."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items() if not key.startswith("x-kubernetes-")}
        if schema.get("type") == "object" and "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


@functools.cache
def keda_schema() -> dict[str, Any]:
    crd = next(doc for doc in yaml.safe_load_all(KEDA_CRD.read_text()) if doc and doc.get("kind") == "CustomResourceDefinition")
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    return strict(version["schema"]["openAPIV3Schema"])


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("config", CONFIGS)
def test_every_manifest_is_valid_kubernetes(config: str, version: str) -> None:
    docs = render(config)
    assert of_kind(docs, "Deployment"), "nothing rendered"
    for doc in docs:
        if doc["apiVersion"].startswith("keda.sh/"):
            continue
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("config", CONFIGS)
def test_helm_lint_passes(config: str) -> None:
    result = helm("lint", str(CHART), "--strict", *CONFIGS[config])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("config", CONFIGS)
def test_scaled_objects_are_valid_keda_and_scale_a_worker_deployment(config: str) -> None:
    docs = render(config)
    deployments = of_kind(docs, "Deployment")
    for scaled in of_kind(docs, "ScaledObject").values():
        jsonschema.validate(scaled, keda_schema())
        target = deployments[scaled["spec"]["scaleTargetRef"]["name"]]
        # KEDA owns the replica count: a `replicas` in the Deployment would fight it on every upgrade.
        assert "replicas" not in target["spec"]


def test_the_keda_schema_refuses_what_keda_would() -> None:
    scaled = copy.deepcopy(next(iter(of_kind(render("default"), "ScaledObject").values())))
    scaled["spec"]["triggers"][0]["metadata"]["targetValue"] = 1
    with pytest.raises(jsonschema.ValidationError, match="not of type 'string'"):
        jsonschema.validate(scaled, keda_schema())
    scaled = copy.deepcopy(next(iter(of_kind(render("default"), "ScaledObject").values())))
    scaled["spec"]["minReplicas"] = 0
    with pytest.raises(jsonschema.ValidationError, match="minReplicas"):
        jsonschema.validate(scaled, keda_schema())


def test_gpu_workers_scale_from_zero_on_queued_plus_running_tasks(client: TestClient) -> None:
    docs = render("default")
    scaled = of_kind(docs, "ScaledObject")
    gpu = workers(docs)["gpu"]
    so = scaled[gpu["metadata"]["name"]]
    assert so["spec"]["minReplicaCount"] == 0 and so["spec"]["maxReplicaCount"] >= 1
    (trigger,) = so["spec"]["triggers"]
    assert trigger["type"] == "metrics-api"
    meta = trigger["metadata"]
    assert meta["targetValue"] == "1", "one task per gpu worker"

    # The URL is the api Service's, and the path and JSON location are what the api serves.
    url = urlsplit(meta["url"])
    service = of_kind(docs, "Service")[url.hostname.split(".")[0]]
    assert url.hostname == f"{service['metadata']['name']}.{NAMESPACE}.svc"
    assert url.port == service["spec"]["ports"][0]["port"]
    assert service["spec"]["selector"] == of_kind(docs, "Deployment")[service["metadata"]["name"]]["spec"]["selector"]["matchLabels"]
    response = client.get(url.path)
    assert response.status_code == 200
    value: Any = response.json()
    for part in meta["valueLocation"].split("."):
        value = value[part]
    assert isinstance(value, int)
    assert meta["valueLocation"] == "queues.gpu.demand"
    assert set(response.json()["queues"]["gpu"]) >= {"queued", "running", "demand"}


@pytest.mark.parametrize("config", CONFIGS)
def test_a_worker_is_never_cut_off_by_its_grace_period(config: str) -> None:
    for queue, deployment in workers(render(config)).items():
        pod = deployment["spec"]["template"]["spec"]
        worker = container(deployment, "worker")
        drain_s = float(env_of(worker)["DDIFFUSION_DRAIN_S"])
        assert pod["terminationGracePeriodSeconds"] > drain_s + 30, queue
        hook = worker["lifecycle"]["preStop"]["exec"]["command"]
        assert hook[:2] == ["sh", "-c"] and "kill -TERM 1" in hook[2] and "kill -0 1" in hook[2], "the hook starts the drain and waits for it"
        assert env_of(worker)["WORKER_QUEUE"] == queue
        if queue == "gpu":
            assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_a_gpu_worker_gets_one_gpu_whatever_the_values_say() -> None:
    docs = render("default", "--set", "gpuWorkers.resources.limits.nvidia\\.com/gpu=4")
    assert container(workers(docs)["gpu"], "worker")["resources"]["limits"]["nvidia.com/gpu"] == 1


@pytest.mark.parametrize("config", CONFIGS)
def test_every_setting_the_chart_names_exists(config: str) -> None:
    known = {field.alias or f"DDIFFUSION_{name.upper()}" for name, field in Settings.model_fields.items()}
    docs = render(config)
    named = {key for doc in of_kind(docs, "ConfigMap").values() for key in doc["data"]}
    for deployment in of_kind(docs, "Deployment").values():
        for spec in deployment["spec"]["template"]["spec"]["containers"]:
            named |= set(env_of(spec))
    unknown = {name for name in named if name.startswith("DDIFFUSION_")} - known
    assert not unknown, f"no such settings: {sorted(unknown)}"


@pytest.mark.parametrize(("config", "ready"), [("default", "cpu"), ("farm", "cpu"), ("fixed", "comfy,cpu,gpu")])
def test_the_api_is_ready_without_the_workers_that_scale_from_zero(config: str, ready: str, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render(config)
    api = container(of_kind(docs, "Deployment")["dd-deferred-diffusion-api"], "api")
    paths = openapi_document()["paths"]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz" and "/healthz" in paths
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz" and "/readyz" in paths
    assert env_of(api)["DDIFFUSION_READY_QUEUES"] == ready
    monkeypatch.setenv("DDIFFUSION_READY_QUEUES", ready)
    assert [queue.value for queue in Settings(_env_file=None).ready_queues] == ready.split(",")


@pytest.mark.parametrize("config", CONFIGS)
def test_every_pod_reaches_the_same_redis_and_blob_store(config: str) -> None:
    docs = render(config)
    configmap = next(iter(of_kind(docs, "ConfigMap").values()))["data"]
    urls = set()
    for deployment in of_kind(docs, "Deployment").values():
        spec = deployment["spec"]["template"]["spec"]
        main = spec["containers"][0]
        env = env_of(main)
        names = [item["name"] for item in main["env"]]
        url = env["DDIFFUSION_REDIS_URL"]
        if isinstance(url, str) and "$(REDIS_PASSWORD)" in url:
            # Kubernetes expands $(VAR) only from variables defined before it.
            assert names.index("REDIS_PASSWORD") < names.index("DDIFFUSION_REDIS_URL")
        urls.add(json.dumps(url, sort_keys=True))
        data = next(v for v in spec["volumes"] if v["name"] == "data")
        assert {"name": "data", "mountPath": "/data"} in main["volumeMounts"]
        if "DDIFFUSION_BLOB_STORE" in configmap:
            assert configmap["DDIFFUSION_BLOB_STORE"].startswith("s3://") and "emptyDir" in data
        else:
            # The directory store: one ReadWriteMany claim that every pod mounts.
            assert "persistentVolumeClaim" in data
    assert len(urls) == 1, urls


def test_the_default_install_generates_its_secrets_and_keeps_them() -> None:
    (secret,) = of_kind(render("default"), "Secret").values()
    assert set(secret["data"]) == {"DDIFFUSION_ADMIN_KEY", "DDIFFUSION_SECRET_KEY", "REDIS_PASSWORD"}
    assert all(len(value) >= 40 for value in secret["data"].values())
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # The farm names Secrets of its own: none is rendered, and its Redis URL (password and all) is read from one.
    farm = render("farm")
    assert not of_kind(farm, "Secret")
    for deployment in of_kind(farm, "Deployment").values():
        url = env_of(container(deployment, deployment["spec"]["template"]["spec"]["containers"][0]["name"]))["DDIFFUSION_REDIS_URL"]
        assert url == {"secretKeyRef": {"name": "dd-redis", "key": "url"}}


def test_without_a_redis_the_install_says_what_to_set() -> None:
    result = helm("template", "dd", str(CHART), "--set", "redis.enabled=false")
    assert result.returncode != 0
    assert "set redis.url or redis.urlSecret.name" in result.stderr


def test_the_chart_runs_the_release_images_of_this_version() -> None:
    version = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert version
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["version"] == chart["appVersion"] == version.group(1)
    released = re.search(r"^RELEASE_IMAGES \?= (.+)$", (REPO / "Makefile").read_text(), re.M)
    assert released
    images = set()
    for config in CONFIGS:
        for deployment in of_kind(render(config), "Deployment").values():
            for spec in deployment["spec"]["template"]["spec"]["containers"]:
                images.add(spec["image"])
    names = {image.rsplit("/", 1)[1].split(":")[0] for image in images}
    assert names == set(released.group(1).split())
    assert all(image.endswith(f":{version.group(1)}") for image in images)
