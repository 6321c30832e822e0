"""The package's layout holds: one public surface, a result model at the bottom, no import circles."""

from __future__ import annotations

import ast
import dataclasses
import enum
import subprocess
import sys
import typing
from pathlib import Path

import skewcheck

PACKAGE = Path(skewcheck.__file__).parent
# Modules that compute nothing of a comparison: they may import each other, never a computing module.
LEAVES = {"_model", "_columns", "_time", "_stats", "_settings", "_errors", "_version", "_render"}
LINE_BUDGET = 450
# The public types defined outside _model (their __module__ says "skewcheck").
DEFINED_IN = {
    **{name: "skewcheck._profile" for name in ("Profile", "FeatureProfile", "GridHistogram", "QuantileSummary")},
    **{name: "skewcheck._trend" for name in ("Trend", "TrendPoint")},
}


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, root: Path, *, top_level_only: bool) -> set[str]:
    """The top-level modules of `root` that `path` imports (relative imports resolved), skipping
    TYPE_CHECKING blocks; with `top_level_only`, imports inside functions (lazy ones) are skipped."""
    tree = ast.parse(path.read_text())
    name = _module_name(path, root).split(".")
    package = name if path.name == "__init__.py" else name[:-1]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1] + ([node.module] if node.module else [])
            target = ".".join(p for p in base if p)
            found.add(target.split(".")[0])
    return found - {""}


def _graph(root: Path, *, top_level_only: bool) -> dict[str, set[str]]:
    """Top-level module (or subpackage) of `root` -> the ones it imports."""
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        top = _module_name(path, root).split(".")[0]
        graph.setdefault(top, set()).update(_imports(path, root, top_level_only=top_level_only) - {top})
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` (as a path a -> ... -> a), or None."""
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*trail[trail.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt, [*trail, nxt])):
                return found
        state[node] = "done"
        return None

    return next((c for node in sorted(graph) if node not in state and (c := visit(node, [node]))), None)


def test_import_graph_has_no_cycles():
    assert _cycle(_graph(PACKAGE, top_level_only=True)) is None


def test_the_cycle_finder_finds_a_cycle(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "a.py").write_text("from . import c\nfrom .b import x\n")
    (tmp_path / "b.py").write_text("from .a import y\n")
    (tmp_path / "c.py").write_text("def f():\n    from .a import z\n")  # lazy: not a cycle

    assert _cycle(_graph(tmp_path, top_level_only=True)) == ["a", "b", "a"]


def test_leaves_import_no_computing_module():
    graph = _graph(PACKAGE, top_level_only=False)
    for leaf in sorted(LEAVES):
        # The renderers write report files, and a report refuses a path that is one of its inputs.
        allowed = LEAVES | ({"_io"} if leaf in ("_render", "_model") else set())
        assert graph.get(leaf, set()) <= allowed, (leaf, graph[leaf] - allowed)


def test_no_module_is_much_over_400_lines():
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > LINE_BUDGET} == {}


def _public_types() -> list[type]:
    return [v for v in (getattr(skewcheck, n) for n in skewcheck.__all__) if isinstance(v, type)]


def test_public_types_are_shown_as_skewcheck():
    assert {t.__name__: t.__module__ for t in _public_types()} == {t.__name__: "skewcheck" for t in _public_types()}


def test_every_type_a_result_is_annotated_with_is_exported():
    """The fields of every public result type name only public types (or builtins)."""
    public = set(_public_types())
    missing = set()
    for cls in public:
        if not dataclasses.is_dataclass(cls):
            continue
        # __module__ is "skewcheck", so the annotations are resolved in the defining module's names
        for hint in typing.get_type_hints(
            cls, globalns=vars(sys.modules[DEFINED_IN.get(cls.__name__, "skewcheck._model")])
        ).values():
            for arg in _flatten(hint):
                if (dataclasses.is_dataclass(arg) or isinstance(arg, enum.EnumMeta)) and arg not in public:
                    missing.add(f"{cls.__name__} -> {arg.__name__}")
    assert missing == set()


def _flatten(hint) -> list:
    args = typing.get_args(hint)
    return [hint] if not args else [a for x in args for a in _flatten(x)]


def test_the_feast_adapter_names_the_extra_when_feast_is_missing():
    # In a fresh interpreter where `import feast` fails (a None entry in sys.modules blocks it).
    code = (
        "import sys; sys.modules['feast'] = None\n"
        "try:\n    import skewcheck.feast\nexcept ImportError as e:\n    print(e)\n"
        "import skewcheck; print(skewcheck.compare.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [
        'skewcheck.feast needs Feast, which is not installed: pip install "skewcheck[feast]"',
        "compare",
    ]
