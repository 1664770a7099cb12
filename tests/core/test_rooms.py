"""Each room's door (DESIGN.md, Layout): what its modules may import, read from their source with `ast`."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# room → the top-level packages none of its modules may import
FORBIDDEN = {
    "core": {"api", "workers", "server", "clients"},
    "api": {"workers", "torch", "diffusers"},
    "workers": {"fastapi", "api"},
}


def imported_packages(source: str) -> set[str]:
    """The top-level packages named by `import x.y` and `from x.y import z` (relative imports stay in the room)."""
    packages = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            packages |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            packages.add(node.module.split(".")[0])
    return packages


def test_the_walk_sees_both_kinds_of_import() -> None:
    source = "import os.path, api.app\nfrom workers.local import pull\nfrom . import sibling\nif True:\n    import server\n"
    assert imported_packages(source) == {"os", "api", "workers", "server"}


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_no_module_imports_past_its_room(room: str) -> None:
    modules = sorted((ROOT / room).rglob("*.py"))
    assert modules, f"no modules under {room}/"
    crossings = [
        f"{module.relative_to(ROOT)} imports {', '.join(sorted(crossed))}"
        for module in modules
        if (crossed := imported_packages(module.read_text()) & FORBIDDEN[room])
    ]
    assert not crossings, "\n".join(crossings)
