"""`make bench-gpu`'s script on a CPU: the tiny twins through the same code a GPU run takes, and
every real-size pipeline assembled on `meta` (nothing allocated), as a GPU run assembles it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.gpu import assemble, denoiser_name, main
from core.catalogue import CATALOGUE
from tests.utils.hiding import hiding
from workers.local.real_size import build, parameter_count, real_size_models


def test_the_twins_run_through_the_gpu_bench_on_a_cpu(tiny_models: Path, tmp_path: Path) -> None:
    out = tmp_path / "results" / "cpu.json"
    argv = ["--tiny", "--device", "cpu", "--dtypes", "bf16", "--models", "tiny-sdxl,tiny-wan", "--outputs", "1,2", "--vae-tiling", "--vae-slicing",
            "--speedups", "fused_qkv,channels_last", "--models-dir", str(tiny_models), "--out", str(out)]
    assert main(argv) == 0
    results = json.loads(out.read_text())
    assert results["device"] == "cpu" and results["tiny"] is True
    assert results["versions"]["torch"] == torch.__version__ and set(results["versions"]) == {"torch", "diffusers", "transformers", "peft"}
    sdxl, wan = results["models"]["tiny-sdxl"]["bf16"], results["models"]["tiny-wan"]["bf16"]
    for run in (sdxl, wan):
        assert run["materialise_s"] > 0 and run["one"]["seconds"] > 0 and run["one"]["iterations_per_s"] > 0
        assert run["one"]["steps"] == 2, "the catalogue's default steps of the twin"
    assert set(sdxl["images_per_s"]) == {"1", "2"} and all(rate > 0 for rate in sdxl["images_per_s"].values())
    assert "images_per_s" not in wan, "videos are one per call"
    assert sdxl["vae_tiling"]["seconds"] > 0 and wan["vae_tiling"]["seconds"] > 0, "both VAEs decode in tiles"
    assert sdxl["attention"] == "AttnProcessor2_0", "diffusers' SDPA processor"
    assert sdxl["vae_slicing"]["seconds"] > 0 and "vae_slicing" not in wan, "a batch of images decoded one at a time"
    assert sdxl["fused_qkv"]["applied"] == wan["fused_qkv"]["applied"] == {"fused_qkv": True}
    assert sdxl["channels_last"]["applied"] == {"channels_last": True} and wan["channels_last"]["applied"] == {}, "only UNets"


def test_an_unknown_speedup_is_refused_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--tiny", "--device", "cpu", "--speedups", "fp4"])
    assert "unknown --speedups fp4" in capsys.readouterr().err


def test_every_real_size_pipeline_assembles_with_its_twins_tokenizers_and_scheduler(tiny_models: Path) -> None:
    for model in real_size_models():
        pipe = assemble(model, tiny_models, torch.device("meta"), torch.bfloat16, tiny=False)
        assert type(pipe).__name__ == CATALOGUE[model].pipeline
        denoiser = denoiser_name(pipe)
        assert parameter_count(getattr(pipe, denoiser)) == parameter_count(build(model)[denoiser]), model
        assert pipe.scheduler is not None and pipe.tokenizer is not None, model


# What the GPU machine has not (it has CUDA torch, transformers, accelerate and their dependencies; bench/gpu_wheels.sh
# carries the rest): the bench must run without them.
GPU_MACHINE_LACKS = ("pydantic_settings", "redis", "celery", "fastapi", "boto3", "peft", "OpenEXR", "PyOpenColorIO", "png", "imageio_ffmpeg")


def test_the_gpu_bench_runs_with_only_what_the_gpu_machine_has(tiny_models: Path, tmp_path: Path) -> None:
    argv = ["--tiny", "--device", "cpu", "--dtypes", "bf16", "--models", "tiny-sdxl", "--outputs", "1", "--speedups", "fused_qkv",
            "--models-dir", str(tiny_models), "--out", str(tmp_path / "out.json")]  # fmt: skip
    bench = subprocess.run([sys.executable, "-c", hiding(GPU_MACHINE_LACKS, "bench.gpu"), *argv], capture_output=True, text=True, timeout=300)
    assert bench.returncode == 0, bench.stderr[-2000:]
    assert json.loads((tmp_path / "out.json").read_text())["models"]["tiny-sdxl"]["bf16"]["one"]["seconds"] > 0
