"""Grade a folder of submissions with nbgrader, in one command.

Usage: python -m grading.grade SUBMISSIONS [--out CSV] [--feedback DIR] [--timeout S] [--jobs N]
                                           [--unsafe]

SUBMISSIONS holds ``<student>/<exercise>/<exercise>.ipynb``. This runs the nbgrader sequence of
grading/README.md with the settings of nbgrader_config.py, through nbgrader's Python API (nbgrader
is imported once, not once per command: each import costs seconds), always on temporary copies of
the course, never on the repository:

1. a course: ``solutions/`` and the course data copied into a temporary folder, then
   ``generate_assignment`` for every exercise (registers them in a fresh gradebook);
2. per student, two copies of that course of their own (own gradebook, own data, no other student
   in them), and per exercise submitted two ``autograde`` runs, each kernel in a bubblewrap
   sandbox (grading/sandbox.py, grading/execute.py): one with the hidden tests, for the scores
   only; one with the hidden tests removed, for the feedback. A submission that tampers with the
   tests (grading/tamper.py) scores 0. Then ``generate_feedback`` (the second run's notebook with
   the first run's scores, scrubbed again by grading/feedback.py) and the CSV export;
3. the students' grades merged into one CSV (nbgrader's export columns and ``tampered``), the
   feedback HTML copied to ``FEEDBACK/<student>/<exercise>/<exercise>.html``.

A submission that raises, loops, exits or kills its kernel gets the points of the tests that
pass, and the next student is graded whatever happens. Without a sandbox grading refuses unless
``--unsafe`` (grading/README.md says what each defends).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from concurrent.futures import Future, ProcessPoolExecutor
from copy import deepcopy
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.plugins.export import CsvExportPlugin
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearOutput,
    DeduplicateIds,
    OverwriteCells,
    OverwriteKernelspec,
)
from sqlalchemy.exc import SAWarning
from traitlets.config import Config, PyFileConfigLoader

from grading import tamper
from grading.sandbox import sandbox_problem

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
DEFAULT_OUT = ROOT / "grading" / "out" / "grades.csv"
DEFAULT_DATA = ROOT / "data" / "generated"
EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception): ")
HIDDEN_FAILURE = (
    "HiddenTestFailed: the visible tests of this cell pass, but its hidden tests failed. Hidden "
    "tests compare your results exactly with a recomputation on the full data."
)


@dataclass
class Result:
    """One student's grade for one exercise, how long it took and what went wrong."""

    student: str
    exercise: str
    score: float = 0.0
    max_score: float = 0.0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    tampered: list[str] = field(default_factory=list)


class GradingError(Exception):
    """The grading cannot start (no submissions, no data): one clear message."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path, help="folder of <student>/<exercise>/<exercise>.ipynb")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the grades CSV to write")
    parser.add_argument("--feedback", type=Path, help="feedback folder (default: 'feedback' next to --out)")
    parser.add_argument("--timeout", type=int, help="time limit per cell in seconds (default: nbgrader_config.py)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the course data folder")
    parser.add_argument("--jobs", type=int, default=1, help="students graded at once (default 1)")
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="grade without a sandbox: the students' code runs as your user (grading/README.md)",
    )
    args = parser.parse_args(argv)
    feedback = args.feedback or args.out.parent / "feedback"
    try:
        if not args.unsafe and (problem := sandbox_problem()):
            raise GradingError(
                f"cannot sandbox the students' kernels: {problem}. Without a sandbox their code "
                "runs as you and can read the hidden tests and change any of your files; to "
                "grade anyway, pass UNSAFE=1 to make (--unsafe)"
            )
        results = grade(
            args.submissions,
            args.out,
            feedback,
            timeout=args.timeout,
            data=args.data,
            jobs=args.jobs,
            sandbox=not args.unsafe,
        )
    except GradingError as error:
        print(f"grade: {error}", file=sys.stderr)
        return 2
    print_summary(results, args.out, feedback)
    return 0


def grade(
    submissions: Path,
    out: Path,
    feedback: Path,
    *,
    timeout: int | None = None,
    data: Path = DEFAULT_DATA,
    jobs: int = 1,
    sandbox: bool = True,
) -> list[Result]:
    """Grade every submission; write the grades CSV and the feedback; return the results.

    Each student is graded in a process of its own, ``jobs`` students at once; with ``sandbox``
    (the default) every kernel runs in bubblewrap (grading/sandbox.py).
    """
    found = find_submissions(submissions)
    if not (data / "manifest.json").is_file():
        raise GradingError(f"no course data in {data}: run `make data` first")
    with Course() as template:
        max_scores = make_course(template, data, course_config(timeout))
        grade_one = partial(grade_in_copy, template, max_scores, feedback, timeout, sandbox)
        with ProcessPoolExecutor(max(1, jobs)) as pool:
            futures = [(pool.submit(grade_one, item), item) for item in found.items()]
            graded = [collect(future, item, max_scores) for future, item in futures]
    write_grades([row for _, rows in graded for row in rows], out)
    return [result for results, _ in graded for result in results]


def grade_in_copy(
    template: Course,
    max_scores: dict[str, float],
    feedback: Path,
    timeout: int | None,
    sandbox: bool,
    submission: tuple[str, dict[str, Path]],
) -> tuple[list[Result], list[dict]]:
    """Grade one student in two fresh copies of the template course (scores, feedback).
    Never raises."""
    student, notebooks = submission
    with warnings.catch_warnings(), template.clone() as course, template.clone() as visible:
        # nbgrader's own gradebook code trips this SQLAlchemy warning on every autograde.
        warnings.filterwarnings("ignore", "Object of type <Submitted", SAWarning)
        try:
            config = course_config(timeout, sandbox)
            return grade_student(course, visible, student, notebooks, feedback / student, config)
        except Exception as error:  # noqa: BLE001 (a failure never stops the others)
            traceback.print_exc()
            return ungraded(student, notebooks, max_scores, error)


def collect(
    future: Future, submission: tuple[str, dict[str, Path]], max_scores: dict[str, float]
) -> tuple[list[Result], list[dict]]:
    """A worker's result, or zeros with the reason if its process died."""
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 (e.g. BrokenProcessPool: grade the others anyway)
        return ungraded(*submission, max_scores, error)


