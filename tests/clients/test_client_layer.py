"""The hand-written layer (`ddiffusion.Client`) against the real platform over HTTP."""

from pathlib import Path

import ddiffusion.client
import pytest
from ddiffusion import ApiError, Client
from deferred_diffusion_client.models import TaskRecord
from PIL import Image

from tests.utils.platform import ADMIN_KEY, free_port
from tests.utils.tasks import png_bytes

WAIT_S = 120


def test_upload_submit_wait_with_progress_and_download_a_png(api_client: Client, tmp_path: Path) -> None:
    plate = tmp_path / "plate.png"
    plate.write_bytes(png_bytes(128, 96))
    uploaded = api_client.upload(plate)
    assert uploaded.ref.startswith("sha256:") and uploaded.content_type == "image/png"
    request = {"model": "tiny-sd", "prompt": "a red teapot", "width": 128, "height": 96, "steps": 20, "seed": 7, "image": uploaded.ref, "strength": 0.9}
    created = api_client.submit("images", request)
    seen: list[TaskRecord] = []
    record = api_client.wait("images", created.id, on_progress=seen.append, timeout_s=WAIT_S)
    assert record.status.value == "succeeded"
    assert any(update.status.value == "running" and update.progress.step >= 1 for update in seen)
    assert seen[-1].status.value == "succeeded"
    [path] = api_client.download(record, tmp_path / "out")
    assert path.parent == (tmp_path / "out").resolve() and path.suffix == ".png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (128, 96)


def test_wait_polls_when_the_event_stream_fails(api_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    # As behind a proxy that does not route the SSE path: opening the stream gets a 404.
    monkeypatch.setattr(ddiffusion.client, "EVENTS_PATH", "/api/{domain}/{task_id}/no-such-events")
    created = api_client.submit("images", {"model": "tiny-sd", "prompt": "polled", "width": 64, "height": 64, "steps": 2})
    seen: list[TaskRecord] = []
    record = api_client.wait("images", created.id, on_progress=seen.append, timeout_s=WAIT_S, poll_interval_s=0.05)
    assert record.status.value == "succeeded" and len(record.outputs) == 1
    assert seen and seen[-1].status.value == "succeeded"


def test_cancel_stops_a_running_task(api_client: Client) -> None:
    created = api_client.submit("images", {"model": "tiny-sd", "prompt": "long", "width": 256, "height": 256, "steps": 50})
    cancels: list[TaskRecord] = []

    def cancel_once_running(record: TaskRecord) -> None:
        if record.status.value == "running" and not cancels:
            cancels.append(api_client.cancel("images", created.id))

    record = api_client.wait("images", created.id, on_progress=cancel_once_running, timeout_s=WAIT_S)
    assert len(cancels) == 1
    assert record.status.value == "cancelled" and record.progress.step < 50 and record.outputs == []


def test_api_errors_carry_code_message_and_status(api_client: Client) -> None:
    with pytest.raises(ApiError) as unknown_task:
        api_client.get("images", "no-such-task")
    assert (unknown_task.value.code, unknown_task.value.status) == ("unknown_task", 404)
    with pytest.raises(ApiError) as unknown_model:
        api_client.submit("images", {"model": "no-such-model", "prompt": "x"})
    assert (unknown_model.value.code, unknown_model.value.status) == ("unknown_model", 422)
    assert "no-such-model" in unknown_model.value.message
    created = api_client.submit("images", {"model": "tiny-sd", "prompt": "done", "width": 64, "height": 64, "steps": 1})
    api_client.wait("images", created.id, timeout_s=WAIT_S)
    with pytest.raises(ApiError) as finished:
        api_client.cancel("images", created.id)
    assert (finished.value.code, finished.value.status) == ("conflict", 409)


def test_unreachable_platform_is_an_api_error_without_status() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", "dd_x_y") as client, pytest.raises(ApiError) as error:
        client.models("images")
    assert error.value.code == "unreachable" and error.value.status is None


def test_download_writes_only_inside_the_folder(api_client: Client, tmp_path: Path) -> None:
    created = api_client.submit("images", {"model": "tiny-sd", "prompt": "x", "width": 64, "height": 64, "steps": 1})
    record = api_client.wait("images", created.id, timeout_s=WAIT_S)
    hostile = TaskRecord.from_dict(record.to_dict() | {"id": "../../escaped/../x"})
    folder = tmp_path / "downloads"
    [path] = api_client.download(hostile, folder)
    assert path.parent == folder.resolve() and path.is_file()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [path.name]


def test_models_and_admin_keys(api_address: str) -> None:
    with Client(api_address, ADMIN_KEY) as admin:
        names = {model.name for model in admin.models("images")}
        assert {"tiny-sd", "sd-1.5"} <= names
        created = admin.create_key("layer-test")
        assert created.key.startswith("dd_") and created.id in {key.id for key in admin.list_keys()}
        with Client(api_address, created.key) as artist:
            assert artist.models("texts")
            admin.revoke_key(created.id)
            with pytest.raises(ApiError) as revoked:
                artist.models("texts")
        assert revoked.value.status == 401
        assert created.id not in {key.id for key in admin.list_keys()}
