"""ComfyEngine against the loopback fake ComfyUI: HTTP + websocket, as the real server speaks them."""

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from PIL import Image

from core.catalogue import CATALOGUE
from core.errors import PlatformError, TaskCancelled
from core.settings import Settings
from tests.fakes.comfyui_server import MP4_HEADER, FakeComfyUI, fake_comfyui, unused_url
from tests.utils.context import FakeContext
from workers.comfy.engine import ComfyEngine
from workers.context import TaskContext

ENTRY = CATALOGUE["comfyui"]
Configure = Callable[..., ComfyEngine]


@pytest.fixture
def comfy() -> Iterator[FakeComfyUI]:
    with fake_comfyui() as fake:
        yield fake


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Configure]:
    """An engine pointed at `url`, with short polls and backoffs so every test takes moments."""
    engines: list[ComfyEngine] = []

    def apply(url: str, **overrides: str) -> ComfyEngine:
        env = {
            "DDIFFUSION_COMFY_URL": url,
            "DDIFFUSION_COMFY_TIMEOUT_S": "5",
            "DDIFFUSION_COMFY_CONNECT_TIMEOUT_S": "1",
            "DDIFFUSION_COMFY_RETRIES": "2",
            "DDIFFUSION_COMFY_BACKOFF_S": "0.01",
            "DDIFFUSION_COMFY_POLL_S": "0.05",
            **overrides,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        engines.append(ComfyEngine(Settings(_env_file=None)))
        return engines[-1]

    yield apply
    for engine in engines:
        engine.client.close()


def run(engine: ComfyEngine, ctx: FakeContext, **params: Any) -> list[dict[str, Any]]:
    return engine.run(ENTRY, params, cast(TaskContext, ctx))


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def graph(*extra: tuple[str, str]) -> dict[str, Any]:
    """A small user graph in API format; `extra` adds (node id, class_type) pairs."""
    nodes: dict[str, Any] = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
        "2": {"class_type": "EmptyLatentImage", "inputs": {"width": 96, "height": 80, "batch_size": 1}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["1", 1]}},
        "4": {
            "class_type": "KSampler",
            "inputs": {"seed": 1, "steps": 3, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
                       "model": ["1", 0], "positive": ["3", 0], "negative": ["3", 0], "latent_image": ["2", 0]},
        },  # fmt: skip
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "SaveImage", "inputs": {"filename_prefix": "test", "images": ["5", 0]}},
    }
    for node_id, class_type in extra:
        nodes[node_id] = {"class_type": class_type, "inputs": {}}
    return nodes


def test_template_with_patches_saves_the_output_its_size_progress_and_previews(comfy: FakeComfyUI, configure: Configure) -> None:
    engine = configure(comfy.base_url)
    ctx = FakeContext()

    outputs = run(
        engine,
        ctx,
        template="txt2img",
        patches={"positive": {"text": "a red fox"}, "size": {"width": 128, "height": 96}, "3": {"steps": 4}},
    )

    assert len(outputs) == 1
    output = outputs[0]
    assert (output["content_type"], output["width"], output["height"]) == ("image/png", 128, 96)
    with Image.open(io.BytesIO(ctx.blobs[output["ref"]])) as image:
        assert image.size == (128, 96)
    sent = comfy.requests_to("POST", "/prompt")[0].body
    assert sent["prompt"]["6"]["inputs"]["text"] == "a red fox"
    assert sent["prompt"]["3"]["inputs"]["steps"] == 4
    assert sent["client_id"] and comfy.requests_to("GET", "/ws")[0].query == {"clientId": sent["client_id"]}
    assert ctx.steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
    # Previews are throttled to one a second: a fast run keeps only the first, as a PNG (the fake sends JPEG).
    [(step, preview)] = ctx.previews
    assert step == 1 and preview.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(preview)) as image:
        assert image.size == (8, 8)
    assert len(ctx.saved) == 1  # previews are not outputs
    assert any("executing node 3 (KSampler 'sampler')" in line for line in ctx.lines)


def test_a_user_graph_with_a_disallowed_node_is_refused_before_anything_is_sent(comfy: FakeComfyUI, configure: Configure) -> None:
    engine = configure(comfy.base_url)

    with pytest.raises(PlatformError) as raised:
        run(engine, FakeContext(), workflow=graph(("7", "SaveLatent")))

    assert raised.value.code == "comfy_node_not_allowed"
    assert "node 7 (SaveLatent)" in raised.value.message
    assert comfy.requests == []


def test_the_allow_list_comes_from_the_environment(comfy: FakeComfyUI, configure: Configure) -> None:
    engine = configure(comfy.base_url, DDIFFUSION_COMFY_ALLOWED_NODES="CheckpointLoaderSimple, EmptyLatentImage")

    with pytest.raises(PlatformError) as raised:
        run(engine, FakeContext(), workflow=graph())

    assert raised.value.code == "comfy_node_not_allowed"
    assert "node 4 (KSampler)" in raised.value.message and "node 2 (EmptyLatentImage)" not in raised.value.message


