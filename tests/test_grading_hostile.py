"""A hostile class graded next to honest students, with the real sandbox (bubblewrap).

One grading run (module fixture) on exercise 02: students who read the hidden tests and print
them encoded, write outside their copy and leave detached processes, rig the tests (an input
transformer, a monkeypatched helper), exhaust the machine (30 GB, 100 MB of output, SIGINT
ignored, os._exit), and honest ones (one whose correct answer warns). Then: scores against a
blank submission and against the honest student graded alone, the trees around the run
byte-identical, no hidden line in any feedback in any encoding, no process left.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import csv
import hashlib
import html
import io
import re
from pathlib import Path

import nbformat
import pytest
from test_grading import PATTERNS, SOLUTIONS, points_of, solution_code, submit, tree_digest

from grading import grade
from grading.feedback import hidden_lines
from grading.sandbox import sandbox_problem

NO_SANDBOX = sandbox_problem()
pytestmark = pytest.mark.skipif(NO_SANDBOX is not None, reason=f"no sandbox here: {NO_SANDBOX}")

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 20  # seconds: what the student who ignores SIGINT costs, twice
MARKER = "hostile-class-marker"  # in the command line of every process an attacker starts
SOLVED = solution_code(PATTERNS)

# Prints, base64- and hex-encoded and with non-breaking spaces, every file it can find that
# might hold hidden tests, and its own In history (run in the last cell, after every test).
READ_EVERYTHING = r"""
import base64, glob, os
print("history", base64.b64encode("\n".join(In).encode()).decode())
targets = ["../../../solutions", "../../../../gradebook.db", ROOT_FOLDER + "/solutions",
           ROOT_FOLDER + "/grading", "/tmp", os.path.expanduser("~")]
found = []
for target in targets:
    for path in glob.glob(target + "/**/*", recursive=True) + [target]:
        if os.path.isfile(path) and (path.endswith((".ipynb", ".db", ".py")) or "grade" in path):
            try:
                found.append((path, open(path, "rb").read()))
            except OSError:
                pass
for path, data in found:
    print(path, base64.b64encode(data).decode(), data.hex(), data.decode("utf-8", "replace").replace(" ", "\u00a0"))
"""

# Writes into every folder it can reach outside its copy, and leaves processes behind: twenty
# sleepers and one that would rewrite the grades after grading.
VANDALISE = r"""
import glob, os, subprocess
for folder in [SUBMISSIONS_FOLDER, OUT_FOLDER, ROOT_FOLDER + "/solutions", "/tmp", "../../../source"]:
    for path in glob.glob(folder + "/**/", recursive=True)[:200] + glob.glob(folder + "/**/*.ipynb", recursive=True):
        try:
            if path.endswith(".ipynb"):
                open(path, "w").write("{}")
            else:
                open(os.path.join(path, "pwned-by-vandal"), "w").write("pwned")
        except OSError:
            pass
for _ in range(20):
    subprocess.Popen(["sh", "-c", "sleep 900; : MARKER"], start_new_session=True)
subprocess.Popen(["sh", "-c", "sleep 5; echo forged > OUT_FOLDER/grades.csv; : MARKER"],
                 start_new_session=True)
""".replace("MARKER", MARKER)

# Every later cell, hidden tests included, becomes `pass`; and allclose always agrees.
RIG = """
import numpy as np
np.allclose = lambda *a, **k: True
get_ipython().input_transformers_cleanup.append(lambda lines: ["pass\\n"])
"""

HOG_CELLS = [
    "import numpy as np\nhuge = np.ones(30 * 10**9 // 8)  # 30 GB",
    "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.1)",
    "import os\nos._exit(3)",
]
WARN = """
import warnings
{solution}
_solution = add_time_of_day
def add_time_of_day(purchases):
    warnings.warn("this answer is correct but slow", UserWarning, stacklevel=2)
    return _solution(purchases)
