"""Structural checks of the course notebooks in notebooks/ (every one, including those added later).

nbval (``make test``) re-runs each notebook and compares its outputs. These tests check what nbval
does not: the notebooks are numbered 01_, 02_, ... without gaps; each opens with a title and what the
learner will be able to do and ends with key takeaways; each is committed executed, top to bottom,
without errors or warnings; none downloads anything; each backs its numbers with asserts; each draws at
least one mermaid diagram and one figure, talks to the learner (not about its tests), hides the answer to
every "pause and predict" prompt behind a <details> reveal, and ends by pointing to its exercise with a
time budget.

Every check is a function returning a list of problems, tested on a good and on broken notebooks
built here, so a check that can never fail would show up.
"""

from __future__ import annotations

import copy
import itertools
import re
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOK_NAME = re.compile(r"^(\d{2})_[a-z0-9_]+\.ipynb$")
# "Near the top" / "near the end": within this many cells of the start / the end.
HEAD_CELLS = 3
TAIL_CELLS = 3
TITLE = re.compile(r"^# \S")
OBJECTIVES = re.compile(r"you will be able to|learning objectives", re.IGNORECASE)
TAKEAWAYS = re.compile(r"^#{1,6}\s*key takeaways", re.IGNORECASE | re.MULTILINE)
DOWNLOAD = re.compile(
    r"https?://"
    r"|\burllib\.request\b|\burllib2\b|\burllib3\b|\burlopen\b|\burlretrieve\b"  # urllib.parse is fine
    r"|^\s*(?:import|from)\s+requests\b"
    r"|\brequests\.(?:get|post|put|head|request|Session)\b"
    r"|\bwget\b|\bcurl\b"
    r"|\bpip\s+install\b",
    re.MULTILINE,
)
ASSERT = re.compile(r"^\s*assert\b", re.MULTILINE)
MERMAID = re.compile(r"^```mermaid\n(.*?)^```", re.MULTILINE | re.DOTALL)
# The diagram types the course uses; JupyterLab 4 renders them (mermaid 11).
MERMAID_TYPES = ("flowchart", "graph", "timeline", "gantt", "sequenceDiagram")
PREDICT = re.compile(r"pause and predict", re.IGNORECASE)
REVEAL = re.compile(r"<details>.*?</details>", re.DOTALL)
EXERCISE_LINK = re.compile(r"exercises/(\d{2}_[a-z0-9_]+)/")
TIME_BUDGET = re.compile(r"time budget\b.*?\b\d+ minutes", re.IGNORECASE | re.DOTALL)
# Talk about the course's own test machinery belongs in code comments or cell metadata, not in the lesson.
MAINTAINER_TALK = re.compile(
    r"\bnbval\b|\bpytest\b|when the notebook is tested|the course's tests|not (?:compared|checked) when",
    re.IGNORECASE,
)
WARNING = re.compile(r"\w*Warning\b")


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def numbering_problems(names: list[str]) -> list[str]:
    """Names must be NN_words.ipynb, numbered 01, 02, ... without gaps or repeats."""
    problems = [f"{name}: not named like 01_topic.ipynb" for name in names if not NOTEBOOK_NAME.match(name)]
    numbers = sorted(int(match[1]) for name in names if (match := NOTEBOOK_NAME.match(name)))
    expected = list(range(1, len(numbers) + 1))
    if numbers != expected:
        problems.append(f"notebook numbers {numbers}, expected {expected}")
    return problems


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "code" and cell.source.strip()]


def layout_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Title first, learning objectives near the top, key takeaways near the end."""
    problems = []
    first = nb.cells[0] if nb.cells else None
    if first is None or first.cell_type != "markdown" or not TITLE.match(first.source):
        problems.append("the first cell is not a markdown cell starting with a level-1 title ('# ...')")
    head = [cell.source for cell in nb.cells[:HEAD_CELLS] if cell.cell_type == "markdown"]
    if not any(OBJECTIVES.search(text) for text in head):
        problems.append(f"no 'you will be able to' / learning objectives in the first {HEAD_CELLS} cells")
    tail = [cell.source for cell in nb.cells[-TAIL_CELLS:] if cell.cell_type == "markdown"]
    if not any(TAKEAWAYS.search(text) for text in tail):
        problems.append(f"no 'Key takeaways' heading in the last {TAIL_CELLS} cells")
    return problems


def execution_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Committed executed top to bottom: counts present and increasing, no errors, no warnings."""
    problems = []
    counts = [cell.execution_count for cell in code_cells(nb)]
    if not counts or None in counts:
        problems.append("committed without outputs: some code cells have no execution_count")
    elif any(later <= earlier for earlier, later in itertools.pairwise(counts)):
        problems.append(f"execution counts not increasing (run it top to bottom): {counts}")
    for number, cell in enumerate(code_cells(nb), start=1):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                problems.append(f"code cell {number} stored an error: {output.ename}")
            elif output.output_type == "stream" and output.name == "stderr" and WARNING.search(output.text):
                problems.append(f"code cell {number} printed a warning: {output.text.strip()[:120]}")
    return problems