def test_a_user_graph_of_allowed_nodes_runs(comfy: FakeComfyUI, configure: Configure) -> None:
    outputs = run(configure(comfy.base_url), FakeContext(), workflow=graph())

    assert [(o["width"], o["height"]) for o in outputs] == [(96, 80)]


def test_node_errors_from_comfyui_name_the_node_and_the_problem(comfy: FakeComfyUI, configure: Configure) -> None:
    engine = configure(comfy.base_url)

    with pytest.raises(PlatformError) as raised:
        run(engine, FakeContext(), template="txt2img", patches={"checkpoint": {"ckpt_name": "missing.safetensors"}})

    assert raised.value.code == "comfy_node_errors"
    message = raised.value.message
    assert "node 4 (CheckpointLoaderSimple)" in message and "Value not in list" in message and "missing.safetensors" in message


def test_an_execution_error_names_the_node_and_message(comfy: FakeComfyUI, configure: Configure) -> None:
    comfy.fail_node = "8"

    with pytest.raises(PlatformError) as raised:
        run(configure(comfy.base_url), FakeContext(), template="txt2img")

    assert raised.value.code == "comfy_execution_error"
    assert "node 8 (VAEDecode)" in raised.value.message and "CUDA out of memory" in raised.value.message
    assert comfy.requests_to("POST", "/interrupt") == []  # the prompt had ended: nothing to stop


def test_cancel_mid_run_interrupts_comfyui_and_propagates(comfy: FakeComfyUI, configure: Configure) -> None:
    comfy.step_delay_s = 0.05
    ctx = FakeContext(cancel_after=2)

    with pytest.raises(TaskCancelled):
        run(configure(comfy.base_url), ctx, template="txt2img", patches={"sampler": {"steps": 50}})

    interrupts = comfy.requests_to("POST", "/interrupt")
    assert len(interrupts) == 1 and interrupts[0].body["prompt_id"]
    assert comfy.requests_to("POST", "/queue") == []  # it was running, not pending
    # The fake stops the prompt at its next step and records it as interrupted.
    deadline = time.monotonic() + 2
    while not comfy.history and time.monotonic() < deadline:
        time.sleep(0.01)
    prompt_id = interrupts[0].body["prompt_id"]
    messages = [kind for kind, _ in comfy.history[prompt_id]["status"]["messages"]]
    assert messages[-1] == "execution_interrupted"
    assert any("interrupted" in line for line in ctx.lines)


def test_cancel_while_pending_removes_the_prompt_from_the_queue(comfy: FakeComfyUI, configure: Configure) -> None:
    comfy.step_delay_s = 0.05
    busy = graph()
    busy["4"]["inputs"]["steps"] = 100  # another client's long prompt keeps ours pending
    blocker = httpx.post(f"{comfy.base_url}/prompt", json={"prompt": busy, "client_id": "someone-else"}).json()["prompt_id"]
    ctx = FakeContext(cancel_checks_after=3)

    with pytest.raises(TaskCancelled):
        run(configure(comfy.base_url), ctx, template="txt2img")

    deletes = comfy.requests_to("POST", "/queue")
    assert len(deletes) == 1 and deletes[0].body["delete"] != [blocker]
    assert comfy.requests_to("POST", "/interrupt") == []  # the other client's prompt runs on
    assert comfy.pending == [] and comfy.running is not None and comfy.running[1] == blocker
    assert ctx.steps == []


def test_comfyui_down_fails_fast_with_comfy_unavailable(configure: Configure) -> None:
    url = unused_url()
    engine = configure(url)
    started = time.monotonic()

    with pytest.raises(PlatformError) as raised:
        run(engine, FakeContext(), template="txt2img")

    assert raised.value.code == "comfy_unavailable"
    assert url in raised.value.message and "3 attempts" in raised.value.message
    assert time.monotonic() - started < 3


def test_inputs_are_uploaded_and_wired_into_load_image(comfy: FakeComfyUI, configure: Configure) -> None:
    ctx = FakeContext()
    ref = ctx.put_input(png(72, 56))

    outputs = run(configure(comfy.base_url), ctx, template="img2img", inputs={"input": ref})

    uploads = comfy.requests_to("POST", "/upload/image")
    assert len(uploads) == 1
    name = f"ddiffusion/{ref.removeprefix('sha256:')[:32]}.png"
    assert uploads[0].body["subfolder"] == "ddiffusion" and uploads[0].body["image"]["size"] == len(ctx.blobs[ref])
    assert comfy.uploads[name] == ctx.blobs[ref]
    assert comfy.requests_to("POST", "/prompt")[0].body["prompt"]["10"]["inputs"]["image"] == name
    assert [(o["width"], o["height"]) for o in outputs] == [(72, 56)]  # the fake sizes img2img by its input


