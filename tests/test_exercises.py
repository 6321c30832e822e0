"""The exercises: solutions/ is a valid nbgrader source, and exercises/ is generated from it.

exercises/ is never edited by hand: regenerating it from solutions/ (nbgrader generate_assignment,
with nbgrader_config.py) must give the committed notebooks, and they must show neither a solution
nor a single line of a hidden test. nbval runs the solutions themselves (`make test`), and
tests/test_grading.py autogrades them. Wrong answers that once passed (or that replay the course
notebook instead of applying it) are run against the tests that must now reject them.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

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


def is_autograded_test(cell: nbformat.NotebookNode) -> bool:
    return bool(nbgrader_meta(cell).get("grade")) and not nbgrader_meta(cell).get("solution")


def is_manually_graded(cell: nbformat.NotebookNode) -> bool:
    return bool(nbgrader_meta(cell).get("grade")) and bool(nbgrader_meta(cell).get("solution"))


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
    hidden = [line for cell in solution.cells for line in hidden_lines(cell.source, BEGIN_HIDDEN, END_HIDDEN)]
    assert hidden, f"solutions/{name} has no hidden tests"
    shown = [line for line in hidden if line in text]
    assert not shown, f"exercises/{name} shows hidden test lines: {shown}"
    assert all(cell.get("outputs", []) == [] for cell in exercise.cells if cell.cell_type == "code")


@pytest.mark.parametrize("name", NAMES)
def test_solution_cells_tests_and_points_follow_nbgrader(name):
    notebook = read(SOLUTIONS, name)
    ids = [nbgrader_meta(cell)["grade_id"] for cell in notebook.cells if nbgrader_meta(cell)]
    assert len(ids) == len(set(ids)), f"{name}: duplicate grade_id"
    tests = [cell for cell in notebook.cells if is_autograded_test(cell)]
    assert tests, f"{name}: no graded test cell"
    for cell in notebook.cells:
        meta = nbgrader_meta(cell)
        if "### BEGIN SOLUTION" in cell.source:
            assert meta.get("solution"), f"{name}: solution markers outside a solution cell"
        if BEGIN_HIDDEN in cell.source:
            assert is_autograded_test(cell), f"{name}: hidden tests outside a graded test cell"
        if is_autograded_test(cell):
            assert meta.get("points", 0) > 0 and meta.get("locked"), f"{name}: {meta['grade_id']}"
        if is_manually_graded(cell):  # an answer in prose, graded in nbgrader's formgrader
            assert cell.cell_type == "markdown" and meta.get("points", 0) > 0, meta["grade_id"]
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
    exec(compile(ast.Module([function], type_ignores=[]), "setup", "exec"), namespace)  # noqa: S102 (the course's own setup code)
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


# A wrong answer and the test cells that must reject it: exercise, {solution cell: code}, tests.
WRONG_ANSWERS = {
    # Made-up latencies with made-up timings to match: only a fresh measurement tells them apart.
    "07-made-up-latencies": (
        "07_evaluating_feature_stores",
        {
            "measure": "timings_ms = [float(v) for v in np.linspace(1.0, 2.0, 500)]\n"
            "measured_p50_ms, measured_p99_ms = (float(v) for v in np.percentile(timings_ms, [50, 99]))"
        },
        {"test-measure"},
    ),
}


def run_with(name: str, code: dict[str, str], last_cell: str) -> dict[str, str]:
    """Run a solution notebook with some solution cells replaced, up to `last_cell`, hidden tests
    included; return the error name of each graded cell that failed."""
    notebook = read(SOLUTIONS, name)
    ids = [nbgrader_meta(cell).get("grade_id") for cell in notebook.cells]
    notebook.cells = notebook.cells[: ids.index(last_cell) + 1]
    for cell in notebook.cells:
        if nbgrader_meta(cell).get("grade_id") in code:
            cell.source = code[nbgrader_meta(cell)["grade_id"]]
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(SOLUTIONS / name)}},
    ).execute()
    return {
        nbgrader_meta(cell)["grade_id"]: output.ename
        for cell in notebook.cells
        if nbgrader_meta(cell).get("grade")
        for output in cell.outputs
        if output.output_type == "error"
    }


@pytest.mark.parametrize("case", WRONG_ANSWERS)
def test_wrong_answers_fail_their_tests(case):
    name, code, must_fail = WRONG_ANSWERS[case]
    last = [nbgrader_meta(cell).get("grade_id") for cell in read(SOLUTIONS, name).cells]
    failed = run_with(name, code, max(must_fail, key=last.index))
    assert must_fail <= set(failed), f"{case}: {sorted(must_fail - set(failed))} passed"


WRONG_ANSWERS["03-event-time-only-join"] = (
    "03_point_in_time_correctness",
    {
        "pit-join": """def point_in_time_join(labels, user_stats):  # notebook 03 section 2, replayed
    features = user_stats.drop("created_timestamp").rename({"event_timestamp": "feature_timestamp"})
    return (
        labels.with_row_index("_label").sort("event_timestamp")
        .join_asof(features.sort("feature_timestamp"), left_on="event_timestamp",
                   right_on="feature_timestamp", by="user_id", check_sortedness=False)
        .sort("_label").drop("_label")
    )"""
    },
    {"test-pit-join-example", "test-training"},
)


# The quiz: lettered questions, each followed by one with a number taken from a course notebook.
QUESTION = re.compile(r"\*\*Question (\d+)\.\*\*")
OPTION = re.compile(r"^- \*\*([A-D])\.\*\* (.+?)(?=^- \*\*[A-D]\.\*\*|\Z)", re.MULTILINE | re.DOTALL)
# (exercise, answer variable): the course notebook that prints it, and how to read it there.
QUIZ_NUMBERS = {
    ("01_training_serving_skew", "answer_q1_flips"): ("01_training_serving_skew", r"decisions flipped at 50%: (\d+)"),
    ("01_training_serving_skew", "answer_q2_age_hours"): (
        "07_evaluating_feature_stores",
        r"age of the served values at 01:30, in hours: \[([\d.]+)\]",
    ),
    ("01_training_serving_skew", "answer_q3_age_hours"): (
        "07_evaluating_feature_stores",
        r"users get values, aged \[([\d.]+)\] hours",
    ),
    ("03_point_in_time_correctness", "answer_q1_inflation"): (
        "03_point_in_time_correctness",
        r"inflation from leakage:\s+\+([\d.]+)",
    ),
}


def assigned(notebook: nbformat.NotebookNode, variable: str):
    """The value a solution cell assigns to `variable`."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and nbgrader_meta(cell).get("solution"):
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == variable:
                    return ast.literal_eval(node.value)
    raise KeyError(variable)


