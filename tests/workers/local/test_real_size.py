"""Real-size twins against the published sizes: each config built on `meta` (nothing allocated) and
counted. A layer too many or too few, or a width off, moves a count by more than its tolerance."""

import pytest
import torch

from core.catalogue import CATALOGUE
from workers.local.real_size import build, build_component, parameter_count, real_size_models, spec

# (model, components summed, published parameters, relative tolerance, where it is published)
PUBLISHED = [
    ("sdxl", ("unet",), 2.57e9, 0.002, "the SDXL UNet, 2.57 B (issue 16; diffusers' SDXL checkpoint)"),
    ("sdxl", ("text_encoder",), 123e6, 0.005, "CLIP ViT-L/14's text encoder, 123 M"),
    ("sdxl", ("text_encoder_2",), 695e6, 0.005, "OpenCLIP ViT-bigG/14's text encoder with its projection, 695 M"),
    ("flux-1-dev", ("transformer",), 11.9e9, 0.005, "the FLUX.1 transformer, 11.9 B (Black Forest Labs: 12 B)"),
    ("flux-1-schnell", ("transformer",), 11.9e9, 0.005, "the FLUX.1 transformer, 11.9 B"),
    ("flux-1-dev", ("text_encoder_2",), 4.76e9, 0.005, "T5 v1.1 XXL's encoder, 4.76 B"),
    # Keras Hub's stable_diffusion_3.5_medium preset: CLIP-L, CLIP-G, MMDiT-X and VAE, 3,371,793,763,
    # counting the transformer's position embedding, which diffusers keeps as a buffer.
    ("sd-3.5-medium", ("transformer+buffers", "text_encoder", "text_encoder_2", "vae"), 3_371_793_763, 0.0, "Keras Hub preset"),
    ("ltx-video", ("transformer",), 1.9e9, 0.03, "LTX-Video's transformer, 1.9 B (the LTX-Video report)"),
    ("wan-2.1", ("vae",), 127e6, 0.005, "Wan-VAE, 127 M (the Wan report)"),
]


@pytest.fixture(scope="module")
def built() -> dict[str, dict[str, torch.nn.Module]]:
    return {model: build(model) for model in real_size_models()}


def counted(components: dict[str, torch.nn.Module], names: tuple[str, ...]) -> int:
    total = 0
    for name in names:
        component, _, extra = name.partition("+")
        total += parameter_count(components[component], buffers=extra == "buffers")
    return total


@pytest.mark.parametrize(("model", "names", "published", "tolerance", "source"), PUBLISHED, ids=[f"{row[0]}-{'+'.join(row[1])}" for row in PUBLISHED])
def test_each_real_size_config_has_the_published_size(
    built: dict[str, dict[str, torch.nn.Module]], model: str, names: tuple[str, ...], published: float, tolerance: float, source: str
) -> None:
    count = counted(built[model], names)
    assert abs(count - published) <= tolerance * published, f"{model} {names}: {count:,} parameters, published {published:,.0f} ({source})"


def test_wan_21_has_the_reports_architecture(built: dict[str, dict[str, torch.nn.Module]]) -> None:
    """Wan's "1.3B" is a name (its checkpoint holds 1.42 B): checked against the report's table instead."""
    config = built["wan-2.1"]["transformer"].config
    assert (config.num_attention_heads * config.attention_head_dim, config.ffn_dim, config.num_layers, config.num_attention_heads) == (1536, 8960, 30, 12)
    assert parameter_count(built["wan-2.1"]["transformer"]) == pytest.approx(1.42e9, rel=0.005)


def test_every_real_size_model_is_a_catalogue_entry_with_its_pipeline_and_nothing_is_allocated(built: dict[str, dict[str, torch.nn.Module]]) -> None:
    assert set(real_size_models()) == {"sdxl", "flux-1-dev", "flux-1-schnell", "sd-3.5-medium", "ltx-video", "wan-2.1"}
    for model, components in built.items():
        entry = CATALOGUE[model]
        assert spec(model)["pipeline"] == entry.pipeline and spec(model)["checkpoint"] == entry.weights, model
        for name, component in components.items():
            assert all(tensor.is_meta for tensor in component.parameters()), f"{model}.{name} allocated"
            assert {tensor.dtype for tensor in component.parameters()} == {torch.bfloat16}, f"{model}.{name}"


def test_a_component_built_on_a_device_is_made_there_in_its_dtype_and_runs() -> None:
    """The path a GPU run takes (here on the CPU, with the smallest component): no meta tensor left, the asked dtype, a forward pass."""
    part = spec("sdxl")["components"]["text_encoder"]
    encoder = build_component(part["class"], part["config"], "cpu", torch.bfloat16)
    assert not any(tensor.is_meta for tensor in list(encoder.parameters()) + list(encoder.buffers()))
    assert {tensor.dtype for tensor in encoder.parameters()} == {torch.bfloat16}
    with torch.no_grad():
        hidden = encoder(torch.randint(0, 49408, (1, 77))).last_hidden_state
    assert hidden.shape == (1, 77, 768) and torch.isfinite(hidden).all()
    assert torch.get_default_dtype() == torch.float32, "the default dtype is put back"
