"""The catalogue's promises: twins match their real entries, routes lead somewhere, docs list it all."""

from pathlib import Path

import pytest

from core.catalogue import CATALOGUE, Capability, ModelEntry, normalize, resolve
from core.errors import InvalidRequestError
from core.schemas import Domain, ImageRequest

LOCAL = [entry for entry in CATALOGUE.values() if entry.queue == "gpu"]


@pytest.mark.parametrize("entry", [entry for entry in LOCAL if not entry.tiny], ids=lambda entry: entry.name)
def test_every_real_local_model_has_a_tiny_twin_of_the_same_classes(entry: ModelEntry) -> None:
    twin = CATALOGUE[entry.twin or ""]
    assert twin.tiny and twin.domain == entry.domain and twin.engine == entry.engine
    assert (twin.pipeline, twin.modes) == (entry.pipeline, entry.modes)
    assert {route: CATALOGUE[target].twin for route, target in entry.routes.items()} == twin.routes


@pytest.mark.parametrize("entry", [entry for entry in LOCAL if entry.modes], ids=lambda entry: entry.name)
def test_image_modes_and_capabilities_agree(entry: ModelEntry) -> None:
    assert {mode for mode in entry.modes} == {c.value for c in entry.capabilities} - {Capability.lora.value, Capability.video.value, Capability.references.value}


def test_a_family_routes_by_inputs() -> None:
    ref = "sha256:" + "0" * 64
    cases = {(): "flux-1-dev", ("image",): "flux-1-kontext", ("image", "mask"): "flux-1-fill"}
    for inputs, variant in cases.items():
        entry, notes = resolve(Domain.images, ImageRequest(model="flux-1", prompt="x", **dict.fromkeys(inputs, ref)))
        assert entry.name == variant and notes and variant in notes[0]
    with pytest.raises(InvalidRequestError, match="`mask` needs the `image`"):
        resolve(Domain.images, ImageRequest(model="flux-1", prompt="x", mask=ref))


def test_the_readme_lists_every_model() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    missing = [name for name in CATALOGUE if f"`{name}`" not in readme]
    assert not missing, f"README.md does not list {missing}"


def test_schedulers_default_and_are_refused_where_the_model_has_its_own() -> None:
    params, _ = normalize(CATALOGUE["sdxl"], ImageRequest(model="sdxl", prompt="x"))
    assert params["scheduler"] == "euler"
    with pytest.raises(InvalidRequestError, match="tiny-flux runs its own scheduler"):
        normalize(CATALOGUE["tiny-flux"], ImageRequest(model="tiny-flux", prompt="x", scheduler="ddim"))


@pytest.mark.parametrize("name", ["tiny-sd", "tiny-flux-2", "gpt-image-1"])
def test_image_generators_drop_the_utilities_fields_with_a_note(name: str) -> None:
    request = ImageRequest(model=name, prompt="a teapot", points=[{"x": 4, "y": 4}], scale=2)
    params, notes = normalize(CATALOGUE[name], request)
    assert not {"points", "boxes", "matte", "scale"} & set(params)
    assert f"points ignored: it does not apply to {name}" in notes and f"scale ignored: it does not apply to {name}" in notes
