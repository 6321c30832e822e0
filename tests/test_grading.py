"""The grading flow end to end: `make grade` on synthetic students, grades and feedback checked.

One grading run (module fixture) over students who each stress one thing: full marks on every
exercise (every solution scores full marks), blank submissions of every exercise (each scores 0
without crashing the grader), and, on exercise 02 only (grading runs kernels: be frugal), a
partial answer, a cell that raises, an infinite loop, edited test cells and an attempt to delete
the course, and a file that is not a notebook. Then: grades.csv row by row, the console messages,
and no hidden test in any feedback.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import html
import re
from pathlib import Path

import nbformat
import pytest

from grading import grade
from grading.feedback import hidden_lines
from grading.sandbox import sandbox_problem

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
NAMES = sorted(path.name for path in SOLUTIONS.iterdir() if path.is_dir())
PATTERNS = "02_feature_engineering_patterns"
CELL_TIMEOUT = 30  # seconds: above any cell of the solutions under load; what the loop costs
JOBS = 2  # students graded at once
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HOUR_ONLY_TIME_OF_DAY = """
def add_time_of_day(purchases):
    angle = 2 * np.pi * purchases["event_timestamp"].dt.hour().cast(pl.Int32) / 24
    return purchases.with_columns(tod_sin=np.sin(angle), tod_cos=np.cos(angle))
"""
DELETE_THE_COURSE = """
import shutil
for target in ["../../solutions", "../../../solutions", "../../../submitted", "../../../source"]:
    if Path(target).exists():
        shutil.rmtree(target)
        print("removed", target)
"""


def read(folder: Path, name: str) -> nbformat.NotebookNode:
    return nbformat.read(folder / name / f"{name}.ipynb", as_version=4)


def grade_id(cell: nbformat.NotebookNode) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def solution_code(name: str) -> dict[str, str]:
    """What a student who solved everything writes in each solution cell."""
    return {
        grade_id(cell): "\n".join(line for line in cell.source.splitlines() if line.strip() not in SOLUTION_MARKERS)
        for cell in read(SOLUTIONS, name).cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }


def points_of(name: str, *, autograded_only: bool = False) -> dict[str, float]:
    """Points per graded cell; autograded_only leaves out answers graded by hand (exercise 09)."""
    return {
        grade_id(cell): cell.metadata["nbgrader"]["points"]
        for cell in read(SOLUTIONS, name).cells
        if cell.metadata.get("nbgrader", {}).get("grade")
        and not (autograded_only and cell.metadata["nbgrader"].get("solution"))
    }


def submit(folder: Path, student: str, name: str, code=None, test_edits=None) -> None:
    """The released exercise with the student's code in solution cells (and edited tests)."""
    notebook = read(EXERCISES, name)
    for cell in notebook.cells:
        if (code or {}).get(grade_id(cell)) is not None:
            cell.source = code[grade_id(cell)]
        if grade_id(cell) in (test_edits or {}):
            cell.source = test_edits[grade_id(cell)]
            cell.metadata["nbgrader"]["points"] = 100
    target = folder / student / name / f"{name}.ipynb"
    target.parent.mkdir(parents=True)
    nbformat.write(notebook, target)


def patterns_code(**changes: str) -> dict[str, str]:
    """Exercise 02 solved, except the cells given (grade id with _ for -)."""
    code = solution_code(PATTERNS)
    code.update({key.replace("_", "-"): value for key, value in changes.items()})
    return code