"""


def with_cells(notebook_path: Path, after_setup=(), at_end=()) -> None:
    """Add student cells to a submitted notebook: after the setup cell, and at the end."""
    notebook = nbformat.read(notebook_path, as_version=4)
    new = [nbformat.v4.new_code_cell(source) for source in after_setup]
    notebook.cells[2:2] = new
    notebook.cells += [nbformat.v4.new_code_cell(source) for source in at_end]
    nbformat.write(notebook, notebook_path)


def notebook_of(folder: Path, student: str) -> Path:
    return folder / student / PATTERNS / f"{PATTERNS}.ipynb"


def run_grading(submissions: Path, out: Path) -> dict:
    console = io.StringIO()
    arguments = [str(submissions), "--out", str(out / "grades.csv"), "--jobs", "2"]
    with contextlib.redirect_stdout(console):
        status = grade.main([*arguments, "--timeout", str(CELL_TIMEOUT)])
    with (out / "grades.csv").open(newline="") as file:
        rows = {row["student_id"]: row for row in csv.DictReader(file) if row["assignment"] == PATTERNS}
    return {"status": status, "rows": rows, "console": console.getvalue()}


def instructor_tree() -> str:
    """A digest of the repository's own files (not the environment, data or caches)."""
    skip = {".venv", ".git", "data", "out", "__pycache__", ".pytest_cache"}
    digest = []
    for path in sorted(ROOT.rglob("*")):
        if path.is_file() and not skip & set(path.relative_to(ROOT).parts):
            digest.append(f"{path.relative_to(ROOT)}:{hashlib.sha256(path.read_bytes()).hexdigest()}")
    return "\n".join(digest)