def quiz(name: str) -> list[dict]:
    """Each lettered question of an exercise: its options (letter -> text) and its answer."""
    notebook = read(SOLUTIONS, name)
    questions = []
    for cell in notebook.cells:
        found = QUESTION.search(cell.source) if cell.cell_type == "markdown" else None
        if found:
            options = {letter: " ".join(text.split()) for letter, text in OPTION.findall(cell.source)}
            answer = assigned(notebook, f"answer_q{found.group(1)}")
            questions.append({"name": f"{name} Q{found.group(1)}", "options": options, "answer": answer})
    return questions


def correct_is_longest(questions: list[dict]) -> list[str]:
    """The questions whose correct option is (one of) the longest."""
    return [
        question["name"]
        for question in questions
        if len(question["options"][question["answer"]]) == max(map(len, question["options"].values()))
    ]


QUIZ = [question for name in NAMES for question in quiz(name)]


def test_the_quiz_has_four_options_per_question():
    assert len(QUIZ) >= 4
    for question in QUIZ:
        assert sorted(question["options"]) == ["A", "B", "C", "D"], question["name"]
        assert question["answer"] in question["options"], question["name"]


def test_quiz_options_are_of_similar_length():
    for question in QUIZ:
        lengths = sorted(map(len, question["options"].values()))
        assert lengths[-1] <= 1.25 * lengths[0], f"{question['name']}: option lengths {lengths}"


def test_the_correct_option_is_not_the_longest_in_most_questions():
    longest = correct_is_longest(QUIZ)
    assert len(longest) <= len(QUIZ) // 2, f"the correct option is the longest in {longest}"


def test_the_length_check_catches_a_quiz_that_gives_itself_away():
    padded = [
        {
            "name": f"Q{n}",
            "answer": "B",
            "options": {"A": "short", "B": "the long, careful, right one", "C": "shorter", "D": "brief"},
        }
        for n in range(3)
    ]
    assert correct_is_longest(padded) == ["Q0", "Q1", "Q2"]


def test_each_lettered_question_is_followed_by_a_numeric_one():
    for name in NAMES:
        text = "\n".join(cell.source for cell in read(SOLUTIONS, name).cells)
        for number in QUESTION.findall(text):
            assert f"**Question {number}b.**" in text, f"{name}: question {number} has no numeric follow-up"
    assert {name for name, _ in QUIZ_NUMBERS} == {q["name"].split()[0] for q in QUIZ}


@pytest.mark.parametrize("exercise, variable", QUIZ_NUMBERS)
def test_numeric_answers_are_the_numbers_the_notebooks_print(exercise, variable):
    notebook_name, pattern = QUIZ_NUMBERS[exercise, variable]
    course = nbformat.read(ROOT / "notebooks" / f"{notebook_name}.ipynb", as_version=4)
    printed = "\n".join(
        output.get("text", "") for cell in course.cells if cell.cell_type == "code" for output in cell.outputs
    )
    found = re.search(pattern, printed)
    assert found, f"notebooks/{notebook_name} no longer prints {pattern!r}: update the quiz of {exercise}"
    assert float(found.group(1)) == assigned(read(SOLUTIONS, exercise), variable), (
        f"{exercise}: {variable} differs from what notebooks/{notebook_name} prints"
    )


WRONG_ANSWERS.update(
    {
        # Notebook 05's own fixes, replayed: the next release's relabelling and basket_trend defeat them.
        "05-notebook-tier-fix": (
            "05_detecting_skew_with_skewcheck",
            {
                "fix-tier": 'def fix_tier(log, user_stats):\n    return log.with_columns(pl.col("tier").str.to_lowercase())'
            },
            {"test-fix-tier"},
        ),
        "05-notebook-window-fix": (
            "05_detecting_skew_with_skewcheck",
            {
                "fix-derived": "def fix_derived(log):\n    count = pl.col('purchases_30d')\n"
                "    return log.with_columns(avg_amount_30d=pl.when(count > 0)"
                ".then(pl.col('amount_sum_30d') / count))"
            },
            {"test-fix-derived"},
        ),
        # Overwriting the served tier with the feature table's erases what was really served.
        "05-tier-by-lookup": (
            "05_detecting_skew_with_skewcheck",
            {
                "fix-tier": "def fix_tier(log, user_stats):\n"
                "    looked_up = log.select(KEYS).with_row_index('_r').sort('event_timestamp').join_asof(\n"
                "        user_stats.select(*KEYS, 'tier').sort('event_timestamp'), on='event_timestamp',\n"
                "        by='user_id', check_sortedness=False).sort('_r')\n"
                "    return log.with_columns(tier=looked_up['tier'])"
            },
            {"test-fix-tier"},
        ),
    }
)
