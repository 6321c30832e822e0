"""nbgrader configuration for the course (nbgrader 0.9.6). Read by every `nbgrader` command run
from this folder; `grading/grade.py` runs them from here too, on a temporary copy of the course.

Layout: solutions/<exercise>/<exercise>.ipynb is the source; exercises/ is generated from it
(`make exercises`); the gradebook lives in grading/out/ (git-ignored). See grading/README.md.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # so that `grading` (the feedback preprocessor) is importable

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)

from grading.execute import GuardedExecute
from grading.feedback import ScrubHiddenTests

CELL_TIMEOUT_SECONDS = 120

c = get_config()  # noqa: F821 (injected by traitlets)

c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
(HERE / "grading" / "out").mkdir(parents=True, exist_ok=True)
c.CourseDirectory.db_url = f"sqlite:///{HERE / 'grading' / 'out' / 'gradebook.db'}"

# Autograding: every cell gets a time limit; a cell that runs over it is interrupted, marked with
# the message below, and the cells after it still run.
c.Execute.timeout = CELL_TIMEOUT_SECONDS
c.Execute.interrupt_on_timeout = True
c.Execute.error_on_timeout = {
    "ename": "CellTimeoutError",
    "evalue": "",
    "traceback": [
        (
            "CellTimeoutError: this cell ran past the time limit and was stopped "
            "(an infinite loop?). The cells after it were still run and graded."
        )
    ],
}
# Autograding runs each kernel in a sandbox (grading/sandbox.py) through GuardedExecute: nbgrader's
# Execute with capped outputs, a restart when a cell kills or deafens its kernel, and stderr that
# costs no points (grading/execute.py). The other steps are nbgrader's defaults.
c.Autograde.autograde_preprocessors = [
    GuardedExecute,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
# A test cell deleted from a submission is put back (and fails) instead of being skipped.
c.OverwriteCells.add_missing_cells = True

# Feedback: nbgrader's default steps plus ScrubHiddenTests, so that no hidden test (source or
# traceback) reaches a student.
c.GenerateFeedback.preprocessors = [GetGrades, ScrubHiddenTests, CSSHTMLHeaderPreprocessor]