# Each synthetic student of exercise 02: (code, edited test cells, the test cells that must fail).
SOLVED = solution_code(PATTERNS) if (SOLUTIONS / PATTERNS).is_dir() else {}
STUDENTS_OF_02 = {
    "partial": (
        patterns_code(
            ratios=SOLVED.get("ratios", "")
            .replace("avg_amount_30d", "avg_amount_XXd")
            .replace("avg_amount_90d", "avg_amount_30d")
            .replace("avg_amount_XXd", "avg_amount_90d"),
            time_of_day=HOUR_ONLY_TIME_OF_DAY,
        ),
        {},
        {"test-ratios", "test-time-of-day"},
    ),
    "broken": (
        patterns_code(ratios='ratios = user_stats.select(pl.col("no_such_column"))'),
        {},
        {"test-ratios"},
    ),
    # Sleeps rather than spins, not to burn a shared core; the kernel is interrupted all the same.
    "loop": (
        patterns_code(ratios="import time\nwhile True:\n    time.sleep(0.1)"),
        {},
        {"test-ratios"},
    ),
    "edits_tests": (
        {"rolling-count": SOLVED.get("rolling-count")},
        {
            "test-safe-ratio-example": 'print("All good!")',
            "test-ratios": 'print("All good!")',
            "test-time-of-day": "pass",
        },
        {"test-safe-ratio-example", "test-ratios", "test-time-of-day"},
    ),
    "deleter": (
        patterns_code(time_of_day=SOLVED.get("time-of-day", "") + "\n" + DELETE_THE_COURSE),
        {},
        set(),
    ),
}


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Run the one-command grading on the synthetic students; return its outputs."""
    if problem := sandbox_problem():
        pytest.skip(f"no sandbox here: {problem}")
    submissions = tmp_path_factory.mktemp("submissions")
    for name in NAMES:
        submit(submissions, "full", name, code=solution_code(name))
        submit(submissions, "blank", name)
    for student, (code, edits, _) in STUDENTS_OF_02.items():
        submit(submissions, student, PATTERNS, code=code, test_edits=edits)
    garbled = submissions / "garbled" / PATTERNS / f"{PATTERNS}.ipynb"
    garbled.parent.mkdir(parents=True)
    garbled.write_text('{"cells": [')  # a file that is not a notebook
    out = tmp_path_factory.mktemp("out")
    solutions_before = tree_digest(SOLUTIONS)
    log = out / "console.txt"
    arguments = [str(submissions), "--out", str(out / "grades.csv")]
    arguments += ["--timeout", str(CELL_TIMEOUT), "--jobs", str(JOBS)]
    with log.open("w") as console, contextlib.redirect_stdout(console):
        status = grade.main(arguments)
    with (out / "grades.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    return {
        "status": status,
        "rows": {(row["student_id"], row["assignment"]): row for row in rows},
        "feedback": out / "feedback",
        "console": log.read_text(),
        "solutions_untouched": tree_digest(SOLUTIONS) == solutions_before,
    }


def expected_score(student: str, name: str) -> float:
    points = points_of(name)
    if student == "full":  # what autograding gives; answers graded by hand wait for the instructor
        return sum(points_of(name, autograded_only=True).values())
    if student in ("blank", "garbled") or name != PATTERNS:
        return 0.0
    failing = STUDENTS_OF_02[student][2]
    return sum(value for test, value in points.items() if test not in failing)


def test_grading_completes_and_leaves_the_course_alone(graded):
    assert graded["status"] == 0
    assert graded["solutions_untouched"], "grading changed solutions/"


@pytest.mark.parametrize("student", ["full", "blank", "garbled", *STUDENTS_OF_02])
def test_grades_csv_row_by_row(graded, student):
    for name in NAMES:
        row = graded["rows"][(student, name)]
        assert float(row["max_score"]) == sum(points_of(name).values()), (student, name)
        assert float(row["score"]) == expected_score(student, name), (student, name, row)


def test_grades_csv_has_one_row_per_student_and_exercise(graded):
    students = {"full", "blank", "garbled", *STUDENTS_OF_02}
    assert set(graded["rows"]) == {(s, n) for s in students for n in NAMES}


def console_line(graded, student: str, name: str) -> str:
    return next(line for line in graded["console"].splitlines() if line.split()[:2] == [student, name])


def test_the_console_says_what_went_wrong(graded):
    assert "ratios: CellTimeoutError" in console_line(graded, "loop", PATTERNS)
    assert "ratios: ColumnNotFoundError" in console_line(graded, "broken", PATTERNS)
    assert "every cell ran" in console_line(graded, "deleter", PATTERNS)
    assert "autograde failed" in console_line(graded, "garbled", PATTERNS)
    for name in NAMES:
        assert "every cell ran" in console_line(graded, "full", name)
        assert "NotImplementedError" in console_line(graded, "blank", name)


def feedback_text(graded, student: str, name: str) -> str:
    """A feedback page as the student reads it: tags dropped, entities decoded."""
    page = graded["feedback"] / student / name / f"{name}.html"
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def submitted_pairs() -> list[tuple[str, str]]:
    pairs = [(s, n) for s in ("full", "blank") for n in NAMES]
    return pairs + [(student, PATTERNS) for student in STUDENTS_OF_02]


def test_no_feedback_shows_a_hidden_test(graded):
    hidden = {
        name: [
            line
            for cell in read(SOLUTIONS, name).cells
            for line in hidden_lines(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
        ]
        for name in NAMES
    }
    for student, name in submitted_pairs():
        text = feedback_text(graded, student, name)
        assert "HIDDEN TESTS" not in text
        leaked = [line for line in hidden[name] if line in text]
        assert not leaked, f"{student}/{name} feedback shows hidden test lines: {leaked}"


def test_a_failed_hidden_test_shows_a_message_not_its_traceback(graded):
    text = feedback_text(graded, "partial", PATTERNS)
    assert "HiddenTestFailed: the visible tests of this cell pass, but its hidden tests" in text
    assert "Traceback" not in text.split("HiddenTestFailed")[1][:500]


def test_a_visible_failure_keeps_its_message(graded):
    text = feedback_text(graded, "partial", PATTERNS)
    assert "AssertionError: 23:59:59 must sit next to 00:00" in text


def test_edited_test_cells_are_restored_and_graded(graded):
    text = feedback_text(graded, "edits_tests", PATTERNS)
    assert "ratio.dtype.is_float()" in text, "the original visible test should be back"


def test_a_timeout_is_explained_and_later_cells_still_run(graded):
    text = feedback_text(graded, "loop", PATTERNS)
    assert "ran past the time limit" in text


def test_deleting_files_finds_nothing_of_the_course(graded):
    text = feedback_text(graded, "deleter", PATTERNS)
    assert "removed ../" not in text, "the sandbox shows the kernel its own copy only"
    assert graded["solutions_untouched"]
    for student in ("edits_tests", "full", "loop", "partial"):  # graded after or beside it
        assert float(graded["rows"][(student, PATTERNS)]["score"]) == expected_score(student, PATTERNS)


# ScrubHiddenTests on hand-made notebooks (no kernel): each way a hidden line can reach feedback.
HIDDEN_CELL = """visible = compute()
assert visible > 0, "visible check"
### BEGIN HIDDEN TESTS
assert visible == 42, "hidden check"
### END HIDDEN TESTS"""