def download_problems(nb: nbformat.NotebookNode) -> list[str]:
    """The course runs offline: no URLs, HTTP clients or installers in code."""
    return [
        f"code cell {number} downloads or installs: {match[0]!r}"
        for number, cell in enumerate(code_cells(nb), start=1)
        if (match := DOWNLOAD.search(cell.source))
    ]


def assert_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Numbers quoted in the prose are backed by asserts in the code."""
    if any(ASSERT.search(cell.source) for cell in code_cells(nb)):
        return []
    return ["no assert statement: back the numbers the prose quotes with asserts"]


def markdown_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "markdown"]


def diagram_problems(nb: nbformat.NotebookNode) -> list[str]:
    """At least one mermaid diagram, each of a type the course's JupyterLab renders."""
    blocks = [block for cell in markdown_cells(nb) for block in MERMAID.findall(cell.source)]
    if not blocks:
        return ["no mermaid diagram: draw the argument (```mermaid in a markdown cell)"]
    return [
        f"mermaid diagram of unsupported type: {block.split()[0] if block.split() else '(empty)'!r}"
        for block in blocks
        if not block.split() or block.split()[0] not in MERMAID_TYPES
    ]


def figure_problems(nb: nbformat.NotebookNode) -> list[str]:
    """At least one stored figure (a PNG output)."""
    has_figure = any(
        "image/png" in output.get("data", {}) for cell in code_cells(nb) for output in cell.get("outputs", [])
    )
    return [] if has_figure else ["no figure: no code cell stores an image/png output"]


def predict_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Every "pause and predict" prompt gives the answer behind a <details> reveal."""
    return [
        f"markdown cell {number}: a 'pause and predict' prompt without a <details> reveal"
        for number, cell in enumerate(nb.cells)
        if cell.cell_type == "markdown" and PREDICT.search(cell.source) and not REVEAL.search(cell.source)
    ]


def maintainer_talk_problems(nb: nbformat.NotebookNode) -> list[str]:
    """The learner's text does not talk about how the course tests itself."""
    return [
        f"markdown cell {number} talks about the course's tests: {match[0]!r}"
        for number, cell in enumerate(nb.cells)
        if cell.cell_type == "markdown" and (match := MAINTAINER_TALK.search(cell.source))
    ]


def closing_problems(nb: nbformat.NotebookNode) -> list[str]:
    """The last cell points to the exercise (exercises/NN_name/) and states a time budget in minutes."""
    last = nb.cells[-1] if nb.cells else None
    text = last.source if last is not None and last.cell_type == "markdown" else ""
    if EXERCISE_LINK.search(text) and TIME_BUDGET.search(text):
        return []
    return ["the last cell does not point to the exercise (exercises/NN_name/) with a time budget in minutes"]


def kernel_problems(nb: nbformat.NotebookNode) -> list[str]:
    name = nb.metadata.get("kernelspec", {}).get("name")
    return [] if name == "python3" else [f"kernelspec is {name!r}, expected 'python3'"]


CHECKS = [
    layout_problems,
    execution_problems,
    download_problems,
    assert_problems,
    kernel_problems,
    diagram_problems,
    figure_problems,
    predict_problems,
    maintainer_talk_problems,
    closing_problems,
]


def all_problems(nb: nbformat.NotebookNode) -> list[str]:
    return [problem for check in CHECKS for problem in check(nb)]


# ---- the notebooks themselves ----


def test_there_are_notebooks() -> None:
    assert notebook_paths(), f"no notebooks in {NOTEBOOKS_DIR}"


def test_notebooks_are_numbered_in_order_without_gaps() -> None:
    assert numbering_problems([path.name for path in notebook_paths()]) == []


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda path: path.name)
def test_notebook_structure(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert all_problems(nb) == []


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda path: path.name)
def test_notebook_points_to_its_own_exercise(path: Path) -> None:
    """Exercise names match notebook names: the closing cell links this notebook's exercise (and may link
    another one, e.g. 07 the design exercise 09); every linked exercise exists."""
    links = set(EXERCISE_LINK.findall(nbformat.read(path, as_version=4).cells[-1].source))
    assert path.stem in links
    for name in links:
        assert (NOTEBOOKS_DIR.parent / "exercises" / name / f"{name}.ipynb").is_file(), name


# ---- the checks, on notebooks built here ----