class Course:
    """A temporary course folder and its gradebook, in a fresh temporary folder of their own.

    Nothing of another course copy is reachable from one by a relative path; the gradebook sits
    beside the course folder, not in it. Used as a context manager: removed on exit.
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="skewcheck-grading-"))
        self.folder = self.root / "course"
        self.gradebook = self.root / "gradebook.db"

    def __enter__(self) -> Course:  # noqa: PYI034 (typing.Self needs Python 3.11)
        return self

    def __exit__(self, *exc_info: object) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def clone(self) -> Course:
        """A new course with a copy of this one's folder and gradebook."""
        other = Course()
        shutil.copytree(self.folder, other.folder)
        shutil.copy(self.gradebook, other.gradebook)
        return other

    def api(self, config: Config) -> NbGraderAPI:
        """nbgrader's API on this course and its gradebook."""
        config = deepcopy(config)
        config.CourseDirectory.root = str(self.folder)
        config.CourseDirectory.db_url = f"sqlite:///{self.gradebook}"
        return NbGraderAPI(config=config)


def ungraded(
    student: str, notebooks: dict[str, Path], max_scores: dict[str, float], error: Exception
) -> tuple[list[Result], list[dict]]:
    """Zero for every exercise of a student whose grading broke, with the reason."""
    problem = f"grading failed: {type(error).__name__}: {error}"
    results = [Result(student, name, 0.0, max_scores[name], 0.0, [problem]) for name in notebooks]
    rows = [
        {
            "assignment": name,
            "duedate": "",
            "timestamp": "",
            "student_id": student,
            "last_name": "",
            "first_name": "",
            "email": "",
            "raw_score": "0.0",
            "late_submission_penalty": "0.0",
            "score": "0.0",
            "max_score": str(max_score),
            "tampered": "",
        }
        for name, max_score in max_scores.items()
    ]
    return results, rows


def find_submissions(submissions: Path) -> dict[str, dict[str, Path]]:
    """{student: {exercise: notebook}} for every known exercise in the submissions folder."""
    if not submissions.is_dir():
        raise GradingError(f"{submissions} is not a folder of <student>/<exercise>/ submissions")
    known = {path.name for path in SOLUTIONS.iterdir() if path.is_dir()}
    found: dict[str, dict[str, Path]] = {}
    for student_dir in sorted(p for p in submissions.iterdir() if p.is_dir()):
        found[student_dir.name] = {}
        for exercise_dir in sorted(p for p in student_dir.iterdir() if p.is_dir()):
            notebook = exercise_dir / f"{exercise_dir.name}.ipynb"
            if exercise_dir.name not in known:
                print(f"skipped {exercise_dir}: no exercise of that name in solutions/")
            elif not notebook.is_file():
                print(f"skipped {exercise_dir}: it should hold {notebook.name}")
            else:
                found[student_dir.name][exercise_dir.name] = notebook
    if not found:
        raise GradingError(f"no <student>/ folder in {submissions}")
    return found


