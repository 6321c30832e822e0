"""Find tampering in a submission by reading its code, before and outside any kernel.

A student's code runs in the same interpreter as the tests that grade it, so it could rig them:
an IPython input or AST transformer, a custom exception handler, a replaced builtin, a
monkeypatched helper (``np.allclose = lambda *a, **k: True``), a rebound name the tests read.
What the kernel then reports cannot be trusted, but the code that did it can be read: ``findings``
parses every cell the student wrote (not the instructor's cells, which nbgrader restores) and lists
the constructs that reach into the interpreter or the tests' names. Any finding marks the
submission ``tampered``: it scores 0 and the instructor sees why.

Flagged, anywhere in a student's cell:

- the interpreter's back doors: ``get_ipython`` (hence every ``%magic`` and ``!command`` except
  ``%time``/``%timeit``/``%matplotlib``), ``__builtins__``, ``__import__``, ``exec``, ``eval``,
  ``compile``, ``globals``, ``vars``, ``locals``, ``setattr``, ``delattr``, ``breakpoint``;
- dunder attributes (``x.__dict__``, ``f.__code__``; ``__init__``/``__name__``/``__doc__`` are
  fine) and ``getattr`` with a computed or dunder name;
- assigning or deleting an attribute of anything but ``self`` (``np.allclose = ...``);
- importing the interpreter's machinery (``sys``, ``builtins``, ``importlib``, ``ctypes``, ``gc``,
  ``inspect``, ``IPython``, ``unittest`` ...), ``from x import *``, or a module the course
  environment does not have (a file the submission wrote next to itself);
- at module level, binding a name the test cells read that the instructor's cells provide
  (``np``, ``DATA``, ``evaluate_auc``, builtins such as ``len``), or declaring it ``global``.
"""

from __future__ import annotations

import ast
import copy
import re
import sys
from importlib.machinery import PathFinder

from IPython.core.inputtransformer2 import TransformerManager
from nbformat.notebooknode import NotebookNode

INTERPRETER_NAMES = {
    "get_ipython", "__builtins__", "__import__", "exec", "eval", "compile", "globals", "vars",
    "locals", "setattr", "delattr", "breakpoint", "__loader__", "__spec__",
}  # fmt: skip
MACHINERY_MODULES = {
    "sys", "builtins", "importlib", "ctypes", "_ctypes", "cffi", "gc", "inspect", "IPython",
    "ipykernel", "traitlets", "jupyter_client", "zmq", "unittest", "mock", "types", "runpy",
    "code", "codeop", "marshal", "atexit", "pdb", "bdb", "trace", "site", "sitecustomize",
}  # fmt: skip
HARMLESS_DUNDERS = {"__init__", "__name__", "__doc__"}
HARMLESS_MAGICS = {"time", "timeit", "matplotlib"}
DUNDER = re.compile(r"^__\w+__$")
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def findings(submitted: NotebookNode, source: NotebookNode) -> list[str]:
    """Every tampering construct in the student's cells of ``submitted``, one line each.

    ``source`` is the instructor's notebook (solutions/): its locked cells are restored by
    nbgrader before grading, so only the other cells are read, unless unchanged.
    """
    locked = {_grade_id(cell) for cell in source.cells if _nbgrader(cell).get("locked")}
    instructor_code = {
        cell.source for cell in source.cells
        if cell.cell_type == "code" and not _nbgrader(cell).get("solution")
    }  # fmt: skip
    protected = protected_names(source)
    imports = import_bindings(
        cell for cell in source.cells if cell.cell_type == "code" and not _nbgrader(cell).get("solution")
    )
    found = []
    for number, cell in enumerate(submitted.cells, start=1):
        if cell.cell_type != "code" or cell.source in instructor_code:
            continue
        if _grade_id(cell) in locked and _grade_id(cell) is not None:
            continue
        try:
            tree = ast.parse(TransformerManager().transform_cell(cell.source))
        except (SyntaxError, ValueError):
            continue  # it will fail when run, like any broken cell
        name = _grade_id(cell) or f"cell {number}"
        problems = cell_findings(tree, protected, imports)
        found += [f"{name}: {problem}" for problem in problems]
    return found


def protected_names(source: NotebookNode) -> set[str]:
    """Names the test cells read before binding them, minus those the solutions define."""
    read, solved = set(), set()
    for cell in source.cells:
        if cell.cell_type != "code":
            continue
        tree = _parse(cell.source)
        if _nbgrader(cell).get("solution"):
            solved |= module_bindings(tree)
        elif _nbgrader(cell).get("grade"):
            read |= free_names(tree)
    return read - solved


def free_names(tree: ast.AST) -> set[str]:
    """Names loaded in a cell that the cell does not bind at module level first (approximate)."""
    bound = module_bindings(tree) | {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.comprehension)
        for target in ast.walk(node.target)
        if isinstance(target, ast.Name)
    }
    loaded = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return loaded - bound