def marked_processes() -> list[str]:
    """Command lines of live processes an attacker or a sandboxed kernel of this run started."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if MARKER in command or "skewcheck-kernel-" in command:
            found.append(command)
    return found


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("submissions")
    out = tmp_path_factory.mktemp("out")
    places = {
        "SUBMISSIONS_FOLDER": repr(str(submissions)),
        "OUT_FOLDER": repr(str(out)),
        "ROOT_FOLDER": repr(str(ROOT)),
    }
    submit(submissions, "honest", PATTERNS, code=SOLVED)
    submit(submissions, "blank", PATTERNS)
    submit(
        submissions,
        "warner",
        PATTERNS,
        code={**SOLVED, "time-of-day": WARN.format(solution=SOLVED["time-of-day"])},
    )
    submit(submissions, "reader", PATTERNS)
    with_cells(notebook_of(submissions, "reader"), at_end=[_fill(READ_EVERYTHING, places)])
    submit(
        submissions,
        "vandal",
        PATTERNS,
        code={**SOLVED, "time-of-day": SOLVED["time-of-day"] + "\n" + _fill(VANDALISE, places)},
    )
    submit(submissions, "rigger", PATTERNS)
    with_cells(notebook_of(submissions, "rigger"), after_setup=[RIG])
    submit(
        submissions,
        "hog",
        PATTERNS,
        code={**SOLVED, "rolling-count": SOLVED["rolling-count"] + '\nprint("x" * 100_000_000)'},
    )
    with_cells(notebook_of(submissions, "hog"), after_setup=HOG_CELLS)

    alone_submissions = tmp_path_factory.mktemp("alone")
    submit(alone_submissions, "honest", PATTERNS, code=SOLVED)

    before = {"submissions": tree_digest(submissions), "instructor": instructor_tree()}
    graded = run_grading(submissions, out)
    graded["processes_after"] = marked_processes()
    graded["alone"] = run_grading(alone_submissions, tmp_path_factory.mktemp("alone_out"))
    graded["unchanged"] = {
        "submissions": tree_digest(submissions) == before["submissions"],
        "instructor": instructor_tree() == before["instructor"],
    }
    graded["out"] = out
    graded["feedback"] = out / "feedback"
    return graded


def _fill(code: str, places: dict[str, str]) -> str:
    for name, value in places.items():
        code = code.replace(name, value)
    return code


def score(hostile, student: str) -> float:
    return float(hostile["rows"][student]["score"])


FULL = sum(points_of(PATTERNS).values()) if (SOLUTIONS / PATTERNS).is_dir() else 0


def test_the_run_completes(hostile):
    assert hostile["status"] == 0


def test_honest_students_score_as_when_graded_alone(hostile):
    assert score(hostile, "honest") == float(hostile["alone"]["rows"]["honest"]["score"]) == FULL


def test_a_correct_answer_that_warns_gets_full_marks(hostile):
    assert score(hostile, "warner") == FULL
    page = hostile["feedback"] / "warner" / PATTERNS / f"{PATTERNS}.html"
    assert "this answer is correct but slow" in page.read_text()  # it did warn, in a test cell


@pytest.mark.parametrize("student", ["reader", "rigger"])
def test_an_attacker_who_solved_nothing_scores_as_a_blank(hostile, student):
    assert score(hostile, student) <= score(hostile, "blank") == 0


def test_attacks_on_the_machine_fail_alone_and_the_rest_scores(hostile):
    assert score(hostile, "vandal") == FULL  # it solved everything, then vandalised
    assert score(hostile, "hog") == FULL  # every answer right, between its three attacks
    line = next(row for row in hostile["console"].splitlines() if row.startswith("hog "))
    assert "cell 3: MemoryError" in line
    assert "cell 4: KernelUnresponsive" in line and "cell 5: KernelDied" in line


def test_tampering_is_flagged_and_only_tampering(hostile):
    flagged = {student for student, row in hostile["rows"].items() if row["tampered"]}
    assert flagged == {"rigger"}
    assert "uses get_ipython" in hostile["rows"]["rigger"]["tampered"]
    assert "assigns the attribute np.allclose" in hostile["rows"]["rigger"]["tampered"]


def test_submissions_and_the_instructors_tree_are_untouched(hostile):
    assert hostile["unchanged"] == {"submissions": True, "instructor": True}
    assert not list(hostile["out"].rglob("pwned-by-vandal"))
    assert "forged" not in (hostile["out"] / "grades.csv").read_text()


def test_no_process_of_the_run_survives_it(hostile):
    assert hostile["processes_after"] == []


def all_hidden_lines() -> list[str]:
    """Every hidden test line of every exercise, whitespace normalised."""
    return [
        normalise(line)
        for path in sorted(SOLUTIONS.glob("*/*.ipynb"))
        for cell in nbformat.read(path, as_version=4).cells
        for line in hidden_lines(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
        if len(line) >= 8
    ]


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


def decoded_views(text: str) -> list[str]:
    """The text, and every base64 or hex token in it decoded."""
    views = [text]
    for token in re.findall(r"[A-Za-z0-9+/=]{16,}", text):
        with contextlib.suppress(binascii.Error, ValueError):
            views.append(base64.b64decode(token + "=" * (-len(token) % 4)).decode("utf-8", "replace"))
        with contextlib.suppress(ValueError):
            views.append(bytes.fromhex(token).decode("utf-8", "replace"))
    return [normalise(view) for view in views]


def test_no_feedback_carries_a_hidden_line_in_any_encoding(hostile):
    hidden = all_hidden_lines()
    pages = sorted(hostile["feedback"].rglob("*.html"))
    assert {page.parent.parent.name for page in pages} >= {"reader", "hog", "rigger", "honest"}
    for page in pages:
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        views = decoded_views(text)
        leaked = [line for line in hidden if any(line in view for view in views)]
        assert not leaked, f"{page}: {leaked[:3]}"


def test_the_readers_feedback_shows_what_it_could_see(hostile):
    page = hostile["feedback"] / "reader" / PATTERNS / f"{PATTERNS}.html"
    text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
    assert "history " in text  # its last cell ran and printed (only visible tests to print)
    assert "solutions/02_feature_engineering_patterns" not in text


def test_feedback_output_is_capped(hostile):
    page = hostile["feedback"] / "hog" / PATTERNS / f"{PATTERNS}.html"
    assert page.stat().st_size < 3 * 1024**2  # the 100 MB print, capped at 1 MB
    assert "output truncated" in page.read_text()