def course_config(timeout: int | None, sandbox: bool = True) -> Config:
    """The settings of nbgrader_config.py, with an optional time limit per cell."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    if timeout is not None:
        config.Execute.timeout = timeout
    config.GuardedExecute.sandbox = sandbox
    return config


def visible_tests_config(config: Config) -> Config:
    """The same settings, with the hidden tests removed from the test cells before they run."""
    config = deepcopy(config)
    config.Autograde.sanitize_preprocessors = [
        ClearOutput,
        DeduplicateIds,
        OverwriteKernelspec,
        OverwriteCells,
        ClearHiddenTests,
        CheckCellMetadata,
    ]
    config.ClearHiddenTests.enforce_metadata = False
    return config


def make_course(course: Course, data: Path, config: Config) -> dict[str, float]:
    """Fill a course with the solutions, the data and a gradebook holding every exercise.

    Returns each exercise's maximum score. The student versions land in <course>/exercises.
    """
    shutil.copytree(SOLUTIONS, course.folder / "solutions", ignore=shutil.ignore_patterns(".*"))
    shutil.copytree(data, course.folder / "data" / "generated")
    api = course.api(config)
    bin_dir = str(Path(sys.executable).parent)  # generate_assignment runs `alembic` from there
    for exercise in sorted(path.name for path in (course.folder / "solutions").iterdir()):
        with environment(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"):
            outcome = api.generate_assignment(exercise, force=True, create=True)
        if not outcome["success"]:
            raise GradingError(f"generate_assignment {exercise} failed:\n{outcome.get('error')}")
    with Gradebook(api.coursedir.db_url) as gradebook:
        return {assignment.name: assignment.max_score for assignment in gradebook.assignments}


def grade_student(
    course: Course,
    visible: Course,
    student: str,
    notebooks: dict[str, Path],
    feedback: Path,
    config: Config,
) -> tuple[list[Result], list[dict]]:
    """Autograde one student's notebooks; feedback and grade rows.

    Two runs per notebook, each in a course copy of its own: the scores come from ``course``
    (hidden tests included; its outputs are never shown), the feedback from ``visible`` (hidden
    tests removed before the kernel starts), with the scores of the first run. A tampered
    notebook scores 0. The kernels use the copy's data folder (COURSE_DATA_DIR).
    """
    api, folder = course.api(config), course.folder
    visible_api = visible.api(visible_tests_config(config))
    results = []
    for exercise, notebook in notebooks.items():
        with environment(COURSE_DATA_DIR=str(folder / "data" / "generated")):
            result = autograde(api, folder, student, exercise, notebook)
        with environment(COURSE_DATA_DIR=str(visible.folder / "data" / "generated")):
            shown = autograde(visible_api, visible.folder, student, exercise, notebook)
        result.seconds += shown.seconds
        result.tampered = tampering(notebook, folder / "solutions" / exercise)
        if result.tampered:
            zero_scores(api, student, exercise)
        results.append(result)
        autograded = folder / "autograded" / student / exercise / notebook.name
        shown_notebook = visible.folder / "autograded" / student / exercise / notebook.name
        if autograded.is_file():
            if shown_notebook.is_file():
                nbformat.write(with_hidden_failures(shown_notebook, autograded), autograded)
            else:  # the notebook ran for scoring but not for feedback: show its cells, unrun
                nbformat.write(without_outputs(autograded), autograded)
            outcome = api.generate_feedback(exercise, student, force=True)
            if not outcome["success"]:
                result.problems.append(f"no feedback: {failure(outcome)}")
    copy_feedback(folder / "feedback" / student, feedback)
    rows = export_grades(api, course.root / "grades.csv")
    scores = {row["assignment"]: row for row in rows}
    for result in results:
        result.score = float(scores[result.exercise]["score"] or 0)
        result.max_score = float(scores[result.exercise]["max_score"] or 0)
    tampered = {result.exercise: "; ".join(result.tampered) for result in results}
    for row in rows:
        row["tampered"] = tampered.get(row["assignment"], "")
    return results, rows


def tampering(notebook: Path, source: Path) -> list[str]:
    """What grading/tamper.py finds in a submitted notebook (nothing in an unreadable one)."""
    try:
        submitted = nbformat.read(notebook, as_version=4)
    except Exception:  # noqa: BLE001 (not a notebook: autograde reports it)
        return []
    return tamper.findings(submitted, nbformat.read(source / notebook.name, as_version=4))


def zero_scores(api: NbGraderAPI, student: str, exercise: str) -> None:
    """Every automatic grade of a student's exercise set to 0 in the gradebook."""
    with Gradebook(api.coursedir.db_url) as gradebook:
        for notebook in gradebook.find_assignment(exercise).notebooks:
            submission = gradebook.find_submission_notebook(notebook.name, exercise, student)
            for grade in submission.grades:
                grade.auto_score = 0
                grade.manual_score = None
        gradebook.db.commit()


