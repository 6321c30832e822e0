"""Skew day by day: the JSON reports of repeated runs, read back and lined up per feature.

`read_trend` reads reports of ``schema_version`` 1 and 2. Version 2 gives each feature a
``verdict`` ("ok", "skew", "drift"); for version 1 it is derived the way version 2 defines it:
``skewed`` is "skew", else a drifted distribution is "drift", else "ok". A report of another
version is refused with the file's name; reports over different feature sets or keys are lined up
anyway, with a warning naming what differs, and a feature a run lacks shows as absent.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import polars as pl

from ._errors import SkewcheckInputError
from ._io import write_atomically

SUPPORTED_SCHEMA_VERSIONS = (1, 2)
VERDICTS = ("ok", "drift", "skew")


@dataclass(frozen=True)
class TrendPoint:
    """One feature in one run."""

    run: str
    feature: str
    verdict: str  # "ok", "drift" or "skew"
    mismatch_rate: float | None  # None without keys
    statistic: float | None
    threshold: float | None  # of the statistic, or of the p-value for a test that has one
    p_value: float | None
    test: str | None
    cause: str | None

    @property
    def drift_score(self) -> float | None:
        """How far past its drift threshold the test is: 1 at the threshold, above 1 = drift.
        statistic / threshold for a distance; log(p) / log(threshold) for a p-value test."""
        if self.threshold is None or self.threshold <= 0:
            return None
        if self.p_value is not None:
            return math.log(max(self.p_value, 1e-300)) / math.log(self.threshold) if self.threshold < 1 else None
        return None if self.statistic is None else self.statistic / self.threshold


@dataclass(frozen=True)
class Trend:
    """The runs in the order given, whether each passed, and one point per feature and run."""

    runs: tuple[str, ...]
    passed: tuple[bool, ...]
    features: tuple[str, ...]
    points: tuple[TrendPoint, ...]
    warnings: tuple[str, ...] = ()

    @property
    def last_passed(self) -> bool:
        return self.passed[-1]

    def point(self, run: str, feature: str) -> TrendPoint | None:
        return next((p for p in self.points if p.run == run and p.feature == feature), None)

    def first_skew(self, feature: str) -> str | None:
        """The first run in which `feature` is skewed (the day a bug starts), or None."""
        return next((p.run for p in self.points if p.feature == feature and p.verdict == "skew"), None)

    def to_polars(self) -> pl.DataFrame:
        """One row per feature and run: verdict, mismatch rate, the test's numbers, cause, drift score."""
        schema = {
            "run": pl.String,
            "feature": pl.String,
            "verdict": pl.String,
            "mismatch_rate": pl.Float64,
            "statistic": pl.Float64,
            "threshold": pl.Float64,
            "test": pl.String,
            "cause": pl.String,
        }
        return pl.DataFrame([p.__dict__ for p in self.points], schema=schema, orient="row")

    def renderable(self):
        """A rich table: one row per run (time goes down the page), one column per feature,
        then a row with each feature's first skewed run."""
        from rich.console import Group
        from rich.table import Table

        table = Table(title="skewcheck trend: verdict, mismatch rate (drift statistic, or p)")
        table.add_column("run", no_wrap=True)
        table.add_column("passed")
        for feature in self.features:
            table.add_column(feature, justify="right", no_wrap=True)
        for run, passed in zip(self.runs, self.passed):
            cells = [_cell(self.point(run, feature)) for feature in self.features]
            table.add_row(run, "yes" if passed else "NO", *cells)
        table.add_section()
        table.add_row("first skew", "", *(self.first_skew(f) or "-" for f in self.features))
        return Group(table, *(f"warning: {w}" for w in self.warnings))

    def to_html(self, path: str | os.PathLike | None = None) -> str:
        """A self-contained page: the table and a plot per measure; written atomically to `path`."""
        head = "".join(f"<th>{escape(r)}</th>" for r in self.runs)
        rows = "".join(
            f"<tr><td>{escape(f)}</td>"
            + "".join(f'<td class="{_css(self.point(r, f))}">{escape(_cell(self.point(r, f)))}</td>' for r in self.runs)
            + f"<td>{escape(self.first_skew(f) or '-')}</td></tr>"
            for f in self.features
        )
        warnings = "".join(f"<p>warning: {escape(w)}</p>" for w in self.warnings)
        text = (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>skewcheck trend</title>'
            "<style>body{font-family:system-ui,sans-serif;margin:2rem}td,th{padding:.2rem .6rem;"
            "border-bottom:1px solid #ddd}.skew{color:#b00020;font-weight:600}.drift{color:#a06000}</style>"
            f"</head><body><h2>skewcheck trend</h2>{warnings}<table><tr><th>feature</th>{head}"
            f"<th>first skew</th></tr>{rows}</table>"
            f'<img alt="mismatch rate and drift statistic per run" src="data:image/png;base64,{self._plot()}">'
            "</body></html>\n"
        )
        if path is not None:
            write_atomically(Path(path), text)
        return text

    def _repr_html_(self) -> str:
        return self.to_html()

    def _plot(self) -> str:
        """Mismatch rate and statistic/threshold per run, one line per feature, skewed runs marked."""
        from matplotlib.figure import Figure

        figure = Figure(figsize=(11, 3.6), layout="constrained")
        rate_ax, drift_ax = figure.subplots(1, 2)
        x = range(len(self.runs))
        for feature in self.features:
            points = [self.point(run, feature) for run in self.runs]
            rates = [p.mismatch_rate if p and p.mismatch_rate is not None else float("nan") for p in points]
            ratios = [p.drift_score if p and p.drift_score is not None else float("nan") for p in points]
            (line,) = rate_ax.plot(x, rates, marker="o", label=feature)
            drift_ax.plot(x, ratios, marker="o", color=line.get_color())
            skewed = [i for i, p in enumerate(points) if p and p.verdict == "skew"]
            rate_ax.scatter(skewed, [rates[i] for i in skewed], s=90, facecolors="none", edgecolors="#b00020")
        drift_ax.axhline(1, color="#888", linestyle="--", linewidth=1)
        rate_ax.set(title="row-level mismatch rate (red ring: skew)", ylabel="share of matched rows")
        drift_ax.set(
            title="drift score (1 = the test's threshold)",
            ylabel="stat / threshold; log p / log threshold",
        )
        for ax in (rate_ax, drift_ax):
            ax.set_xticks(list(x), self.runs, rotation=30, ha="right")
        rate_ax.legend(fontsize="small")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=80)
        return base64.b64encode(buffer.getvalue()).decode("ascii")


