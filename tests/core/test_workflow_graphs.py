"""core.workflows: templates, the allow-list, and patches and inputs by node title or id."""

import json
from pathlib import Path
from typing import Any

import pytest

from core import workflows
from core.errors import InvalidRequestError, PlatformError
from core.settings import CHECKOUT_WORKFLOWS_DIR, Settings

TEMPLATES = CHECKOUT_WORKFLOWS_DIR
ALLOWED = workflows.DEFAULT_ALLOWED_NODES


def user_graph() -> dict[str, Any]:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}, "_meta": {"title": "plate"}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}, "_meta": {"title": "invert"}},
        "3": {"class_type": "SaveImage", "inputs": {"filename_prefix": "out", "images": ["2", 0]}},
    }


def refused(params: dict[str, Any], templates_dir: Path = TEMPLATES, allowed: frozenset[str] = ALLOWED) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as raised:
        workflows.prepare(params, templates_dir, allowed)
    return raised.value


def test_a_template_gets_its_patches_by_title_and_by_id_without_touching_the_file() -> None:
    graph = workflows.prepare({"template": "txt2img", "patches": {"positive": {"text": "a fox"}, "3": {"steps": 4}}}, TEMPLATES, ALLOWED)

    assert graph["6"]["inputs"]["text"] == "a fox" and graph["3"]["inputs"]["steps"] == 4
    assert json.loads((TEMPLATES / "txt2img.json").read_text())["6"]["inputs"]["text"] != "a fox"


def test_a_user_graph_is_copied_patched_and_checked() -> None:
    graph = user_graph()

    prepared = workflows.prepare({"workflow": graph, "patches": {"3": {"filename_prefix": "new"}}, "inputs": {"plate": "sha256:x"}}, TEMPLATES, ALLOWED)

    assert prepared["3"]["inputs"]["filename_prefix"] == "new" and graph["3"]["inputs"]["filename_prefix"] == "out"


@pytest.mark.parametrize(
    ("params", "code", "says"),
    [
        ({"template": "nope"}, "comfy_unknown_template", "one of: img2img, txt2img"),
        ({"template": "../txt2img"}, "comfy_unknown_template", "img2img, txt2img"),
        ({}, "invalid_request", "exactly one of"),
        ({"template": "txt2img", "workflow": user_graph()}, "invalid_request", "exactly one of"),
        ({"template": "txt2img", "patches": {"postive": {"text": "x"}}}, "comfy_unknown_node", "`patches` names node 'postive'"),
        ({"template": "img2img"}, "comfy_missing_input", "10 (LoadImage 'input')"),
        ({"template": "img2img", "inputs": {"input": "r", "inptu": "r"}}, "comfy_unknown_node", "`inputs` names node 'inptu'"),
        ({"template": "txt2img", "inputs": {"positive": "r"}}, "comfy_invalid_input", "6 (CLIPTextEncode 'positive')"),
        ({"workflow": {"1": {"inputs": {}}}}, "comfy_invalid_workflow", "Node 1 is not in API format"),
        ({"workflow": {}}, "comfy_invalid_workflow", "non-empty"),
    ],
)
def test_bad_requests_say_what_to_change(params: dict[str, Any], code: str, says: str) -> None:
    error = refused(params)

    assert error.code == code and error.status_code == 422
    assert says in error.message


def test_unknown_node_lists_the_titles() -> None:
    error = refused({"template": "txt2img", "patches": {"postive": {"text": "x"}}})

    assert "positive" in error.message and error.details["titles"] == ["checkpoint", "decode", "negative", "positive", "sampler", "save", "size"]


def test_an_ambiguous_title_asks_for_an_id() -> None:
    graph = user_graph()
    graph["2"]["_meta"]["title"] = "plate"

    error = refused({"workflow": graph, "patches": {"plate": {}}, "inputs": {"1": "r"}})

    assert error.code == "comfy_unknown_node" and "(1, 2)" in error.message and "by id" in error.message


