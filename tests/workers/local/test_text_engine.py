"""The transformers engine on the tiny chat twins, driven directly (no broker): text models and
a vision-language model that sees the images in user messages."""

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from core.catalogue import CATALOGUE
from core.errors import TaskCancelled
from core.settings import Settings
from tests.utils.context import FakeContext
from workers.local.texts import TransformersTextEngine


@pytest.fixture(scope="module")
def engine(tiny_models: Path) -> TransformersTextEngine:
    return TransformersTextEngine(Settings(models_dir=tiny_models, device="cpu"))


def png_input(ctx: FakeContext, size: tuple[int, int], color: tuple[int, int, int] = (200, 40, 40)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return ctx.put_input(buffer.getvalue())


def chat(content: str | list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}], "max_tokens": 6, "temperature": 0, "seed": 3} | overrides


class VisionSpy:
    """What the warm tiny-vlm's generate() and vision tower were given."""

    def __init__(self, image_token_id: int) -> None:
        self.image_token_id = image_token_id
        self.generate_inputs: dict[str, Any] = {}
        self.patches: list[int] = []

    def image_tokens(self) -> int:
        return int((self.generate_inputs["input_ids"] == self.image_token_id).sum())


@pytest.fixture
def tower(engine: TransformersTextEngine, monkeypatch: pytest.MonkeyPatch) -> Iterator[VisionSpy]:
    model, _, _ = engine.model(CATALOGUE["tiny-vlm"])
    spy = VisionSpy(model.config.image_token_id)
    real_generate = model.generate

    def generate(**kwargs: Any) -> torch.Tensor:
        spy.generate_inputs = kwargs
        return real_generate(**kwargs)

    monkeypatch.setattr(model, "generate", generate)
    hook = model.model.visual.register_forward_hook(lambda module, args, output: spy.patches.append(args[0].shape[0]))
    yield spy
    hook.remove()


def test_a_message_with_an_image_is_answered_after_the_vision_tower_sees_it(engine: TransformersTextEngine, tower: VisionSpy) -> None:
    ctx = FakeContext()
    content = [{"type": "text", "text": "what is in this photo?"}, {"type": "image", "image": png_input(ctx, (80, 48))}]
    [output] = engine.run(CATALOGUE["tiny-vlm"], chat(content), ctx)
    assert isinstance(output["text"], str) and output["text"] == ctx.text  # streamed as generated
    assert 1 <= len(ctx.steps) <= 6 and ctx.steps[-1][1] == 6
    grid = tower.generate_inputs["image_grid_thw"]
    # 80x48 resizes to 84x56: a 6x4 grid of 14-pixel patches, merged 2x2 into 6 image tokens.
    assert grid.tolist() == [[1, 4, 6]] and tower.generate_inputs["pixel_values"].shape[0] == 24
    assert tower.image_tokens() == 6 and int(tower.generate_inputs["mm_token_type_ids"].sum()) == 6
    assert tower.patches == [24]  # the vision tower ran once, on the image's 24 patches


def test_each_image_part_gets_its_own_tokens_in_order(engine: TransformersTextEngine, tower: VisionSpy) -> None:
    ctx = FakeContext()
    content = [
        {"type": "image", "image": png_input(ctx, (64, 64))},
        {"type": "text", "text": "and"},
        {"type": "image", "image": png_input(ctx, (112, 56), (20, 200, 40))},
    ]
    engine.run(CATALOGUE["tiny-vlm"], chat(content), ctx)
    assert tower.generate_inputs["image_grid_thw"].tolist() == [[1, 4, 4], [1, 4, 8]]
    assert tower.image_tokens() == 4 + 8


def test_a_vision_model_answers_text_alone_without_its_vision_tower(engine: TransformersTextEngine, tower: VisionSpy) -> None:
    ctx = FakeContext()
    [output] = engine.run(CATALOGUE["tiny-vlm"], chat("write a haiku", max_tokens=4), ctx)
    assert isinstance(output["text"], str)
    assert "pixel_values" not in tower.generate_inputs and tower.image_tokens() == 0 and tower.patches == []


def test_the_same_seed_gives_the_same_answer_about_an_image(engine: TransformersTextEngine) -> None:
    ctx = FakeContext()
    request = chat([{"type": "image", "image": png_input(ctx, (64, 64))}, {"type": "text", "text": "describe"}], temperature=1.0)
    answers = [engine.run(CATALOGUE["tiny-vlm"], request, ctx)[0]["text"] for _ in range(2)]
    assert answers[0] == answers[1]


def test_a_cancel_stops_generation_between_tokens(engine: TransformersTextEngine) -> None:
    ctx = FakeContext(cancel_after=2)
    content = [{"type": "image", "image": png_input(ctx, (64, 64))}, {"type": "text", "text": "describe"}]
    with pytest.raises(TaskCancelled):
        engine.run(CATALOGUE["tiny-vlm"], chat(content, max_tokens=20), ctx)
    assert len(ctx.steps) == 2


def test_text_and_vision_models_share_the_engine_and_load_once(tiny_models: Path) -> None:
    engine = TransformersTextEngine(Settings(models_dir=tiny_models, device="cpu"))
    ctx = FakeContext()
    image = png_input(ctx, (64, 64))
    for _ in range(2):
        engine.run(CATALOGUE["tiny-llm"], chat("hi"), ctx)
        engine.run(CATALOGUE["tiny-vlm"], chat([{"type": "image", "image": image}]), ctx)
    assert engine.cache.loads == 2 and engine.cache.warm_names() == ["tiny-llm", "tiny-vlm"]


def test_a_strip_shaped_image_is_letterboxed_for_the_vision_tower(engine: TransformersTextEngine, tower: VisionSpy) -> None:
    ctx = FakeContext()
    ref = png_input(ctx, (600, 2))  # 300:1, beyond the 200:1 the Qwen2-VL image processor takes
    [output] = engine.run(CATALOGUE["tiny-vlm"], chat([{"type": "image", "image": ref}, {"type": "text", "text": "what is it?"}]), ctx)
    assert isinstance(output["text"], str) and len(tower.patches) == 1
    assert any("600x2 was padded to 600x3" in line for line in ctx.lines)  # after a load line when the model was cold


def test_a_temperature_next_to_zero_decodes_greedily(engine: TransformersTextEngine) -> None:
    ctx = FakeContext()
    [tiny] = engine.run(CATALOGUE["tiny-llm"], chat("hello", temperature=1e-300), ctx)  # logits / 1e-300 overflow to inf
    [greedy] = engine.run(CATALOGUE["tiny-llm"], chat("hello", temperature=0, seed=99), FakeContext())
    assert tiny == greedy and any("decoding greedily" in line for line in ctx.lines)
