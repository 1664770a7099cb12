import hashlib
import time

from fastapi.testclient import TestClient

from tests.utils.tasks import png_bytes


def upload(client: TestClient, headers: dict[str, str], data: bytes, content_type: str = "image/png") -> dict:
    response = client.post("/api/files", files={"file": ("in.png", data, content_type)}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_upload_is_content_addressed_and_served_by_signed_url(client: TestClient, user: dict[str, str]) -> None:
    data = png_bytes(32, 16)
    uploaded = upload(client, user, data)
    assert uploaded["ref"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert (uploaded["size"], uploaded["content_type"]) == (len(data), "image/png")
    served = client.get(uploaded["url"])
    assert served.status_code == 200
    assert served.content == data
    assert served.headers["content-type"] == "image/png"


def test_tampered_or_expired_signature_is_refused(client: TestClient, user: dict[str, str]) -> None:
    uploaded = upload(client, user, png_bytes(8, 8))
    path = uploaded["url"].split("?")[0]
    tampered = uploaded["url"][:-4] + "0000"
    assert client.get(tampered).json()["error"]["code"] == "bad_signature"
    assert client.get(tampered).status_code == 403
    signer = client.app.state.platform.signer
    expired = int(time.time()) - 5
    response = client.get(path, params={"expires": expired, "sig": signer._sign(uploaded["ref"], expired)})
    assert (response.status_code, response.json()["error"]["code"]) == (403, "url_expired")
    assert client.get(path).status_code == 422  # expires and sig are required


def test_refs_cannot_traverse_paths(client: TestClient) -> None:
    signer = client.app.state.platform.signer
    expires = int(time.time()) + 60
    for ref in ("..%2F..%2Fetc%2Fpasswd", "sha256:..%2F..%2Fsecret_key", "sha256:" + "g" * 64):
        response = client.get(f"/api/files/{ref}", params={"expires": expires, "sig": signer._sign(ref, expires)})
        assert response.status_code in (403, 404), ref
        assert "error" in response.json()


def test_upload_over_the_limit_is_413(client: TestClient, user: dict[str, str]) -> None:
    limit = client.app.state.platform.settings.max_upload_bytes
    response = client.post("/api/files", files={"file": ("big.bin", b"\0" * (limit + 1), "application/octet-stream")}, headers=user)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_upload_needs_a_key(client: TestClient) -> None:
    assert client.post("/api/files", files={"file": ("a.png", png_bytes(), "image/png")}).status_code == 401
