"""`make bench` in its quick form, run exactly as make runs it (`python -m bench.run`): every
section and figure is there, figures are numbers, nothing failed, and it exits 0. Values are
the bench's business, not the test's."""

import json
import os
import shutil
import signal
import subprocess
import sys
from numbers import Real
from pathlib import Path
from typing import Any

from bench.engines import VIDEO_MODES, local_models
from bench.report import errors
from core.catalogue import Capability

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 240  # generous for a shared 2-core machine; the quick form takes well under a minute alone

QUEUE_FIGURES = ("submit_rps", "submit_p50_ms", "submit_p99_ms", "get_p50_ms", "get_p99_ms", "queued_during_get")
TASK_FIGURES = ("e2e_p50_ms", "e2e_p99_ms", "overhead_p50_ms", "overhead_p99_ms", "input_image_bytes", "redis_bytes_per_task")
IMAGE_FIGURES = ("outputs_per_s", "steps", "step_ms")
TEXT_FIGURES = ("outputs_per_s", "tokens", "token_ms")


def run_quick_bench() -> tuple[int, dict[str, Any], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DDIFFUSION_", "BENCH_"))} | {"BENCH_QUICK": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.run"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)  # the bench unwinds and stops its children
        out, err = process.communicate(timeout=60)
        raise AssertionError(f"bench did not finish in {TIMEOUT_S}s:\n{err[-4000:]}") from None
    assert out.strip(), f"no JSON on stdout (exit {process.returncode}):\n{err[-4000:]}"
    return process.returncode, json.loads(out), err


def assert_numbers(figures: dict[str, Any], names: tuple[str, ...], where: str) -> None:
    for name in names:
        assert isinstance(figures.get(name), Real) and not isinstance(figures[name], bool), f"{where}.{name} = {figures.get(name)!r}"


def expected_modes(engine: str, capabilities: frozenset[Capability], modes: dict[str, str]) -> set[str]:
    if engine == "transformers":
        return {"text", "vision"} if Capability.vision in capabilities else {"text"}
    return {VIDEO_MODES[mode] for mode in modes} if engine == "diffusers_video" else set(modes)


def test_quick_bench_reports_every_figure_and_exits_0() -> None:
    code, results, err = run_quick_bench()
    assert code == 0, f"bench exited {code}:\n{err[-4000:]}"
    assert errors(results) == [], json.dumps(results, indent=2)
    assert results["quick"] is True
    assert_numbers(results, QUEUE_FIGURES + TASK_FIGURES + ("bench_s",), "")

    faults = results["faults"]
    assert_numbers(faults, ("worker_kill_to_rerun_s", "redis_restart_to_first_202_s", "rerun_attempts"), "faults")
    assert faults["rerun_attempts"] >= 2 and faults["rerun_status"] == "succeeded", faults
    assert faults["redis_outage_answers"] == [503], "while Redis is down the api answers 503, nothing else"
    assert_numbers(faults, ("sentinel_failover_s",), "faults")
    assert set(faults["sentinel_failover_answers"]) <= {503}, faults

    scale = results["scale"]
    one_worker = ("tasks_per_s", "redis_commands_per_task", "redis_commands_in_scripts_per_task", "redis_bytes_per_task", "redis_cpu_us_per_task")
    assert_numbers(scale["gpu_workers_1"], one_worker, "scale.gpu_workers_1")
    assert scale["gpu_workers_1"]["redis_commands_by_name"]["evalsha"] > 0  # the task's steps are scripts
    assert_numbers(scale["gpu_workers_2"], ("tasks_per_s",), "scale.gpu_workers_2")
    assert_numbers(scale["model_loads"], ("with_affinity", "without_affinity"), "scale.model_loads")
    assert_numbers(scale["blob_store"], ("directory_task_p50_ms", "s3_task_p50_ms", "s3_overhead_per_task_ms"), "scale.blob_store")
    if shutil.which("wrk"):
        wrk = ("wrk_submit_rps", "wrk_p50_ms", "wrk_p99_ms", "wrk_non_2xx", "api_cpu_us_per_submit", "redis_cpu_us_per_submit")
        assert_numbers(scale, wrk, "scale")
        assert scale["wrk_non_2xx"] == 0, scale
    else:
        assert "not installed" in scale["wrk"]

    engines = results["engines"]
    for entry in local_models():
        figures = engines[entry.name]
        if not entry.tiny and "skipped" in figures:
            continue  # real weights absent on this machine
        assert_numbers(figures, ("load_s",), entry.name)
        assert set(figures["modes"]) == expected_modes(entry.engine, entry.capabilities, entry.modes), entry.name
        if entry.engine == "diffusers" and "txt2img" in entry.modes:
            assert_numbers(figures["variations"], ("batched_images_per_s", "separate_images_per_s", "ratio"), f"{entry.name}.variations")
        for mode, measured in figures["modes"].items():
            if entry.engine == "transformers":
                assert_numbers(measured, TEXT_FIGURES, f"{entry.name}.{mode}")
            else:
                assert_numbers(measured, IMAGE_FIGURES, f"{entry.name}.{mode}")
                assert measured["size"].startswith(f"{entry.defaults['width']}x{entry.defaults['height']}"), measured
