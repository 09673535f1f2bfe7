"""The package's shape: no import cycle, and no import inside a function except to defer
a heavy optional one (said why, on its line)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "calcinosis"
# What may be imported inside a function, and why it is heavy.
DEFERRED = {
    "matplotlib": "~0.3 s to import",
    "scipy": "~0.3 s to import",
    "calcinosis.render.forest": "matplotlib",
    "calcinosis.stats.pooling": "numpy and scipy",
    "calcinosis.stats.sensitivity": "scipy (and calcinosis.stats.pooling)",
    "calcinosis.answers": "its vocabulary, ~60 ms: only `calcinosis ask` needs it",
    "calcinosis.web.server": "uvicorn, SQLAlchemy, Alembic: only `calcinosis serve`",
    "calcinosis.web.app": "FastAPI and every route: only `calcinosis serve`",
    "calcinosis.settings": "pydantic-settings (asyncio, ssl, dotenv): only `calcinosis serve`",
}


def _name(path: Path) -> str:
    parts = ("calcinosis", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts).removesuffix(".__init__")


MODULES = {_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts}


def _imports(path: Path) -> list[tuple[str, bool, int]]:
    """(module imported, inside a function?, line) for each import; those under
    ``if TYPE_CHECKING:`` are left out (they do not run)."""
    found: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((alias.name, inside, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                for alias in child.names:
                    submodule = f"{child.module}.{alias.name}"
                    imported = submodule if submodule in MODULES else child.module
                    found.append((imported, inside, child.lineno))
            visit(child, inside)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def test_no_import_cycle() -> None:
    graph = {
        name: {target for target, _, _ in _imports(path) if target in MODULES}
        for name, path in MODULES.items()
    }
    cycles: list[list[str]] = []

    def walk(module: str, trail: list[str]) -> None:
        for target in sorted(graph[module]):
            if target in trail:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in done:
                walk(target, [*trail, target])
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        if module not in done:
            walk(module, [module])
    assert cycles == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_inside_functions_only_defer_heavy_ones(module: str) -> None:
    lines = MODULES[module].read_text(encoding="utf-8").splitlines()
    for imported, inside, line in _imports(MODULES[module]):
        if not inside:
            continue
        where = f"{module}:{line} imports {imported} inside a function"
        assert any(imported == d or imported.startswith(f"{d}.") for d in DEFERRED), where
        assert "# noqa: PLC0415 - " in lines[line - 1], f"{where}: say why, on its line"