def module_bindings(tree: ast.AST) -> set[str]:
    """Names a cell binds in the notebook's global namespace."""
    names: set[str] = set()
    _collect_bindings(tree, names)
    return names


def _collect_bindings(node: ast.AST, names: set[str]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(child.name)
            names.update(_global_declarations(child))
            continue
        if isinstance(child, ast.Lambda):
            continue
        if isinstance(child, ast.Name) and isinstance(child.ctx, (ast.Store, ast.Del)):
            names.add(child.id)
        elif isinstance(child, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in child.names)
        elif isinstance(child, ast.ExceptHandler) and child.name:
            names.add(child.name)
        if isinstance(child, COMPREHENSIONS):
            names.update(n.target.id for n in ast.walk(child) if isinstance(n, ast.NamedExpr))
            continue
        _collect_bindings(child, names)


def _global_declarations(scope: ast.AST) -> set[str]:
    return {name for node in ast.walk(scope) if isinstance(node, (ast.Global, ast.Nonlocal)) for name in node.names}


def import_bindings(cells) -> dict[str, str]:
    """{name: what it imports} for the imports of the given (instructor's) cells."""
    bindings = {}
    for cell in cells:
        for node in ast.walk(_parse(cell.source)):
            bindings.update(_imported(node))
    return bindings


def _imported(node: ast.AST) -> dict[str, str]:
    if isinstance(node, ast.Import):
        return {(a.asname or a.name).split(".")[0]: a.asname and a.name or a.name.split(".")[0] for a in node.names}
    if isinstance(node, ast.ImportFrom) and not node.level:
        return {a.asname or a.name: f"{node.module}.{a.name}" for a in node.names}
    return {}


class _DropSameImports(ast.NodeTransformer):
    """Removes the imports that bind a name exactly as the instructor's cells do."""

    def __init__(self, imports: dict[str, str]) -> None:
        self.imports = imports

    def _drop(self, node):
        same = {name for name, what in _imported(node).items() if self.imports.get(name) == what}
        node.names = [a for a in node.names if (a.asname or a.name).split(".")[0] not in same]
        return node if node.names else ast.Pass()

    visit_Import = visit_ImportFrom = _drop


def cell_findings(tree: ast.AST, protected: set[str], imports: dict[str, str]) -> list[str]:
    """The tampering constructs of one parsed cell (``import numpy as np`` again is fine when the
    instructor's cells import it so too)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in INTERPRETER_NAMES:
            if not _harmless_magic(tree, node):
                found.append(f"uses {node.id}")
        elif isinstance(node, ast.Attribute):
            if DUNDER.match(node.attr) and node.attr not in HARMLESS_DUNDERS:
                found.append(f"reaches into {node.attr}")
            if isinstance(node.ctx, (ast.Store, ast.Del)) and not _is_self(node.value):
                found.append(f"assigns the attribute {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and _is_name(node.func, "getattr"):
            attr = node.args[1] if len(node.args) > 1 else None
            if not (isinstance(attr, ast.Constant) and isinstance(attr.value, str)) or (
                DUNDER.match(attr.value) and attr.value not in HARMLESS_DUNDERS
            ):
                found.append("uses getattr with a computed or dunder name")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found += _import_findings(node)
    rebound = module_bindings(_DropSameImports(imports).visit(copy.deepcopy(tree)))
    for name in sorted(rebound & protected):
        found.append(f"rebinds {name}, which the tests read")
    for name in sorted(_global_declarations(tree) & protected):
        found.append(f"declares {name} global, which the tests read")
    return sorted(set(found))


def _import_findings(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        if node.level:
            return ["imports from a file next to the notebook"]
        modules = [node.module or ""]
        if any(alias.name == "*" for alias in node.names):
            return [f"imports * from {node.module}"]
    else:
        modules = [alias.name for alias in node.names]
    found = []
    for module in modules:
        top = module.split(".")[0]
        if top in MACHINERY_MODULES:
            found.append(f"imports {module}")
        elif top not in sys.builtin_module_names and not _installed(top):
            found.append(f"imports {module}, which the course environment does not have")
    return found


def _installed(module: str) -> bool:
    """Whether the environment (not the notebook's folder) provides a top-level module."""
    paths = [path for path in sys.path if path not in ("", ".")]
    return PathFinder.find_spec(module, paths) is not None


def _harmless_magic(tree: ast.AST, name: ast.Name) -> bool:
    """get_ipython().run_line_magic('time', ...) and the like, as IPython writes %time."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.value is not None
            and isinstance(node.func.value, ast.Call)
            and node.func.value.func is name
            and node.func.attr in ("run_line_magic", "run_cell_magic")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            return node.args[0].value in HARMLESS_MAGICS
    return False


def _is_self(node: ast.AST) -> bool:
    return _is_name(node, "self")


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _parse(source: str) -> ast.AST:
    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):
        return ast.Module(body=[], type_ignores=[])


def _nbgrader(cell: NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def _grade_id(cell: NotebookNode) -> str | None:
    return _nbgrader(cell).get("grade_id")
