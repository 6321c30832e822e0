"""grading/tamper.py on every exercise: honest code is never flagged, each tampering construct is."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest

from grading.tamper import findings

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*/*.ipynb"))
PATTERNS = ROOT / "solutions" / "02_feature_engineering_patterns" / "02_feature_engineering_patterns.ipynb"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda path: path.parent.name)
def test_solutions_and_released_exercises_are_not_flagged(solution):
    source = nbformat.read(solution, as_version=4)
    released = ROOT / "exercises" / solution.parent.name / solution.name
    assert findings(source, source) == []
    assert findings(nbformat.read(released, as_version=4), source) == []


def with_cell(code: str) -> list[str]:
    source = nbformat.read(PATTERNS, as_version=4)
    submitted = copy.deepcopy(source)
    submitted.cells.append(nbformat.v4.new_code_cell(code))
    return findings(submitted, source)


@pytest.mark.parametrize(
    ("code", "finding"),
    [
        ('get_ipython().input_transformers_cleanup.append(lambda l: ["pass\\n"])', "get_ipython"),
        ("get_ipython().ast_transformers.append(object())", "get_ipython"),
        ("get_ipython().set_custom_exc((Exception,), print)", "get_ipython"),
        ("!echo hi", "get_ipython"),
        ("%load_ext something", "get_ipython"),
        ("import builtins\nbuiltins.len = lambda x: 0", "imports builtins"),
        ("np.allclose = lambda *a, **k: True", "assigns the attribute np.allclose"),
        ("helper = np\nhelper.isnan = abs", "assigns the attribute helper.isnan"),
        ("isinstance = lambda *a: True", "rebinds isinstance"),
        ("import pandas as np", "rebinds np"),
        ("def f():\n    global DATA\n    DATA = 1", "declares DATA global"),
        ("exec('x = 1')", "uses exec"),
        ("globals()['np'] = None", "uses globals"),
        ("x = getattr(np, '__dict__')", "getattr"),
        ("np.__dict__['allclose'] = 1", "reaches into __dict__"),
        ("import sys\nsys.excepthook = print", "imports sys"),
        ("from unittest import mock", "imports unittest"),
        ("from numpy import *", "imports * from numpy"),
        ("import helper_i_wrote", "does not have"),
    ],
)
def test_each_tampering_construct_is_flagged(code, finding):
    assert any(finding in line for line in with_cell(code)), with_cell(code)


@pytest.mark.parametrize(
    "code",
    [
        "import numpy as np\nimport polars as pl\nfrom datetime import datetime, timedelta",
        "%time total = 1 + 1",
        "import warnings, base64, os, subprocess\nwarnings.warn('slow')",
        "class Box:\n    def __init__(self):\n        self.value = 1",
        "values = [n for n in range(3)]\nname = getattr(pl, 'col')",
    ],
)
def test_ordinary_code_is_not_flagged(code):
    assert with_cell(code) == []
