
from fastapi.testclient import TestClient

from tests.fakes import FakeServices
from tests.utils.tasks import event_records, png_bytes, wait_for


def test_chat_with_tiny_llm_returns_text(platform_client: TestClient, user: dict[str, str]) -> None:
    body = {"model": "tiny-llm", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "a haiku"}], "max_tokens": 12, "temperature": 0.8, "seed": 5}
    response = platform_client.post("/api/texts", json=body, headers=user)
    assert response.status_code == 202, response.text
    record = wait_for(platform_client, "texts", response.json()["id"], user)
    assert record["status"] == "succeeded", record
    [output] = record["outputs"]
    assert isinstance(output["text"], str) and output["text"]
    assert output["url"] is None
    assert 1 <= record["progress"]["step"] <= 12 and record["progress"]["total"] == 12


def test_same_seed_same_text(platform_client: TestClient, user: dict[str, str]) -> None:
    body = {"model": "tiny-llm", "messages": [{"role": "user", "content": "count"}], "max_tokens": 10, "temperature": 1.0, "seed": 99}
    ids = [platform_client.post("/api/texts", json=body, headers=user).json()["id"] for _ in range(2)]
    texts = [wait_for(platform_client, "texts", task_id, user)["outputs"][0]["text"] for task_id in ids]
    assert texts[0] == texts[1]


def test_max_tokens_above_model_limit_is_422(client: TestClient, user: dict[str, str]) -> None:
    body = {"model": "tiny-llm", "messages": [{"role": "user", "content": "x"}], "max_tokens": 4000}
    response = client.post("/api/texts", json=body, headers=user)
    assert response.status_code == 422
    assert "max_tokens=4000" in response.json()["error"]["message"]


def test_empty_messages_are_422(client: TestClient, user: dict[str, str]) -> None:
    response = client.post("/api/texts", json={"model": "tiny-llm", "messages": []}, headers=user)
    assert response.status_code == 422


def test_unknown_video_model_is_422_naming_the_video_models(client: TestClient, user: dict[str, str]) -> None:
    listed = [model["name"] for model in client.get("/api/videos/models", headers=user).json()]
    assert "replicate/kwaivgi/kling-v2.1" in listed
    response = client.post("/api/videos", json={"model": "sora-2", "prompt": "x"}, headers=user)
    assert response.status_code == 422
    assert response.json()["error"]["details"]["available"] == listed
    assert client.get("/api/videos/0123", headers=user).status_code == 404


def test_hosted_chat_model_streams_from_the_provider(platform_client: TestClient, user: dict[str, str], fakes: FakeServices) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "echo this back"}], "max_tokens": 50, "seed": 1}
    response = platform_client.post("/api/texts", json=body, headers=user)
    assert response.status_code == 202, response.text
    record = wait_for(platform_client, "texts", response.json()["id"], user)
    assert record["status"] == "succeeded", record
    assert "echo this back" in record["outputs"][0]["text"]
    sent = [request for request in fakes.openai.requests if request.body.get("messages") == body["messages"]]
    assert sent and sent[-1].headers["authorization"] == "Bearer sk-test" and sent[-1].body["model"] == "gpt-4o-mini"


def test_generated_text_streams_into_the_record(platform_client: TestClient, user: dict[str, str]) -> None:
    body = {"model": "tiny-llm", "messages": [{"role": "user", "content": "write a haiku"}], "max_tokens": 48, "temperature": 1.0, "seed": 21}
    task_id = platform_client.post("/api/texts", json=body, headers=user).json()["id"]
    records = event_records(platform_client, "texts", task_id, user)
    final = records[-1]
    assert final["status"] == "succeeded" and final["partial_text"] is None
    answer = final["outputs"][0]["text"]
    partials = [record["partial_text"] for record in records if record["partial_text"]]
    assert partials and all(answer.startswith(partial) for partial in partials)


def test_tiny_vlm_answers_about_an_uploaded_image(platform_client: TestClient, user: dict[str, str]) -> None:
    uploaded = platform_client.post("/api/files", files={"file": ("teapot.png", png_bytes(80, 48), "image/png")}, headers=user)
    assert uploaded.status_code == 201, uploaded.text
    content = [{"type": "text", "text": "what is in this photo?"}, {"type": "image", "image": uploaded.json()["ref"]}]
    body = {"model": "tiny-vlm", "messages": [{"role": "user", "content": content}], "max_tokens": 8, "temperature": 0, "seed": 2}
    response = platform_client.post("/api/texts", json=body, headers=user)
    assert response.status_code == 202, response.text
    record = wait_for(platform_client, "texts", response.json()["id"], user)
    assert record["status"] == "succeeded", record
    assert isinstance(record["outputs"][0]["text"], str) and record["progress"]["total"] == 8
    assert record["request"]["messages"][0]["content"][1]["image"] == uploaded.json()["ref"]

    response = platform_client.post("/api/texts", json=body | {"model": "tiny-llm"}, headers=user)
    assert response.status_code == 422
    assert "tiny-llm does not take images" in response.json()["error"]["message"]
    assert {"tiny-vlm", "qwen-2.5-vl"} <= set(response.json()["error"]["details"]["vision_models"])
