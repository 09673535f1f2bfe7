"""The package's shape: layers that import only downwards, no import cycle, and no import
inside a function except to defer a heavy optional one (said why, on its line)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import calcinosis

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
    "calcinosis.decision": "the engine's models, ~0.13 G instructions: only to recommend",
    "calcinosis.living": "the study-file and panel models, ~0.2 G: only its own commands",
    "tqdm": "~0.03 G: only a batch of plans shows progress",
    "yaml": "PyYAML, ~0.12 G: only for a data file that is not in the parse cache",
    "tabulate": "~0.03 G with html: only a command that prints a table",
    "calcinosis.evidence.tables": "grading and tabulate, ~0.04 G: only the table commands",
    "calcinosis.evidence.audit": "its checks and the tables, ~0.06 G: only `evidence audit`",
    "calcinosis.evidence.summary_of_findings": "certainty, ~0.05 G: only `evidence certainty`",
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


# The layers, lowest first (README, "Development"): a module may import its own layer and
# those below it, never one above. The package root is the public face: its entry points
# are loaded on first use (``calcinosis.__getattr__``), and only DISCLAIMER is imported
# from it by the layers.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundation",
        (
            "calcinosis",
            "calcinosis.errors",
            "calcinosis.cachefiles",
            "calcinosis.datafiles",
            "calcinosis.limits",
            "calcinosis.patterns",
            "calcinosis.settings",
        ),
    ),
    ("stats", ("calcinosis.stats",)),
    ("evidence", ("calcinosis.evidence",)),
    ("decision", ("calcinosis.decision",)),
    ("render", ("calcinosis.render",)),
    ("answers", ("calcinosis.answers",)),
    ("integrations", ("calcinosis.integrations",)),
    ("living", ("calcinosis.living",)),
    ("service", ("calcinosis.storage", "calcinosis.web")),
    ("cli", ("calcinosis.cli",)),
)


def _layer(module: str) -> int:
    """The index in LAYERS of the longest prefix that owns the module."""
    owners = [
        (len(prefix), index)
        for index, (_, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(f"{prefix}.")
    ]
    assert owners, f"{module} is in no layer of LAYERS"
    return max(owners)[1]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_layer_and_those_below(module: str) -> None:
    own = _layer(module)
    above = [
        f"{module}:{line} imports {imported} ({LAYERS[_layer(imported)][0]}, above"
        f" {LAYERS[own][0]})"
        for imported, _, line in _imports(MODULES[module])
        if imported in MODULES and _layer(imported) > own
    ]
    assert above == []


def test_the_root_imports_only_what_it_needs_for_the_disclaimer() -> None:
    """``import calcinosis`` loads no other module of the package; an entry point loads
    its own layer on first use, and is the object its module defines."""
    script = (
        "import sys, calcinosis\n"
        "print(sorted(m for m in sys.modules if m.startswith('calcinosis.')))\n"
        "from calcinosis import load_knowledge\n"
        "from calcinosis.evidence import knowledge_base\n"
        "print(load_knowledge is knowledge_base.load_knowledge)\n"
        "print('calcinosis.answers' in sys.modules)\n"
    )
    out = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:3] == ["[]", "True", "False"]


def test_the_public_api_names_what_it_exports() -> None:
    for name in calcinosis.__all__:
        assert getattr(calcinosis, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'recomend'"):
        _ = calcinosis.recomend  # type: ignore[attr-defined]


# Issue 13: no name whose signature (or, for a class, whose fields and public methods)
# mentions Any is imported by a module of another layer. There were 33 at the start of
# its second part, 25 at the start of its third, none since.


def _mentions_any(node: ast.AST) -> bool:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        text = ast.unparse(node.args) + (ast.unparse(node.returns) if node.returns else "")
    elif isinstance(node, ast.ClassDef):
        fields = [ast.unparse(n.annotation) for n in node.body if isinstance(n, ast.AnnAssign)]
        methods = [
            ast.unparse(n.args) + (ast.unparse(n.returns) if n.returns else "")
            for n in node.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and not n.name.startswith("_")
        ]
        text = " ".join(fields + methods)
    elif isinstance(node, ast.AnnAssign):
        text = ast.unparse(node.annotation)
    else:
        return False
    return re.search(r"\bAny\b", text) is not None


def _public(tree: ast.Module) -> set[str] | None:
    """The names of the module's ``__all__``, or None when it has none."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            assert isinstance(node.value, ast.List | ast.Tuple)
            return {
                e.value
                for e in node.value.elts
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            }
    return None


def _any_crossing(sources: dict[str, str]) -> set[str]:
    """``module:name`` for each public name typed with Any (its signature, or a class's
    fields and public methods) of a module that another layer's module imports from,
    among ``sources`` (module name to its text). Public: in ``__all__``, or, without one,
    not starting with an underscore; and any name another layer imports. Every public
    name counts, not only those imported, since what an imported function returns (a
    class, say) reaches the other layer with its methods."""
    trees = {module: ast.parse(text) for module, text in sources.items()}
    imported: dict[str, set[str]] = {}
    for module, tree in trees.items():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module in trees
                and not node.level
                and _layer(node.module) != _layer(module)
            ):
                imported.setdefault(node.module, set()).update(a.name for a in node.names)
    crossing = set()
    for module, names in imported.items():
        public = _public(trees[module])
        for node in trees[module].body:
            name = getattr(node, "name", None) or getattr(getattr(node, "target", None), "id", None)
            shown = name in names or (
                name in public if public is not None else not str(name).startswith("_")
            )
            if name and shown and _mentions_any(node):
                crossing.add(f"{module}:{name}")
    return crossing


def test_no_any_crosses_a_layer_boundary() -> None:
    sources = {module: path.read_text(encoding="utf-8") for module, path in MODULES.items()}
    assert _any_crossing(sources) == set()


def test_a_planted_any_across_layers_is_found() -> None:
    sources = {
        "calcinosis.evidence.planted": (
            "from typing import Any\n"
            "def loose(x: int) -> dict[str, Any]: ...\n"
            "def tight(x: int) -> dict[str, int]: ...\n"
            "class Loose:\n    field: Any\n"
            "class Private:\n    def _hidden(self) -> Any: ...\n"
        ),
        "calcinosis.evidence.sibling": (
            "from calcinosis.evidence.planted import loose\n"  # the same layer: allowed
        ),
        "calcinosis.decision.user": (
            "from calcinosis.evidence.planted import Private, tight\n"  # Loose, loose: public
        ),
    }
    assert _any_crossing(sources) == {
        "calcinosis.evidence.planted:loose",
        "calcinosis.evidence.planted:Loose",
    }


@pytest.mark.parametrize("module", sorted(MODULES))
def test_what_is_derived_from_a_knowledge_base_is_kept_with_it(module: str) -> None:
    """No module-level functools cache keyed on a KnowledgeBase (it would keep every base
    it saw alive): such a function is ``@derived`` or ``@derived_bounded(n)``."""
    kept = [
        f"{module}:{node.lineno} {node.name}"
        for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.args.args
        and node.args.args[0].annotation is not None
        and "KnowledgeBase" in ast.unparse(node.args.args[0].annotation)
        and any(
            ast.unparse(d).split("(")[0].removeprefix("functools.") in ("cache", "lru_cache")
            for d in node.decorator_list
        )
    ]
    assert kept == []