def test_a_load_image_without_an_input_file_is_refused(comfy: FakeComfyUI, configure: Configure) -> None:
    with pytest.raises(PlatformError) as raised:
        run(configure(comfy.base_url), FakeContext(), template="img2img")

    assert raised.value.code == "comfy_missing_input" and "10 (LoadImage 'input')" in raised.value.message
    assert comfy.requests == []


def test_unknown_template_and_unknown_patch_target_say_what_exists(comfy: FakeComfyUI, configure: Configure) -> None:
    engine = configure(comfy.base_url)

    with pytest.raises(PlatformError) as raised:
        run(engine, FakeContext(), template="../secrets")
    assert raised.value.code == "comfy_unknown_template" and "txt2img" in raised.value.message

    with pytest.raises(PlatformError) as raised:
        run(engine, FakeContext(), template="txt2img", patches={"postive": {"text": "x"}})
    assert raised.value.code == "comfy_unknown_node" and "positive" in raised.value.message
    assert comfy.requests == []


def test_concurrent_runs_see_only_their_own_events(comfy: FakeComfyUI, configure: Configure) -> None:
    engine = configure(comfy.base_url)
    contexts = [FakeContext(), FakeContext()]
    results: list[list[dict[str, Any]]] = [[], []]

    def work(index: int, width: int) -> None:
        results[index] = run(engine, contexts[index], template="txt2img", patches={"size": {"width": width}, "sampler": {"steps": 2 + index}})

    threads = [threading.Thread(target=work, args=(index, width)) for index, width in enumerate((64, 80))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert [r[0]["width"] for r in results] == [64, 80]
    assert [c.steps[-1] for c in contexts] == [(2, 2), (3, 3)]


def test_a_dropped_websocket_is_reopened_and_the_run_still_ends_with_its_output(comfy: FakeComfyUI, configure: Configure) -> None:
    # The fake finishes while the socket is gone, so the reopened socket hears nothing: /history says it ended.
    comfy.drop_socket_at = "8"

    outputs = run(configure(comfy.base_url), FakeContext(), template="txt2img", patches={"sampler": {"steps": 2}})

    assert [(o["width"], o["height"]) for o in outputs] == [(512, 512)]
    assert len(comfy.requests_to("GET", "/ws")) == 2


def test_templates_come_from_the_configured_dir_may_use_any_node_and_video_outputs_are_kept(
    comfy: FakeComfyUI, configure: Configure, tmp_path: Path
) -> None:
    template = graph()
    template["6"] = {"class_type": "VHS_VideoCombine", "inputs": {"filename_prefix": "clip", "images": ["5", 0]}}
    (tmp_path / "clip.json").write_text(json.dumps(template))
    engine = configure(comfy.base_url, DDIFFUSION_COMFY_WORKFLOWS_DIR=str(tmp_path))
    ctx = FakeContext()

    [output] = run(engine, ctx, template="clip")

    assert output["content_type"] == "video/mp4" and "width" not in output
    assert ctx.blobs[output["ref"]].startswith(MP4_HEADER)
    assert any("(gifs) from node 6" in line for line in ctx.lines)
    with pytest.raises(PlatformError) as raised:
        run(engine, ctx, template="txt2img")  # the checkout's templates are not in the configured dir
    assert raised.value.code == "comfy_unknown_template" and "clip" in raised.value.message


def partial_graph() -> dict[str, Any]:
    """graph() plus a second output branch whose checkpoint loader is invalid: node 7 → 8 → 9."""
    nodes = graph()
    nodes["7"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "missing.safetensors"}}
    nodes["8"] = {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["7", 2]}}
    nodes["9"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "second", "images": ["8", 0]}}
    return nodes