def test_user_graphs_are_limited_to_the_allow_list_templates_are_not() -> None:
    graph = user_graph()
    graph["4"] = {"class_type": "SaveLatent", "inputs": {}}

    error = refused({"workflow": graph, "inputs": {"plate": "r"}})

    assert error.code == "comfy_node_not_allowed" and "node 4 (SaveLatent)" in error.message and error.details == {"nodes": ["4"]}
    narrow = refused({"workflow": user_graph(), "inputs": {"plate": "r"}}, allowed=frozenset({"LoadImage", "SaveImage"}))
    assert "node 2 (ImageInvert)" in narrow.message and "node 1" not in narrow.message


def test_templates_list_their_patchable_inputs_and_image_loaders(tmp_path: Path) -> None:
    graph = user_graph()
    graph["4"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "b", "images": ["2", 0]}, "_meta": {"title": "invert"}}
    (tmp_path / "edit.json").write_text(json.dumps(graph))
    (tmp_path / "edit.txt").write_text("Inverts the plate.\nMore words.\n")
    (tmp_path / "bad name!.json").write_text("{}")  # not a name a request could give: not listed

    [template] = workflows.list_templates(tmp_path)

    assert (template.name, template.description, template.inputs) == ("edit", "Inverts the plate.", ["plate"])
    # Links are wiring, a loader's image comes from `inputs`; a shared title falls back to ids.
    assert template.patchable == {"3": ["filename_prefix"], "4": ["filename_prefix"]}


def test_the_checkout_templates_are_listed() -> None:
    listed = {template.name: template for template in workflows.list_templates(TEMPLATES)}

    assert set(listed) == {"img2img", "txt2img"}
    assert listed["img2img"].inputs == ["input"] and listed["txt2img"].inputs == []
    assert listed["txt2img"].patchable["size"] == ["width", "height", "batch_size"]
    assert listed["txt2img"].patchable["positive"] == ["text"] and "clip" not in listed["txt2img"].patchable["positive"]
    assert all(template.description for template in listed.values())


def test_a_broken_template_is_a_server_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")

    with pytest.raises(PlatformError) as raised:
        workflows.load_template(tmp_path, "broken")

    assert not isinstance(raised.value, InvalidRequestError) and raised.value.code == "comfy_invalid_template"
    assert str(tmp_path / "broken.json") in raised.value.message


def test_settings_default_to_the_checkout_templates_and_the_core_nodes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DDIFFUSION_COMFY_WORKFLOWS_DIR", raising=False)
    monkeypatch.delenv("DDIFFUSION_COMFY_ALLOWED_NODES", raising=False)
    settings = Settings(_env_file=None)
    assert settings.resolved_comfy_workflows_dir == TEMPLATES and settings.comfy_allowed_nodes == ALLOWED

    monkeypatch.setenv("DDIFFUSION_COMFY_WORKFLOWS_DIR", str(tmp_path))
    monkeypatch.setenv("DDIFFUSION_COMFY_ALLOWED_NODES", "LoadImage, SaveImage")
    settings = Settings(_env_file=None)
    assert settings.resolved_comfy_workflows_dir == tmp_path.resolve()
    assert settings.comfy_allowed_nodes == {"LoadImage", "SaveImage"}
    # Child processes (`ddiffusion serve`) read the list back from the environment.
    assert settings.to_env()["DDIFFUSION_COMFY_ALLOWED_NODES"] == "LoadImage,SaveImage"


def test_an_installed_package_falls_back_to_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DDIFFUSION_COMFY_WORKFLOWS_DIR", raising=False)
    monkeypatch.setattr("core.settings.CHECKOUT_WORKFLOWS_DIR", tmp_path / "absent")

    assert Settings(_env_file=None, data_dir=tmp_path).resolved_comfy_workflows_dir == tmp_path / "workflows"
