"""Every request body the OpenAPI offers, sent as Swagger UI would send it, runs on the tiny models."""

import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.openapi import openapi_document
from core.schemas.common import BLOB_REF
from core.settings import Settings
from tests.utils.loras import make_lora
from tests.utils.tasks import png_bytes, wait_for

DOC = openapi_document()
TASK_ROUTES = [path for path, ops in DOC["paths"].items() if re.fullmatch(r"/api/\w+", path) and "post" in ops and path not in ("/api/files", "/api/batches")]


def json_media(path: str) -> dict[str, Any]:
    return DOC["paths"][path]["post"]["requestBody"]["content"]["application/json"]


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = DOC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def from_fields(schema: dict[str, Any]) -> dict[str, Any]:
    """An object from its properties' own examples and defaults, as Swagger UI builds one."""
    body = {}
    for name, prop in resolve(schema).get("properties", {}).items():
        prop = resolve(prop)
        if "example" in prop or "examples" in prop or "default" in prop or "properties" in prop:
            body[name] = sample(prop)
        else:
            # Swagger would send a type placeholder ("string", 0), which no request validates.
            assert name not in resolve(schema).get("required", []), f"required field {name!r} has no example"
    return body


def sample(schema: dict[str, Any]) -> Any:
    """The schema's example, else its first `examples`, else its default, else one built from its fields."""
    schema = resolve(schema)
    if "example" in schema:
        return schema["example"]
    if schema.get("examples"):
        return schema["examples"][0]
    if "default" in schema:
        return schema["default"]
    return from_fields(schema)


def swagger_body(path: str) -> Any:
    """The body Try it out sends unchanged: the media type's example, else its first named one, else the schema's."""
    media = json_media(path)
    if "example" in media:
        return media["example"]
    if media.get("examples"):
        return next(iter(media["examples"].values()))["value"]
    return sample(media["schema"])


def refs_in(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*map(refs_in, value.values()))
    if isinstance(value, list):
        return set().union(*map(refs_in, value))
    return {value} if isinstance(value, str) and BLOB_REF.match(value) else set()


def substitute(value: Any, refs: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: substitute(item, refs) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, refs) for item in value]
    return refs.get(value, value) if isinstance(value, str) else value


def submit_and_wait(client: TestClient, path: str, body: Any, headers: dict[str, str]) -> dict[str, Any]:
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 202, response.text
    return wait_for(client, path.removeprefix("/api/"), response.json()["id"], headers)


def test_every_task_route_offers_examples() -> None:
    assert {"/api/images", "/api/texts", "/api/videos", "/api/workflows"} == set(TASK_ROUTES)
    for path in TASK_ROUTES:
        assert len(json_media(path)["examples"]) >= 2, path


@pytest.mark.parametrize("path", TASK_ROUTES)
def test_swagger_default_body_needs_nothing_and_succeeds(platform_client: TestClient, user: dict[str, str], path: str) -> None:
    body = swagger_body(path)
    assert not refs_in(body), "the default example must not need an upload"
    record = submit_and_wait(platform_client, path, body, user)
    assert record["status"] == "succeeded", record
    assert record["outputs"]


@pytest.mark.parametrize("path", TASK_ROUTES)
def test_schema_example_and_field_examples_are_accepted(platform_client: TestClient, user: dict[str, str], path: str) -> None:
    """What clients and Swagger's schema view build when they ignore the named examples."""
    schema = json_media(path)["schema"]
    for body in (sample(schema), from_fields(schema)):
        response = platform_client.post(path, json=body, headers=user)
        assert response.status_code == 202, (body, response.text)


NAMED = [(path, name) for path in TASK_ROUTES for name in json_media(path)["examples"]]


@pytest.mark.parametrize(("path", "name"), NAMED, ids=[f"{path.rsplit('/', 1)[-1]}-{name}" for path, name in NAMED])
def test_named_example_runs(
    platform_client: TestClient, user: dict[str, str], settings: Settings, tiny_models: Path, tmp_path: Path, path: str, name: str
) -> None:
    example = json_media(path)["examples"][name]
    body = example["value"]
    placeholders = sorted(refs_in(body))
    if placeholders:
        assert "POST /api/files" in example["summary"] + example["description"], "an example that needs an upload must say so"
        refs = {}
        for shade, placeholder in enumerate(placeholders):
            upload = platform_client.post("/api/files", files={"file": ("in.png", png_bytes(color=(255 * shade, 90, 30)), "image/png")}, headers=user)
            assert upload.status_code == 201, upload.text
            refs[placeholder] = upload.json()["ref"]
        body = substitute(body, refs)
    for lora in body.get("loras", []):
        # A LoRA by name is a file the operator put in the LoRA dir; the example says so.
        assert "LoRA dir" in example["description"]
        loras_dir = settings.resolved_loras_dir
        loras_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(make_lora(tiny_models, tmp_path), loras_dir / f"{lora['name']}.safetensors")
    record = submit_and_wait(platform_client, path, body, user)
    assert record["status"] == "succeeded", record
    assert record["outputs"]


@pytest.mark.parametrize("name", sorted(json_media("/api/batches")["examples"]))
def test_batch_examples_run(platform_client: TestClient, user: dict[str, str], name: str) -> None:
    response = platform_client.post("/api/batches", json=json_media("/api/batches")["examples"][name]["value"], headers=user)
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 120
    while not (batch := platform_client.get(f"/api/batches/{response.json()['id']}", headers=user).json())["done"]:
        assert time.monotonic() < deadline, batch["counts"]
        time.sleep(0.2)
    assert batch["counts"]["succeeded"] == len(batch["tasks"]) > 1, batch["counts"]