def read_trend(reports: list[str | os.PathLike], *, labels: list[str] | None = None) -> Trend:
    """Line up JSON reports (of `skewcheck compare` or ``feast compare-logged``), in the order given.

    Parameters
    ----------
    reports : list of paths
        One JSON report per run, oldest first.
    labels : list of str, optional
        A name per run; default: the file names without ``.json`` (the paths if those repeat).

    Returns
    -------
    Trend
    """
    paths = [Path(p) for p in reports]
    if not paths:
        raise SkewcheckInputError("no report given; pass the JSON reports of the runs, oldest first")
    if labels is None:
        stems = [p.stem for p in paths]
        labels = stems if len(set(stems)) == len(stems) else [str(p) for p in paths]
    if len(labels) != len(paths) or len(set(labels)) != len(labels):
        raise SkewcheckInputError(f"expected {len(paths)} distinct labels, one per report, got {labels}")
    loaded = [_load(path) for path in paths]
    points, passed, features, warnings = [], [], {}, []
    for label, report in zip(labels, loaded):
        passed.append(bool(report["passed"]))
        for entry in report["features"]:
            features.setdefault(entry["name"], None)
            points.append(_point(label, entry))
    for label, path, report in zip(labels, paths, loaded):
        missing = [f for f in features if f not in {e["name"] for e in report["features"]}]
        if missing:
            warnings.append(f"{path} has no result for {', '.join(missing)} (another feature set): shown as absent")
    keys = {tuple(r.get("keys") or ()) for r in loaded}
    if len(keys) > 1:
        warnings.append(
            f"the reports join on different keys ({', '.join(map(str, sorted(keys)))}): rates may not compare"
        )
    versions = sorted({r["schema_version"] for r in loaded})
    if len(versions) > 1:
        warnings.append(f"reports of schema versions {versions}: version 1 verdicts are derived from 'skewed'")
    return Trend(tuple(labels), tuple(passed), tuple(features), tuple(points), tuple(warnings))


def _load(path: Path) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SkewcheckInputError(f"{path}: cannot read the report ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise SkewcheckInputError(f"{path}: not a JSON report ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(report, dict) or "schema_version" not in report:
        raise SkewcheckInputError(f"{path}: not a skewcheck report (no 'schema_version'); pass files written by --json")
    version = report["schema_version"]
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise SkewcheckInputError(
            f"{path}: schema_version {version!r} is not supported (this skewcheck reads "
            f"{', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))}); read it with the skewcheck that wrote it"
        )
    if not isinstance(report.get("features"), list) or "passed" not in report:
        raise SkewcheckInputError(f"{path}: a schema_version {version} report needs 'passed' and 'features'")
    return report


def _point(run: str, entry: dict[str, Any]) -> TrendPoint:
    distribution = entry.get("distribution") or {}
    verdict = entry.get("verdict")
    if verdict not in VERDICTS:  # schema_version 1
        verdict = "skew" if entry.get("skewed") else "drift" if distribution.get("drifted") else "ok"
    values = entry.get("values") or {}
    diagnosis = entry.get("diagnosis") or {}
    return TrendPoint(
        run=run,
        feature=entry["name"],
        verdict=verdict,
        mismatch_rate=values.get("mismatch_rate"),
        statistic=distribution.get("statistic"),
        threshold=distribution.get("threshold"),
        p_value=distribution.get("p_value"),
        test=distribution.get("test"),
        cause=diagnosis.get("cause"),
    )


def _cell(point: TrendPoint | None) -> str:
    if point is None:
        return "absent"
    text = point.verdict.upper() if point.verdict == "skew" else point.verdict
    if point.mismatch_rate is not None:
        text += f" {point.mismatch_rate:.1%}"
    if point.p_value is not None:
        text += f" p={point.p_value:.2g}"
    elif point.statistic is not None:
        text += f" {point.test or 'statistic'}={point.statistic:.3g}"
    return text


def _css(point: TrendPoint | None) -> str:
    return point.verdict if point is not None else "absent"