def error(line: int, context: list[str], evalue: str) -> nbformat.NotebookNode:
    """An IPython-style error output: the failing cell line with context lines around it."""
    frame = f"Cell In[3], line {line}\n" + "\n".join(context)
    return nbformat.v4.new_output(
        "error",
        ename="AssertionError",
        evalue=evalue,
        traceback=["header", frame, "AssertionError"],
    )


def scrub(*cells: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    from grading.feedback import ScrubHiddenTests

    notebook = nbformat.v4.new_notebook(cells=list(cells))
    scrubbed, _ = ScrubHiddenTests().preprocess(notebook, {})
    return scrubbed.cells


def graded_cell(outputs) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(HIDDEN_CELL, outputs=outputs)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "t", "points": 1, "locked": True}
    return cell


def test_scrub_removes_the_hidden_region_and_a_hidden_failure_traceback():
    (cell,) = scrub(graded_cell([error(4, HIDDEN_CELL.splitlines(), "hidden check")]))
    assert "42" not in cell.source and "HIDDEN" not in cell.source
    assert "visible > 0" in cell.source
    (output,) = cell.outputs
    assert output.traceback[0].startswith("AssertionError in a hidden test.")
    assert "42" not in str(output) and "hidden check" not in str(output)


def test_scrub_keeps_a_visible_failure_without_the_hidden_lines_around_it():
    (cell,) = scrub(graded_cell([error(2, HIDDEN_CELL.splitlines(), "visible check")]))
    (output,) = cell.outputs
    assert output.evalue == "visible check"
    assert "visible > 0" in output.traceback[0] and "42" not in str(output)


def test_scrub_blanks_any_output_that_prints_a_hidden_line():
    leak = 'assert visible == 42, "hidden check"'
    solution = nbformat.v4.new_code_cell(
        "print(open('../../solutions/x.ipynb').read())",
        outputs=[
            nbformat.v4.new_output("stream", name="stdout", text=f"junk\n{leak}\n"),
            nbformat.v4.new_output("display_data", data={"text/html": leak.replace('"', "&quot;")}),
            nbformat.v4.new_output("stream", name="stdout", text="harmless\n"),
        ],
    )
    cells = scrub(graded_cell([]), solution)
    texts = [str(output) for output in cells[1].outputs]
    assert "42" not in texts[0] and "42" not in texts[1] and "harmless" in texts[2]


def test_grading_refuses_without_a_sandbox_unless_unsafe(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(grade, "sandbox_problem", lambda: "`bwrap` is not installed")
    (tmp_path / "someone").mkdir()
    assert grade.main([str(tmp_path), "--out", str(tmp_path / "grades.csv")]) == 2
    message = capsys.readouterr().err
    assert "cannot sandbox the students' kernels: `bwrap` is not installed" in message
    assert "UNSAFE=1" in message and not (tmp_path / "grades.csv").exists()
