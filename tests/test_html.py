"""The HTML report: residual figures that show a bug's shape, a failed figure as a note, and a size
that stays small for wide inputs. tests/test_report_browser.py opens it in a real browser."""

from __future__ import annotations

import math
import re

import numpy as np
import polars as pl
from matplotlib.figure import Figure

import skewcheck
from skewcheck import (
    Cause,
    Diagnosis,
    FeatureResult,
    Histogram,
    NullRates,
    Reason,
    SkewReport,
    ValueResult,
    Verdict,
)
from skewcheck._render.html import MAX_PLOTTED_FEATURES, _draw_residuals

NULLS = NullRates(0.0, 0.0)


def _residuals(sample, *, ratio: bool) -> list[float]:
    ax = Figure().subplots()
    _draw_residuals(ax, sample, ratio=ratio)
    return ax.collections[0].get_offsets()[:, 1].tolist()


def test_residuals_show_rounding_as_steps_an_offset_as_a_constant_and_a_scale_as_a_ratio():
    offline = [0.12, 0.49, 1.51, 2.26]
    rounded = _residuals([(x, round(x)) for x in offline], ratio=False)
    assert rounded == [round(x) - x for x in offline]  # within half a unit: steps, not a diagonal
    assert _residuals([(x, x + 3.0) for x in offline], ratio=False) == [3.0] * 4
    assert _residuals([(x, x * 100) for x in offline] + [(0.0, 0.0)], ratio=True) == [
        y / x for x, y in ((x, x * 100) for x in offline)
    ]  # offline 0 has no ratio


def test_a_null_fill_is_a_column_at_the_fill_value():
    nan = float("nan")
    sample = [(1.0, 1.0), (2.0, 2.0), (5.0, 5.0), (nan, -1.0), (nan, -1.0), (nan, -1.0)]
    ax = Figure().subplots()
    _draw_residuals(ax, sample, ratio=False)
    agreeing, filled = (c.get_offsets() for c in ax.collections)
    assert agreeing[:, 1].tolist() == [0.0, 0.0, 0.0]
    assert filled[:, 1].tolist() == [-1.0, -1.0, -1.0] and len(set(filled[:, 0].tolist())) == 1
    assert filled[0, 0] < 1.0  # left of every offline value


def test_the_sample_keeps_null_offline_pairs_for_the_figure():
    offline = pl.DataFrame({"k": range(6), "x": [1.0, 2.0, None, None, float("nan"), 4.0]})
    online = pl.DataFrame({"k": range(6), "x": [1.0, 2.0, -1.0, -1.0, 3.0, None]})
    sample = skewcheck.compare(offline, online, keys="k")["x"].values.sample
    assert sorted((y for x, y in sample if math.isnan(x))) == [-1.0, -1.0]
    assert sorted(sample, key=lambda p: p[0] if not math.isnan(p[0]) else -9)[-2:] == [(1.0, 1.0), (2.0, 2.0)]


def _feature(name: str, verdict: Verdict, *, histogram: Histogram | None = None, mismatched: int = 0) -> FeatureResult:
    values = ValueResult(1_000_000, mismatched, 0, 0, 1.0, sample=tuple((float(i), float(i) * 2) for i in range(200)))
    return FeatureResult(
        name=name,
        verdict=verdict,
        dtype_offline="Float64",
        dtype_online="Float64",
        kind="numeric",
        nulls=NULLS,
        values=values,
        reasons=(Reason.VALUES,) if verdict is Verdict.SKEW else (),
        histogram=histogram,
        diagnosis=Diagnosis(Cause.SCALE, "online = offline × 2") if verdict is Verdict.SKEW else None,
    )


def test_a_figure_that_cannot_be_drawn_is_a_note():
    broken = Histogram(
        "numeric", edges=[0.0, 1.0], categories=[], offline=[1, 2, 3], online=[1], offline_other=0, online_other=0
    )
    report = SkewReport(passed=False, features=(_feature("x", Verdict.SKEW, histogram=broken, mismatched=5),))
    html = report.to_html()
    assert "the figures could not be drawn (ValueError" in html and "<img" not in html


def test_500_features_make_a_report_of_a_few_mb_with_figures_for_the_most_skewed():
    edges = np.linspace(0, 1, 31).tolist()
    hist = Histogram(
        "numeric",
        edges=edges,
        categories=[],
        offline=list(range(30)),
        online=list(range(30, 0, -1)),
        offline_other=0,
        online_other=0,
    )
    skewed = [_feature(f"skewed_{i}", Verdict.SKEW, histogram=hist, mismatched=10) for i in range(100)]
    clean = [_feature(f"clean_{i}", Verdict.OK) for i in range(400)]
    html = SkewReport(passed=False, features=(*skewed, *clean)).to_html()

    assert len(html.encode()) < 5_000_000
    assert html.count("<img") == MAX_PLOTTED_FEATURES
    assert all(f">clean_{i}<" in html for i in range(400))  # in the table...
    assert len(re.findall(r'<div class="feature"', html)) == 100  # ...but only flagged ones get a section
    assert html.count('href="#feature-') == 100


def test_a_drift_only_feature_gets_its_distribution_figure():
    rng = np.random.default_rng(0)
    offline = pl.DataFrame({"k": np.arange(4_000), "x": rng.normal(0, 1, 4_000)})
    online = offline.filter(pl.col("x") > 0.5)  # the same values for the rows served, but not the same rows
    report = skewcheck.compare(offline, online, keys="k")
    assert report["x"].verdict is Verdict.DRIFT and report["x"].histogram is not None
    section = report.to_html().split('<div class="feature"')[1]
    assert 'x <span class="drift">drifted</span>' in section and "<img" in section
