"""The exercises: solutions/ is a valid nbgrader source, and exercises/ is generated from it.

exercises/ is never edited by hand: regenerating it from solutions/ (nbgrader generate_assignment,
with nbgrader_config.py) must give the committed notebooks, and they must show neither a solution
nor a single line of a hidden test. nbval runs the solutions themselves (`make test`), and
tests/test_grading.py autogrades them.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import nbformat
import pytest

from grading import grade
from grading.feedback import hidden_lines

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
DATA = ROOT / "data" / "generated"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
NAMES = sorted(path.name for path in SOLUTIONS.iterdir() if path.is_dir())


def read(folder: Path, name: str) -> nbformat.NotebookNode:
    return nbformat.read(folder / name / f"{name}.ipynb", as_version=4)


def nbgrader_meta(cell: nbformat.NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def comparable(notebook: nbformat.NotebookNode) -> list[tuple]:
    """What an exercise notebook shows and how nbgrader treats each cell."""
    return [(cell.cell_type, cell.source, cell.metadata) for cell in notebook.cells]


def notebook_text(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    """exercises/ generated afresh from solutions/, in a temporary course."""
    with grade.Course() as course:
        grade.make_course(course, DATA, grade.course_config(timeout=None))
        target = tmp_path_factory.mktemp("regenerated")
        for name in NAMES:
            (target / name).mkdir()
            notebook = course.folder / "exercises" / name / f"{name}.ipynb"
            (target / name / notebook.name).write_bytes(notebook.read_bytes())
    return target


def test_there_is_one_solution_notebook_per_exercise_folder():
    assert NAMES, "no exercise in solutions/"
    for name in NAMES:
        assert (SOLUTIONS / name / f"{name}.ipynb").is_file(), f"solutions/{name}/{name}.ipynb"


@pytest.mark.parametrize("name", NAMES)
def test_exercises_are_generated_from_the_solutions(regenerated, name):
    assert (EXERCISES / name / f"{name}.ipynb").is_file(), f"exercises/{name} is missing"
    assert comparable(read(EXERCISES, name)) == comparable(read(regenerated, name)), (
        f"exercises/{name} is out of date with solutions/{name}: run `make exercises`"
    )


def test_exercises_holds_only_generated_exercises():
    assert sorted(path.name for path in EXERCISES.iterdir() if path.is_dir()) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_exercises_show_no_solution_and_no_hidden_test_line(name):
    solution, exercise = read(SOLUTIONS, name), read(EXERCISES, name)
    text = notebook_text(exercise)
    for marker in ["BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS"]:
        assert marker not in text, f"exercises/{name} contains {marker!r}"
    hidden = [
        line
        for cell in solution.cells
        for line in hidden_lines(cell.source, BEGIN_HIDDEN, END_HIDDEN)
    ]
    assert hidden, f"solutions/{name} has no hidden tests"
    shown = [line for line in hidden if line in text]
    assert not shown, f"exercises/{name} shows hidden test lines: {shown}"
    assert all(cell.get("outputs", []) == [] for cell in exercise.cells if cell.cell_type == "code")


@pytest.mark.parametrize("name", NAMES)
def test_solution_cells_tests_and_points_follow_nbgrader(name):
    notebook = read(SOLUTIONS, name)
    ids = [nbgrader_meta(cell)["grade_id"] for cell in notebook.cells if nbgrader_meta(cell)]
    assert len(ids) == len(set(ids)), f"{name}: duplicate grade_id"
    tests = [cell for cell in notebook.cells if nbgrader_meta(cell).get("grade")]
    assert tests, f"{name}: no graded test cell"
    for cell in notebook.cells:
        meta = nbgrader_meta(cell)
        if "### BEGIN SOLUTION" in cell.source:
            assert meta.get("solution"), f"{name}: solution markers outside a solution cell"
        if BEGIN_HIDDEN in cell.source:
            assert meta.get("grade"), f"{name}: hidden tests outside a graded test cell"
        if meta.get("grade"):
            assert meta.get("points", 0) > 0 and meta.get("locked"), f"{name}: {meta['grade_id']}"
    assert sum(BEGIN_HIDDEN in cell.source for cell in tests) >= len(tests) // 2, (
        f"{name}: most test cells should have hidden tests"
    )


@pytest.mark.parametrize("name", NAMES)
def test_solutions_are_committed_executed_without_errors(name):
    for cell in read(SOLUTIONS, name).cells:
        if cell.cell_type == "code":
            assert cell.execution_count is not None, f"{name}: run the notebook before committing"
            errors = [out for out in cell.outputs if out.output_type == "error"]
            assert not errors, f"{name}: cell {cell.get('id')} ends in an error"
            assert "execution" not in cell.metadata, f"{name}: timing metadata left in a cell"


def find_course_data_function(notebook: nbformat.NotebookNode):
    """The notebook's own find_course_data(), compiled from its setup cell."""
    setup = next(cell for cell in notebook.cells if "def find_course_data" in cell.source)
    function = next(
        node
        for node in ast.parse(setup.source).body
        if isinstance(node, ast.FunctionDef) and node.name == "find_course_data"
    )
    namespace = {"os": os, "Path": Path}
    exec(compile(ast.Module([function], type_ignores=[]), "setup", "exec"), namespace)
    return namespace["find_course_data"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("folder", [SOLUTIONS, EXERCISES], ids=["solutions", "exercises"])
def test_notebooks_find_the_course_data_from_their_folder(name, folder, monkeypatch, tmp_path):
    find_course_data = find_course_data_function(read(folder, name))
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.chdir(folder / name)
    assert find_course_data() == DATA
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert find_course_data() == tmp_path
    monkeypatch.delenv("COURSE_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="make data"):
        find_course_data()
