"""The generated client matches openapi.json, and the whole client package stays Python 3.9 code
(DCC hosts such as Houdini and Nuke ship older Pythons than the server's)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT_DIR = ROOT / "clients" / "python"
GENERATED = CLIENT_DIR / "deferred_diffusion_client"
SOURCES = sorted(path for package in (GENERATED, CLIENT_DIR / "ddiffusion") for path in package.rglob("*.py"))


def files_of(folder: Path) -> dict[Path, bytes]:
    return {path.relative_to(folder): path.read_bytes() for path in folder.rglob("*") if path.is_file() and "__pycache__" not in path.parts}


def test_committed_client_is_what_the_pinned_generator_makes_of_openapi_json(tmp_path: Path) -> None:
    fresh = tmp_path / "deferred_diffusion_client"
    run = subprocess.run([str(ROOT / "clients" / "generate.sh"), str(fresh)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    expected, committed = files_of(fresh), files_of(GENERATED)
    stale = sorted(str(name) for name in expected.keys() | committed.keys() if expected.get(name) != committed.get(name))
    assert not stale, "clients/python/deferred_diffusion_client is not what openapi.json generates: run `make client`.\n" + "\n".join(stale)


def test_client_package_names_are_clean() -> None:
    models = {path.stem for path in (GENERATED / "models").glob("*.py")}
    assert {"image_request", "task_record", "file_upload", "error_response"} <= models
    assert not [name for name in models if name.startswith("body_")], "a FastAPI `Body_*` schema leaked into the client"
    assert (GENERATED / "api" / "images" / "create_image.py").is_file()


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(CLIENT_DIR)))
def test_source_is_python_3_9_syntax(path: Path) -> None:
    ast.parse(path.read_text(), filename=str(path), feature_version=(3, 9))


def pep_604_unions(tree: ast.AST) -> list[int]:
    """Lines of `X | Y` unions that Python 3.9 would evaluate and fail on: any in an annotation
    (typer and get_type_hints evaluate them even under `from __future__ import annotations`),
    any inside a subscript (`Annotated[str | None, ...]`), and any with a `None` side."""
    annotations = [node.annotation for node in ast.walk(tree) if isinstance(node, (ast.arg, ast.AnnAssign)) and node.annotation]
    annotations += [node.returns for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns]
    subscripts = [node.slice for node in ast.walk(tree) if isinstance(node, ast.Subscript)]
    unions = {node for root in annotations + subscripts for node in ast.walk(root) if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr)}
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            if any(isinstance(side, ast.Constant) and side.value is None for side in (node.left, node.right)):
                unions.add(node)
    return sorted(node.lineno for node in unions)


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(CLIENT_DIR)))
def test_no_pep_604_unions_evaluated_at_runtime(path: Path) -> None:
    assert pep_604_unions(ast.parse(path.read_text())) == [], f"{path}: use Optional/Union (Python 3.9)"


def test_pep_604_check_catches_runtime_unions() -> None:
    assert pep_604_unions(ast.parse("def f(x: int | None) -> str | int: ...")) == [1, 1]
    assert pep_604_unions(ast.parse("A = Annotated[str | None, 1]\nB = x | None")) == [1, 2]
    assert pep_604_unions(ast.parse("flags = READ | WRITE\nx: Optional[int] = None")) == []


def test_typer_modules_keep_annotations_evaluated() -> None:
    """On 3.9 typer reads the raw signature: under `from __future__ import annotations` the
    `Annotated[..., typer.Option(...)]` metadata is a string it ignores, and every option breaks."""
    for path in SOURCES:
        imports = [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, (ast.Import, ast.ImportFrom))]
        imported = {alias.name for node in imports if isinstance(node, ast.Import) for alias in node.names}
        future = {alias.name for node in imports if isinstance(node, ast.ImportFrom) and node.module == "__future__" for alias in node.names}
        assert not ("typer" in imported and "annotations" in future), path


def test_ruff_finds_nothing_for_python_3_9() -> None:
    """Ruff reports syntax that 3.9 lacks, undefined names and similar errors for a py39 target."""
    run = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--target-version", "py39", "--select", "E9,F", str(CLIENT_DIR)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_client_imports_nothing_from_the_server() -> None:
    server_packages = {"core", "api", "workers", "server", "fastapi", "celery", "torch", "pydantic", "redis"}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            assert not {name.split(".")[0] for name in names} & server_packages, f"{path} imports {names}"