def wait_for_history(comfy: FakeComfyUI, prompt_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while prompt_id not in comfy.history and time.monotonic() < deadline:
        time.sleep(0.01)
    return comfy.history[prompt_id]


def test_a_graph_comfyui_accepts_only_in_part_fails_naming_the_nodes_and_nothing_runs_short(
    comfy: FakeComfyUI, configure: Configure
) -> None:
    comfy.step_delay_s = 0.05  # the valid branch would take a second: long enough to see it stopped
    ctx = FakeContext()

    with pytest.raises(PlatformError) as raised:
        run(configure(comfy.base_url), ctx, workflow=partial_graph())

    assert raised.value.code == "comfy_node_errors"
    message = raised.value.message
    assert "node 7 (CheckpointLoaderSimple): Value not in list" in message and "missing.safetensors" in message
    assert "node 4" not in message  # the valid branch's nodes are not blamed
    [queued] = comfy.requests_to("POST", "/prompt")
    [interrupt] = comfy.requests_to("POST", "/interrupt")
    prompt_id = interrupt.body["prompt_id"]
    assert prompt_id in message and "interrupted" in message
    assert wait_for_history(comfy, prompt_id)["status"]["messages"][-1][0] == "execution_interrupted"
    assert ctx.saved == []
    assert queued.body["prompt"]["9"]["class_type"] == "SaveImage"


def test_a_graph_with_no_valid_output_is_refused_by_comfyui_with_400(comfy: FakeComfyUI, configure: Configure) -> None:
    nodes = partial_graph()
    nodes["1"]["inputs"]["ckpt_name"] = "gone.safetensors"  # now both branches are invalid

    with pytest.raises(PlatformError) as raised:
        run(configure(comfy.base_url), FakeContext(), workflow=nodes)

    assert raised.value.code == "comfy_node_errors"
    assert "node 1 (CheckpointLoaderSimple)" in raised.value.message and "node 7 (CheckpointLoaderSimple)" in raised.value.message
    assert comfy.pending == [] and comfy.history == {}  # nothing was queued
    assert comfy.requests_to("POST", "/interrupt") == []


def test_validation_errors_reach_the_client_without_sidecar_paths_or_tracebacks(comfy: FakeComfyUI, configure: Configure) -> None:
    comfy.validation_exception_at = "7"
    comfy.checkpoints.append("missing.safetensors")  # node 7 fails on its exception only

    with pytest.raises(PlatformError) as raised:
        run(configure(comfy.base_url), FakeContext(), workflow=partial_graph())

    message = raised.value.message
    assert raised.value.code == "comfy_node_errors"
    assert "node 7 (CheckpointLoaderSimple): Exception when validating node" in message
    assert "No such file or directory: 'broken.safetensors'" in message
    assert "/opt/ComfyUI" not in message and "Traceback" not in message and "execution.py" not in message


def test_execution_errors_reach_the_client_without_sidecar_paths_or_tracebacks(comfy: FakeComfyUI, configure: Configure) -> None:
    comfy.fail_node = "8"
    comfy.fail_message = (
        "Error while deserializing header: /opt/ComfyUI/models/vae/sdxl_vae.safetensors is truncated; "
        "also tried C:\\Users\\Render Farm\\ComfyUI\\models\\vae\\backup.pt\n"
        "Traceback (most recent call last):\n"
        '  File "/opt/ComfyUI/execution.py", line 323, in execute\n'
        "    output_data = get_output_data(obj, input_data_all)\n"
        "safetensors_rust.SafetensorError: invalid header in /srv/models/vae.safetensors\n"
    )

    with pytest.raises(PlatformError) as raised:
        run(configure(comfy.base_url), FakeContext(), template="txt2img")

    message = raised.value.message
    assert raised.value.code == "comfy_execution_error" and "node 8 (VAEDecode)" in message
    assert "sdxl_vae.safetensors is truncated" in message and "backup.pt" in message and "invalid header in vae.safetensors" in message
    for leak in ("/opt/", "/srv/", "C:\\", "Render Farm", "Traceback", "execution.py", "get_output_data"):
        assert leak not in message, leak


def test_a_prompt_comfyui_forgot_in_a_restart_is_resubmitted_once_and_succeeds(comfy: FakeComfyUI, configure: Configure) -> None:
    comfy.restart_at = "8"  # the first run's VAEDecode; the resubmitted run goes through
    ctx = FakeContext()
    started = time.monotonic()

    outputs = run(configure(comfy.base_url), ctx, template="txt2img", patches={"sampler": {"steps": 2}})

    assert [(o["width"], o["height"]) for o in outputs] == [(512, 512)]
    first, second = [r for r in ctx.lines if r.startswith("queued on ComfyUI")] + [r for r in ctx.lines if "resubmitted once" in r]
    assert "lost prompt" in second and len(comfy.requests_to("POST", "/prompt")) == 2
    assert time.monotonic() - started < 30


def test_a_prompt_lost_twice_fails_comfy_lost_soon(comfy: FakeComfyUI, configure: Configure) -> None:
    comfy.restart_at, comfy.restarts = "8", 2
    ctx = FakeContext()
    started = time.monotonic()

    with pytest.raises(PlatformError) as raised:
        run(configure(comfy.base_url), ctx, template="txt2img", patches={"sampler": {"steps": 2}})

    assert raised.value.code == "comfy_lost" and "lost this workflow twice" in raised.value.message
    assert any("resubmitted once" in line for line in ctx.lines)
    assert len(comfy.requests_to("POST", "/prompt")) == 2 and ctx.saved == []
    assert time.monotonic() - started < 30