def with_hidden_failures(shown: Path, scored: Path) -> nbformat.NotebookNode:
    """The feedback run's notebook, with a fixed notice on each test cell that passed there but
    failed in the scoring run (so a hidden test failed). Nothing of the scoring run is copied."""
    notebook = nbformat.read(shown, as_version=4)
    failed = {
        cell.metadata["nbgrader"]["grade_id"]
        for cell in nbformat.read(scored, as_version=4).cells
        if cell.metadata.get("nbgrader", {}).get("grade") and _has_error(cell)
    }
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in failed and not _has_error(cell):
            cell.outputs.append(
                nbformat.v4.new_output("error", ename="HiddenTestFailed", evalue="", traceback=[HIDDEN_FAILURE])
            )
    return notebook


def _has_error(cell: nbformat.NotebookNode) -> bool:
    return any(output.output_type == "error" for output in cell.get("outputs", []))


def without_outputs(path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    return notebook


def autograde(api: NbGraderAPI, folder: Path, student: str, exercise: str, notebook: Path) -> Result:
    """Submit one notebook into the course folder and autograde it, timed."""
    submitted = folder / "submitted" / student / exercise
    submitted.mkdir(parents=True)
    shutil.copy(notebook, submitted / notebook.name)
    result = Result(student, exercise)
    started = time.perf_counter()
    outcome = api.autograde(exercise, student, force=True, create=True)
    result.seconds = time.perf_counter() - started
    if not outcome["success"]:
        result.problems.append(f"autograde failed: {failure(outcome)}")
    result.problems += notebook_problems(folder / "autograded" / student / exercise / notebook.name)
    return result


@contextlib.contextmanager
def environment(**variables: str):
    """Set environment variables (seen by the kernels nbgrader starts), then restore them."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def failure(outcome: dict) -> str:
    """Why an nbgrader step failed: the last exception line of its log (nbgrader's own final
    error only says "see the above traceback"), else the last line of its traceback."""
    exception_lines = [
        line.strip() for line in outcome.get("log", "").splitlines() if EXCEPTION_LINE.match(line.strip())
    ]
    traceback_lines = [line.strip() for line in outcome.get("error", "").splitlines() if line.strip()]
    return (exception_lines or traceback_lines or ["no details"])[-1]


def notebook_problems(autograded: Path) -> list[str]:
    """One line per cell that ended in an error: its grade id (or number) and the error name."""
    if not autograded.is_file():
        return ["no autograded notebook"]
    problems = []
    for number, cell in enumerate(nbformat.read(autograded, as_version=4).cells, start=1):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                name = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {number}")
                problems.append(f"{name}: {output.ename}")
    return problems


def copy_feedback(source: Path, destination: Path) -> None:
    """Copy every feedback HTML file, keeping <exercise>/<file>.html."""
    for html in sorted(source.glob("*/*.html")):
        target = destination / html.parent.name / html.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(html, target)


def export_grades(api: NbGraderAPI, path: Path) -> list[dict]:
    """nbgrader's CSV export of one course copy, as rows."""
    with Gradebook(api.coursedir.db_url) as gradebook:
        CsvExportPlugin(to=str(path), parent=api).export(gradebook)
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def write_grades(rows: list[dict], out: Path) -> None:
    """One CSV with nbgrader's export columns, sorted by student then exercise."""
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda row: (row["student_id"], row["assignment"]))
    with out.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)


def print_summary(results: list[Result], out: Path, feedback: Path) -> None:
    """One line per graded notebook: score, time and the cells that failed."""
    for result in results:
        problems = "; ".join(result.problems) or "every cell ran"
        if result.tampered:
            problems = f"TAMPERED (scored 0): {'; '.join(result.tampered)}; {problems}"
        print(
            f"{result.student:<14} {result.exercise:<34} {result.score:g}/{result.max_score:g}"
            f"  {result.seconds:5.1f} s  {problems}"
        )
    print(f"grades: {out}\nfeedback: {feedback}/<student>/<exercise>/")


if __name__ == "__main__":
    sys.exit(main())
