"""Hosted OpenAI models end to end: the api, real cpu workers, the real SDK and the loopback fake."""

import io
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image

from tests.fakes import FakeServices
from tests.fakes.openai_server import RecordedRequest
from tests.utils.tasks import data_url, png_bytes, wait_for


def upload(client: TestClient, headers: dict[str, str], data: bytes) -> str:
    response = client.post("/api/files", files={"file": ("in.png", data, "image/png")}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["ref"]


def run(client: TestClient, domain: str, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/{domain}", json=body, headers=headers)
    assert response.status_code == 202, response.text
    record = wait_for(client, domain, response.json()["id"], headers)
    assert record["status"] == "succeeded", record
    return record


def sent_with(fakes: FakeServices, path: str, prompt: str) -> RecordedRequest:
    """The one request the fake got on `path` with this (test-unique) prompt."""
    [request] = [r for r in fakes.openai.requests if r.path == path and r.body.get("prompt") == prompt]
    return request


def downloaded_png(client: TestClient, record: dict[str, Any]) -> Image.Image:
    [output] = record["outputs"]
    response = client.get(output["url"])  # no API key: the signature is the permission
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and image.size == (output["width"], output["height"])
    return image


def test_vision_chat_sends_the_uploaded_image_to_the_provider(
    platform_client: TestClient, user: dict[str, str], fakes: FakeServices
) -> None:
    uploaded, inline = png_bytes(48, 32, (10, 20, 30)), png_bytes(16, 16, (200, 0, 0))
    ref = upload(platform_client, user, uploaded)
    content = [
        {"type": "text", "text": "describe plate 7731"},
        {"type": "image", "image": ref},
        {"type": "image", "image": data_url(inline)},
    ]
    record = run(platform_client, "texts", user, {"model": "gpt-4o", "messages": [{"role": "user", "content": content}], "max_tokens": 40})
    assert "describe plate 7731" in record["outputs"][0]["text"]
    stored = record["request"]["messages"][0]["content"]
    assert stored[1]["image"] == ref and stored[2]["image"].startswith("sha256:")  # the data URL went to the blob store
    [request] = [r for r in fakes.openai.requests if "describe plate 7731" in str(r.body.get("messages"))]
    assert request.body["messages"][0]["content"][1:] == [
        {"type": "image_url", "image_url": {"url": data_url(uploaded)}},
        {"type": "image_url", "image_url": {"url": data_url(inline)}},
    ]


def test_text_parts_run_on_a_local_model(platform_client: TestClient, user: dict[str, str]) -> None:
    content = [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
    record = run(platform_client, "texts", user, {"model": "tiny-llm", "messages": [{"role": "user", "content": content}], "max_tokens": 4})
    assert isinstance(record["outputs"][0]["text"], str)


def test_an_image_part_to_a_model_without_vision_is_422(client: TestClient, user: dict[str, str]) -> None:
    content = [{"type": "text", "text": "what is this?"}, {"type": "image", "image": data_url(png_bytes(8, 8))}]
    response = client.post("/api/texts", json={"model": "tiny-llm", "messages": [{"role": "user", "content": content}]}, headers=user)
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert "tiny-llm does not take images" in message and "gpt-4o" in message


def test_a_missing_image_ref_in_a_message_is_422_naming_the_part(platform_client: TestClient, user: dict[str, str]) -> None:
    content = [{"type": "text", "text": "x"}, {"type": "image", "image": "sha256:" + "1" * 64}]
    messages = [{"role": "assistant", "content": "ok"}, {"role": "user", "content": content}]
    response = platform_client.post("/api/texts", json={"model": "gpt-4o", "messages": messages}, headers=user)
    assert response.status_code == 422, response.text
    assert "`messages[1].content[1].image`: no file" in response.json()["error"]["message"]


def test_malformed_content_parts_are_422(client: TestClient, user: dict[str, str]) -> None:
    ref = "sha256:" + "0" * 64
    for content in (
        [{"type": "image", "image": "not-a-ref"}],
        [{"type": "video", "video": ref}],
        [{"type": "text", "text": "x", "extra": 1}],
        [],
        [{"type": "text", "text": "x"}] * 33,
    ):
        response = client.post("/api/texts", json={"model": "gpt-4o", "messages": [{"role": "user", "content": content}]}, headers=user)
        assert response.status_code == 422, content
    system_image = {"role": "system", "content": [{"type": "image", "image": ref}]}
    response = client.post("/api/texts", json={"model": "gpt-4o", "messages": [system_image]}, headers=user)
    assert "user messages only" in response.text


def test_gpt_image_generates_a_png_of_the_asked_size(platform_client: TestClient, user: dict[str, str], fakes: FakeServices) -> None:
    prompt = "a lighthouse at dusk, generate 5512"
    record = run(platform_client, "images", user, {"model": "gpt-image-1", "prompt": prompt, "width": 1536, "height": 1024, "steps": 30})
    assert downloaded_png(platform_client, record).size == (1536, 1024)
    assert "steps" not in record["request"]
    assert any("steps ignored" in line for line in record["logs"])
    assert sent_with(fakes, "/v1/images/generations", prompt).body["size"] == "1536x1024"


def test_gpt_image_edits_the_image_inside_the_mask(platform_client: TestClient, user: dict[str, str], fakes: FakeServices) -> None:
    prompt = "paint a boat in the sea, edit 8841"
    image, mask = png_bytes(64, 48), png_bytes(64, 48, (255, 255, 255))
    body = {"model": "gpt-image-1", "prompt": prompt, "image": upload(platform_client, user, image), "mask": data_url(mask), "height": 1536}
    record = run(platform_client, "images", user, body)
    assert downloaded_png(platform_client, record).size == (1024, 1536)
    request = sent_with(fakes, "/v1/images/edits", prompt)
    assert request.files["image"].data == image
    assert Image.open(io.BytesIO(request.files["mask"].data)).size == (64, 48)


def test_gpt_image_refuses_other_sizes_listing_its_own(platform_client: TestClient, user: dict[str, str]) -> None:
    response = platform_client.post("/api/images", json={"model": "gpt-image-1", "prompt": "x", "width": 512, "height": 512}, headers=user)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert "512x512" in error["message"] and "1024x1024, 1536x1024, 1024x1536" in error["message"]
    assert error["details"] == {"sizes": ["1024x1024", "1536x1024", "1024x1536"]}


def test_gpt_image_refuses_loras(platform_client: TestClient, user: dict[str, str]) -> None:
    body = {"model": "gpt-image-1", "prompt": "x", "loras": [{"name": "film-grain"}]}
    response = platform_client.post("/api/images", json=body, headers=user)
    assert response.status_code == 422, response.text
    assert "does not take LoRAs" in response.json()["error"]["message"]


def test_gpt_image_is_listed_available_with_its_sizes(platform_client: TestClient, user: dict[str, str]) -> None:
    [entry] = [m for m in platform_client.get("/api/images/models", headers=user).json() if m["name"] == "gpt-image-1"]
    assert entry["available"] and entry["queue"] == "cpu"
    assert entry["limits"]["sizes"] == ["1024x1024", "1536x1024", "1024x1536"]
    assert set(entry["capabilities"]) == {"txt2img", "img2img", "inpaint"}