def good_notebook() -> nbformat.NotebookNode:
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        v4.new_markdown_cell("# A lesson\n\nOne sentence.\n\n**You will be able to:**\n- do a thing"),
        v4.new_markdown_cell(
            "```mermaid\nflowchart LR\n    a --> b\n```\n\n**Pause and predict.** What is 1 + 1?\n\n"
            "<details><summary>Answer</summary>\n\n2\n\n</details>"
        ),
        v4.new_code_cell(
            "total = 1 + 1\nprint(total)\nassert total == 2",
            execution_count=1,
            outputs=[
                v4.new_output("stream", name="stdout", text="2\n"),
                v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}),
            ],
        ),
        v4.new_code_cell(
            "from urllib.parse import urlsplit  # parsing an address downloads nothing\n"
            "requests = ['a serving request']  # a variable name, not the library",
            execution_count=2,
        ),
        v4.new_markdown_cell("## Key takeaways\n\n- 1 + 1 is 2"),
        v4.new_markdown_cell(
            "## Next\n\n**Time budget:** about 40 minutes. Then open "
            "[the exercise](../exercises/01_a_lesson/01_a_lesson.ipynb)."
        ),
    ]
    return nb


def broken(change) -> nbformat.NotebookNode:
    nb = copy.deepcopy(good_notebook())
    change(nb)
    return nb


def test_a_good_notebook_has_no_problems() -> None:
    assert all_problems(good_notebook()) == []


def _set_source(index: int, source: str):
    return lambda nb: nb.cells[index].update(source=source)


BROKEN = {
    "title is level 2": (_set_source(0, "## A lesson\n\nYou will be able to: x"), "level-1 title"),
    "no objectives": (_set_source(0, "# A lesson\n\nRead on."), "learning objectives"),
    "no takeaways": (_set_source(4, "## Summary"), "Key takeaways"),
    "not executed": (lambda nb: nb.cells[3].update(execution_count=None), "without outputs"),
    "out of order": (lambda nb: nb.cells[3].update(execution_count=1), "not increasing"),
    "stored error": (
        lambda nb: nb.cells[2].outputs.append(v4.new_output("error", ename="AssertionError", evalue="", traceback=[])),
        "stored an error",
    ),
    "warning": (
        lambda nb: nb.cells[2].outputs.append(
            v4.new_output("stream", name="stderr", text="x.py:1: FutureWarning: soon")
        ),
        "printed a warning",
    ),
    "url": (_set_source(3, "frame = pl.read_csv('https://example.org/x.csv')"), "downloads"),
    "urllib": (_set_source(3, "import urllib.request"), "downloads"),
    "urlopen": (_set_source(3, "from urllib.request import urlopen"), "downloads"),
    "requests library": (_set_source(3, "import requests"), "downloads"),
    "requests call": (_set_source(3, "page = requests.get(address)"), "downloads"),
    "pip": (_set_source(3, "%pip install polars"), "downloads"),
    "shell": (_set_source(3, "!wget data.zip"), "downloads"),
    "no assert": (_set_source(2, "print(1 + 1)"), "no assert"),
    "no diagram": (
        _set_source(1, "**Pause and predict.** 1 + 1? <details>2</details>"),
        "no mermaid diagram",
    ),
    "unsupported diagram": (
        _set_source(1, "```mermaid\nmindmap\n  root\n```\nPause and predict <details>2</details>"),
        "unsupported type",
    ),
    "no figure": (lambda nb: nb.cells[2].outputs.pop(), "no figure"),
    "prompt without reveal": (
        _set_source(1, "```mermaid\nflowchart LR\n    a --> b\n```\n**Pause and predict.** What is 1 + 1?"),
        "without a <details> reveal",
    ),
    "test talk": (
        _set_source(4, "## Key takeaways\n\nThe output above is not compared when the notebook is tested."),
        "talks about the course's tests",
    ),
    "nbval talk": (
        _set_source(4, "## Key takeaways\n\nnbval skips this cell."),
        "talks about the course's tests",
    ),
    "no exercise link": (
        _set_source(5, "## Next\n\n**Time budget:** about 40 minutes."),
        "point to the exercise",
    ),
    "no time budget": (
        _set_source(5, "## Next\n\nOpen exercises/01_a_lesson/01_a_lesson.ipynb."),
        "time budget",
    ),
    "kernel": (lambda nb: nb.metadata["kernelspec"].update(name="venv-jo"), "kernelspec"),
}


@pytest.mark.parametrize("change, message", BROKEN.values(), ids=list(BROKEN))
def test_each_check_catches_its_problem(change, message: str) -> None:
    problems = all_problems(broken(change))
    assert len(problems) == 1 and message in problems[0], problems


@pytest.mark.parametrize(
    "names, problem",
    [
        (["01_a.ipynb", "03_c.ipynb"], "expected [1, 2]"),
        (["02_b.ipynb"], "expected [1]"),
        (["01_a.ipynb", "01_b.ipynb"], "expected [1, 2]"),
        (["01_a.ipynb", "scratch.ipynb"], "not named like"),
    ],
)
def test_numbering_catches_gaps_repeats_and_strays(names: list[str], problem: str) -> None:
    problems = numbering_problems(names)
    assert problems and problem in problems[0]
    assert numbering_problems(["01_a.ipynb", "02_b.ipynb"]) == []
