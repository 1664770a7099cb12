"""bench/gpu_engine.py on a CPU: the worker's task path on the tiny twins against a real Redis, with
only what the GPU machine has beside the wheels bench/gpu_wheels.sh carries."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils.hiding import hiding

# Carried as wheels for the worker's path (Redis and its binary, Celery, the blob store, settings, logs,
# encoders); the rest stays missing.
ENGINE_LACKS = ("fastapi", "starlette", "uvicorn", "peft", "imageio_ffmpeg")


def test_the_engine_checks_run_on_the_twins(tiny_models: Path, tmp_path: Path) -> None:
    out = tmp_path / "engine.json"
    argv = ["--tiny", "--device", "cpu", "--model", "tiny-sdxl", "--second", "tiny-sd", "--dtype", "fp32", "--rounds", "1",
            "--models-dir", str(tiny_models), "--out", str(out)]  # fmt: skip
    bench = subprocess.run([sys.executable, "-c", hiding(ENGINE_LACKS, "bench.gpu_engine"), *argv], capture_output=True, text=True, timeout=300)
    assert bench.returncode == 0, bench.stderr[-2000:]
    results = json.loads(out.read_text())
    assert set(results["versions"]) == {"torch", "diffusers", "transformers", "peft"}, "what the figures were measured with"
    overhead = results["overhead"]
    assert overhead["bare_s"] > 0 and overhead["worker_s"] > 0  # the script checks each task's record says succeeded
    assert overhead["ratio"] == pytest.approx(overhead["worker_s"] / overhead["bare_s"], rel=0.02)  # of the unrounded times
    assert results["memory"]["cache_bytes"] > 0
    assert results["cancel"]["outcome"] == "cancelled" and results["cancel"]["at_step"] == 5
    assert results["out_of_memory"] == {"skipped": "needs a CUDA device"}
    assert results["two_warm"]["warm"] == ["tiny-sd", "tiny-sdxl"] and results["two_warm"]["evictions"] == 0
