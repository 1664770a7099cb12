import io
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from core.catalogue import CATALOGUE
from tests.utils.platform import RedisServer
from tests.utils.tasks import data_url, new_key, png_bytes, wait_for


def submit(client: TestClient, headers: dict[str, str], **fields: object) -> str:
    body = {"model": "tiny-sd", "prompt": "a red teapot", "width": 64, "height": 64, "steps": 2, "seed": 7} | fields
    response = client.post("/api/images", json=body, headers=headers)
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["status"] == "queued"
    assert response.headers["location"] == f"/api/images/{created['id']}"
    return created["id"]


def download(client: TestClient, url: str) -> bytes:
    response = client.get(url)  # no API key: the signature is the permission
    assert response.status_code == 200, response.text
    return response.content


def test_txt2img_succeeds_with_png_of_asked_size(platform_client: TestClient, user: dict[str, str]) -> None:
    task_id = submit(platform_client, user, width=96, height=64, steps=3)
    record = wait_for(platform_client, "images", task_id, user)
    assert record["status"] == "succeeded", record
    assert record["progress"] == {"step": 3, "total": 3, "fraction": 1.0, "eta_s": None}
    assert record["started_at"] and record["finished_at"]
    assert record["timings"]["run_s"] > 0
    [output] = record["outputs"]
    assert (output["content_type"], output["width"], output["height"], output["seed"]) == ("image/png", 96, 64, 7)
    image = Image.open(io.BytesIO(download(platform_client, output["url"])))
    assert image.format == "PNG" and image.size == (96, 64)


def test_same_seed_gives_identical_bytes(platform_client: TestClient, user: dict[str, str]) -> None:
    first, second = submit(platform_client, user, seed=1234), submit(platform_client, user, seed=1234)
    other = submit(platform_client, user, seed=4321)
    outputs = [wait_for(platform_client, "images", task_id, user)["outputs"][0] for task_id in (first, second, other)]
    pngs = [download(platform_client, output["url"]) for output in outputs]
    assert pngs[0] == pngs[1]
    assert pngs[0] != pngs[2]


def test_img2img_from_data_url(platform_client: TestClient, user: dict[str, str]) -> None:
    task_id = submit(platform_client, user, image=data_url(png_bytes(80, 80)), strength=0.5, steps=4)
    record = wait_for(platform_client, "images", task_id, user)
    assert record["status"] == "succeeded", record
    assert record["request"]["image"].startswith("sha256:")
    assert record["progress"]["total"] == 2  # strength 0.5 of 4 steps
    assert Image.open(io.BytesIO(download(platform_client, record["outputs"][0]["url"]))).size == (64, 64)


def test_size_not_a_multiple_is_snapped_and_noted(platform_client: TestClient, user: dict[str, str]) -> None:
    task_id = submit(platform_client, user, width=100)
    record = wait_for(platform_client, "images", task_id, user)
    assert record["request"]["width"] == 96
    assert any("width snapped from 100 to 96" in line for line in record["logs"])
    assert record["outputs"][0]["width"] == 96


def error_of(response: object, status: int) -> dict:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["message"]
    return error


def test_bad_requests_get_4xx_saying_what_to_change(client: TestClient, user: dict[str, str]) -> None:
    base = {"model": "tiny-sd", "prompt": "x"}
    cases = [
        ({"width": 32}, "width"),
        ({"height": 5000}, "height"),
        ({"steps": 0}, "steps"),
        ({"guidance": 99}, "guidance"),
        ({"seed": -1}, "seed"),
        ({"width": "wide"}, "width"),
        ({"prompt": ""}, "prompt"),
        ({"colour": "red"}, "colour"),
        ({"image": "file:///etc/passwd"}, "image"),
    ]
    for fields, field in cases:
        error = error_of(client.post("/api/images", json=base | fields, headers=user), 422)
        assert error["code"] == "validation_error"
        assert field in error["message"], (fields, error)


def test_limits_of_the_model_are_checked(client: TestClient, user: dict[str, str]) -> None:
    error = error_of(client.post("/api/images", json={"model": "tiny-sd", "prompt": "x", "width": 1024, "height": 1024}, headers=user), 422)
    assert "limit" in error["message"] and "262144" in error["message"]
    error = error_of(client.post("/api/images", json={"model": "tiny-sd", "prompt": "x", "steps": 120}, headers=user), 422)
    assert "steps=120" in error["message"]


def test_unknown_model_lists_available_ones(client: TestClient, user: dict[str, str]) -> None:
    error = error_of(client.post("/api/images", json={"model": "sdxxl", "prompt": "x"}, headers=user), 422)
    assert error["code"] == "unknown_model"
    assert "tiny-sd" in error["message"] and "tiny-sd" in error["details"]["available"]


def test_malformed_json_and_wrong_types_are_422(client: TestClient, user: dict[str, str]) -> None:
    headers = user | {"content-type": "application/json"}
    assert error_of(client.post("/api/images", content=b'{"model": ', headers=headers), 422)["code"] == "validation_error"
    assert error_of(client.post("/api/images", json=["a list"], headers=user), 422)["code"] == "validation_error"


def test_bad_data_urls_are_422(client: TestClient, user: dict[str, str]) -> None:
    base = {"model": "tiny-sd", "prompt": "x"}
    for image, code in [
        ("data:image/png;base64,@@@not-base64@@@", "invalid_data_url"),
        ("data:text/plain;base64,aGVsbG8=", "invalid_data_url"),
        ("data:image/png,rawbytes", "invalid_data_url"),
        (data_url(b"definitely not a png"), "invalid_image"),
    ]:
        assert error_of(client.post("/api/images", json=base | {"image": image}, headers=user), 422)["code"] == code


