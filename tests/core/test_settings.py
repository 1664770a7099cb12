"""The settings object: what it refuses, and how."""

import pytest
from pydantic import ValidationError

from core.settings import Settings


@pytest.mark.parametrize("field", ["cpu_offload_models", "compile_models", "fused_qkv_models", "channels_last_models", "fp8_models"])
def test_a_per_model_setting_names_diffusers_models_of_the_catalogue(field: str) -> None:
    assert getattr(Settings(_env_file=None, **{field: "tiny-sd, sdxl,tiny-wan"}), field) == ["tiny-sd", "sdxl", "tiny-wan"]
    with pytest.raises(ValidationError, match=r"sdxll, tiny-llm: not a diffusers model of the catalogue"):
        Settings(_env_file=None, **{field: "sdxl,sdxll,tiny-llm"})  # a typo, and a text model the setting would not act on
