"""`make bench-gpu`'s script on a CPU: the tiny twins through the same code a GPU run takes, and
every real-size pipeline assembled on `meta` (nothing allocated), as a GPU run assembles it."""

import json
from pathlib import Path

import torch

from bench.gpu import assemble, denoiser_name, main
from core.catalogue import CATALOGUE
from workers.local.real_size import build, parameter_count, real_size_models


def test_the_twins_run_through_the_gpu_bench_on_a_cpu(tiny_models: Path, tmp_path: Path) -> None:
    out = tmp_path / "results" / "cpu.json"
    argv = ["--tiny", "--device", "cpu", "--dtypes", "bf16", "--models", "tiny-sdxl,tiny-wan", "--outputs", "1,2", "--vae-tiling", "--models-dir", str(tiny_models), "--out", str(out)]
    assert main(argv) == 0
    results = json.loads(out.read_text())
    assert results["device"] == "cpu" and results["tiny"] is True
    sdxl, wan = results["models"]["tiny-sdxl"]["bf16"], results["models"]["tiny-wan"]["bf16"]
    for run in (sdxl, wan):
        assert run["materialise_s"] > 0 and run["one"]["seconds"] > 0 and run["one"]["iterations_per_s"] > 0
        assert run["one"]["steps"] == 2, "the catalogue's default steps of the twin"
    assert set(sdxl["images_per_s"]) == {"1", "2"} and all(rate > 0 for rate in sdxl["images_per_s"].values())
    assert "images_per_s" not in wan, "videos are one per call"
    assert sdxl["vae_tiling"]["seconds"] > 0 and wan["vae_tiling"]["seconds"] > 0, "both VAEs decode in tiles"
    assert sdxl["attention"] == "AttnProcessor2_0", "diffusers' SDPA processor"


def test_every_real_size_pipeline_assembles_with_its_twins_tokenizers_and_scheduler(tiny_models: Path) -> None:
    for model in real_size_models():
        pipe = assemble(model, tiny_models, torch.device("meta"), torch.bfloat16, tiny=False)
        assert type(pipe).__name__ == CATALOGUE[model].pipeline
        denoiser = denoiser_name(pipe)
        assert parameter_count(getattr(pipe, denoiser)) == parameter_count(build(model)[denoiser]), model
        assert pipe.scheduler is not None and pipe.tokenizer is not None, model
