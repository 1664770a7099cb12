"""Swagger UI in a real browser, as an artist uses it: Authorize, Try it out, Execute, open the
image. `make test-ui` runs it (headless Debian Chromium driven by Playwright's Python API; no
browser download); `make test` leaves it out. Screenshots go to data/ui/ in the checkout."""

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.utils.platform import Served, served_platform

pytestmark = pytest.mark.ui

CHROMIUM = os.environ.get("DDIFFUSION_UI_CHROMIUM", "/usr/bin/chromium")
# As the machine's own probe runs it: no sandbox as root, and none of the background
# connections a closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
SHOTS = Path(__file__).resolve().parents[2] / "data" / "ui"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Iterator[Served]:
    with served_platform(tmp_path_factory.mktemp("ui"), tiny_models) as served:
        yield served


def test_an_artist_gets_an_image_from_swagger_ui(running: Served) -> None:
    from playwright.sync_api import expect, sync_playwright  # only `make test-ui` installs it

    key = httpx.post(f"{running.base}/api/admin/keys", json={"name": "swagger"}, headers={"X-API-Key": running.admin_key}).json()["key"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{running.base}/docs")
        page.get_by_role("button", name="Authorize").first.click()
        dialog = page.locator(".modal-ux")
        dialog.locator("input").first.fill(key)  # the first scheme: X-API-Key
        dialog.locator("button", has_text="Authorize").first.click()
        dialog.locator("button", has_text="Close").first.click()
        page.screenshot(path=SHOTS / "1-authorized.png")

        operation = page.locator("#operations-images-create_image")
        operation.locator(".opblock-summary").click()
        operation.locator("button", has_text="Try it out").click()
        operation.locator("button", has_text="Execute").click()
        status = operation.locator(".live-responses-table tr.response .response-col_status").first
        expect(status).to_have_text("202", timeout=30_000)
        page.screenshot(path=SHOTS / "2-submitted.png", full_page=True)
        task_id = json.loads(operation.locator(".live-responses-table .response-col_description pre").first.inner_text())["id"]

        headers = {"X-API-Key": key}
        deadline = time.monotonic() + 120
        while (record := httpx.get(f"{running.base}/api/images/{task_id}", headers=headers).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, record
            time.sleep(0.2)
        assert record["status"] == "succeeded", record

        image = page.goto(record["outputs"][0]["url"])
        assert image is not None and image.status == 200 and image.headers["content-type"] == "image/png"
        page.screenshot(path=SHOTS / "3-output.png")
        browser.close()
    assert all((SHOTS / name).stat().st_size > 0 for name in ("1-authorized.png", "2-submitted.png", "3-output.png"))