def test_decompression_bomb_is_refused_unopened(client: TestClient, user: dict[str, str]) -> None:
    bomb = png_bytes(8000, 8000, (0, 0, 0))  # 64 MP of one colour compresses to a few KB
    assert len(bomb) < 1_000_000
    error = error_of(client.post("/api/images", json={"model": "tiny-sd", "prompt": "x", "image": data_url(bomb)}, headers=user), 422)
    assert error["code"] == "image_too_large"


def test_unknown_ref_and_disallowed_url_are_422(client: TestClient, user: dict[str, str]) -> None:
    base = {"model": "tiny-sd", "prompt": "x"}
    error = error_of(client.post("/api/images", json=base | {"image": "sha256:" + "ab" * 32}, headers=user), 422)
    assert "POST /api/files" in error["message"]
    error = error_of(client.post("/api/images", json=base | {"image": "http://169.254.169.254/latest/meta-data"}, headers=user), 422)
    assert error["code"] == "fetch_not_allowed" and "DDIFFUSION_FETCH_ALLOWED_HOSTS" in error["message"]


def test_oversize_body_is_413(client: TestClient, user: dict[str, str]) -> None:
    limit = client.app.state.platform.settings.max_upload_bytes * 4 // 3 + 1024 * 1024
    response = client.post("/api/images", content=b"{" + b" " * limit + b"}", headers=user | {"content-type": "application/json"})
    assert error_of(response, 413)["code"] == "payload_too_large"


def test_nothing_is_written_for_a_refused_request(client: TestClient, user: dict[str, str], redis_server: RedisServer) -> None:
    key_id = user["X-API-Key"].split("_")[1]
    client.post("/api/images", json={"model": "tiny-sd", "prompt": "x", "image": data_url(b"junk")}, headers=user)
    client.post("/api/images", json={"model": "nope", "prompt": "x"}, headers=user)
    client.post("/api/images", json={"model": "tiny-sd", "prompt": "x", "width": 4096, "height": 4096}, headers=user)
    assert redis_server.client().scard(f"dd:active:{key_id}") == 0


def test_task_of_another_key_is_404(client: TestClient, user: dict[str, str], admin: dict[str, str]) -> None:
    task_id = client.post("/api/images", json={"model": "tiny-sd", "prompt": "x"}, headers=user).json()["id"]
    other = new_key(client, "someone-else")
    for headers in (other, admin):
        assert error_of(client.get(f"/api/images/{task_id}", headers=headers), 404)["code"] == "unknown_task"
        assert client.delete(f"/api/images/{task_id}", headers=headers).status_code == 404
    assert client.get(f"/api/texts/{task_id}", headers=user).status_code == 404
    assert client.get("/api/images/no-such-task", headers=user).status_code == 404


def test_model_without_weights_is_refused_at_submit_naming_where_they_go(platform_client: TestClient, user: dict[str, str], models_dir: Path) -> None:
    # The session's gpu worker is live and has no sdxl weights, and downloads are off.
    for model, member in (("sdxl", "sdxl"), ("flux-1", "flux-1-dev")):  # a family is checked by the member it routes to
        error = error_of(platform_client.post("/api/images", json={"model": model, "prompt": "x"}, headers=user), 422)
        assert error["code"] == "model_unavailable"
        assert str(models_dir) in error["message"] and f"ddiffusion models pull {member}" in error["message"]
    assert wait_for(platform_client, "images", submit(platform_client, user), user)["status"] == "succeeded"


def unsized(client: TestClient, headers: dict[str, str], image: str, **fields: object) -> dict:
    """Submit an img2img without width/height and wait for it."""
    body = {"model": "tiny-sd", "prompt": "a plate", "steps": 2, "seed": 5, "image": image} | fields
    response = client.post("/api/images", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return wait_for(client, "images", response.json()["id"], headers)


def test_img2img_without_a_size_keeps_the_input_size(platform_client: TestClient, user: dict[str, str]) -> None:
    record = unsized(platform_client, user, data_url(png_bytes(320, 192)))
    assert record["status"] == "succeeded", record
    image = Image.open(io.BytesIO(download(platform_client, record["outputs"][0]["url"])))
    assert image.format == "PNG" and image.size == (320, 192)
    assert any("width and height from the 320x192 image" in line for line in record["logs"]), record["logs"]


def test_a_too_large_input_is_scaled_within_max_pixels_keeping_its_aspect(platform_client: TestClient, user: dict[str, str]) -> None:
    ref = platform_client.post("/api/files", files={"file": ("plate.png", png_bytes(1280, 720))}, headers=user).json()["ref"]
    record = unsized(platform_client, user, ref)
    assert record["status"] == "succeeded", record
    width, height = Image.open(io.BytesIO(download(platform_client, record["outputs"][0]["url"]))).size
    assert width * height <= CATALOGUE["tiny-sd"].limits.max_pixels and width % 8 == height % 8 == 0
    assert abs(width / height - 16 / 9) < 0.03 and width > 600  # scaled down, not squashed nor shrunk further
    assert any("scaled to" in line for line in record["logs"]), record["logs"]


def test_one_side_given_derives_the_other_from_the_input_aspect(client: TestClient, user: dict[str, str]) -> None:
    plate = data_url(png_bytes(320, 192))
    for given, derived in (({"width": 160}, ("height", 96)), ({"height": 96}, ("width", 160)), ({"width": 204}, ("height", 120))):
        response = client.post("/api/images", json={"model": "tiny-sd", "prompt": "x", "image": plate} | given, headers=user)
        assert response.status_code == 202, response.text
        request = client.get(f"/api/images/{response.json()['id']}", headers=user).json()["request"]
        assert request[derived[0]] == derived[1], request
