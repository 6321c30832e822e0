"""The result model: every dataclass and enum a comparison or an audit returns.

A leaf: it imports no computing module. The computing steps fill these dataclasses; the
renderings (dict, JSON, polars, terminal, HTML) live in `_render` and are imported only when
a report method asks for them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

import polars as pl


class Cause(str, Enum):
    """Why a feature differs: a stable vocabulary that programs can match on."""

    NONE = "none"
    PRECISION = "precision"
    ROUNDING = "rounding"
    SCALE = "scale"
    OFFSET = "offset"
    NULL_FILL = "null_fill"
    STALE = "stale"
    CATEGORY_REMAP = "category_remap"
    TYPE = "type"
    MISSING = "missing"
    UNKNOWN = "unknown"
    # Dataset level (rows.diagnosis): why few rows joined.
    TIMESTAMP_SHIFT = "timestamp_shift"
    KEY_FORMAT = "key_format"


class Verdict(str, Enum):
    """What a feature's differences mean for the CI gate.

    ``skew``: the served value differs from the training value of the same row (or the feature
    is missing or of another kind on one side; without keys, a distribution difference).
    ``drift``: keys were given and the matched pairs agree, but the two populations differ.
    """

    OK = "ok"
    SKEW = "skew"
    DRIFT = "drift"


class Reason(str, Enum):
    """Which check flagged a feature as skewed."""

    MISSING = "missing"
    TYPE = "type"
    VALUES = "values"
    DISTRIBUTION = "distribution"
    NULLS = "nulls"


@dataclass(frozen=True)
class Diagnosis:
    """The most likely cause, its fitted numbers, and a sentence that says it.

    `params` holds the fitted numbers (e.g. ``{"factor": 100.0}``), `share` the fraction of the
    mismatching pairs the cause explains, `secondary` the other cause of a mixed feature.
    """

    cause: Cause
    detail: str
    params: dict[str, Any] = field(default_factory=dict)
    share: float | None = None
    secondary: Diagnosis | None = None


@dataclass(frozen=True)
class Example:
    """One mismatching pair: its join key (and timestamp) and the two values."""

    key: dict[str, Any]
    offline: Any
    online: Any


@dataclass(frozen=True)
class ValueResult:
    """Row-level agreement of one feature over the matched rows."""

    compared: int
    mismatched: int
    null_offline_only: int
    null_online_only: int
    max_abs_diff: float | None
    examples: tuple[Example, ...] = ()
    sample: tuple[tuple[float, float], ...] = ()  # (offline, online) pairs for the scatter plot

    @property
    def mismatch_rate(self) -> float:
        return self.mismatched / self.compared if self.compared else 0.0


@dataclass(frozen=True)
class NullRates:
    """Share of rows that are null, and (for floats) NaN, on each side."""

    offline_rate: float
    online_rate: float
    offline_nan_rate: float = 0.0
    online_nan_rate: float = 0.0

    @property
    def gap(self) -> float:
        return abs(self.offline_rate - self.online_rate)


@dataclass(frozen=True)
class DomainGap:
    """Categorical values seen on one side only (at most a few of each, and their counts)."""

    offline_only: tuple[Any, ...]
    online_only: tuple[Any, ...]
    offline_only_count: int
    online_only_count: int


@dataclass(frozen=True)
class FeatureResult:
    """Everything skewcheck found about one feature. Holds numbers, never frames."""

    name: str
    verdict: Verdict
    dtype_offline: str | None
    dtype_online: str | None
    kind: str
    nulls: NullRates
    values: ValueResult | None = None
    distribution: TestResult | None = None
    domain: DomainGap | None = None
    diagnosis: Diagnosis | None = None
    reasons: tuple[Reason, ...] = ()
    notes: tuple[str, ...] = ()
    histogram: Histogram | None = field(default=None, repr=False)

    @property
    def skewed(self) -> bool:
        """True when the verdict is skew (drift is not skew)."""
        return self.verdict is Verdict.SKEW

    @property
    def severity(self) -> float:
        """A sort key: skewed first, then by how far past its thresholds the feature is."""
        score = 0.0
        if self.values is not None:
            score = max(score, self.values.mismatch_rate)
        if self.distribution is not None and not math.isnan(self.distribution.statistic):
            test = self.distribution
            if test.p_value is not None:
                score = max(score, min(1.0, test.threshold / max(test.p_value, 1e-300)) * 0.5)
            elif test.threshold > 0:
                score = max(score, min(1.0, test.statistic / test.threshold) * 0.5)
        rank = {Verdict.SKEW: 2.0, Verdict.DRIFT: 1.0, Verdict.OK: 0.0}[self.verdict]
        return rank + (1.0 if Reason.MISSING in self.reasons else 0.0) + score

    def to_dict(self) -> dict[str, Any]:
        """The feature's entry in the JSON report (schema_version 2)."""
        from ._render.json import feature_dict

        return feature_dict(self)


@dataclass(frozen=True)
class RowCounts:
    """How the two sides joined. Duplicates count rows beyond the first of each key; rows with a
    null key (or timestamp) are counted apart and never join. So offline = matched +
    offline_only + duplicate_keys_offline + null_keys_offline (as of: matched counts online rows)."""

    offline: int
    online: int
    matched: int
    offline_only: int
    online_only: int
    duplicate_keys_offline: int
    duplicate_keys_online: int
    diagnosis: Diagnosis | None = None
    null_keys_offline: int = 0
    null_keys_online: int = 0


@dataclass(frozen=True)
class TestResult:
    """The outcome of one distribution test on one feature.

    Attributes
    ----------
    test : str
        The test that ran, one of :data:`TESTS`.
    statistic : float
        The distance, or the test statistic for ``ks`` (D) and ``chisquare`` (chi-squared).
        NaN when a sample is empty.
    p_value : float or None
        The p-value for ``ks`` and ``chisquare`` (NaN when a sample is empty); None for
        distances.
    threshold : float
        The threshold the decision used.
    drifted : bool
        Whether the online distribution differs from the offline one: ``p_value <= threshold``
        for ``ks``, ``p_value < threshold`` for ``chisquare`` (both as in Evidently),
        ``statistic >= threshold`` for distances. Always False when a sample is empty.
    """

    __test__ = False  # not a pytest test class, despite the name

    test: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class Histogram:
    """Counts of both samples over shared bins, for plotting.

    Attributes
    ----------
    kind : str
        ``"numeric"`` or ``"categorical"``.
    edges : list of float
        Numeric: the ``bins + 1`` shared bin edges (the last bin includes its right edge).
        Categorical: empty.
    categories : list of str
        Categorical: the most frequent categories over both samples, most frequent first.
        Numeric: empty.
    offline, online : list of int
        Counts of each sample per bin or per category.
    offline_other, online_other : int
        Categorical: counts of each sample outside the listed categories. Numeric: 0.
    """

    kind: str
    edges: list[float]
    categories: list[str]
    offline: list[int]
    online: list[int]
    offline_other: int
    online_other: int


@dataclass(frozen=True)
class SkewReport:
    """The result of `skewcheck.compare`: a verdict per feature and the join counts.

    `passed` is True when no feature has a verdict that fails the gate (`fail_on`: skew, or
    skew and drift) and, for a keyed comparison, rows matched.
    Render it with `to_dict`, `to_json`, `to_html`, `to_polars`, `summary`, or display it
    in a notebook.
    """

    passed: bool
    features: tuple[FeatureResult, ...]
    keys: tuple[str, ...] = ()
    timestamp: str | None = None
    rows: RowCounts | None = None
    offline_label: str = "offline"
    online_label: str = "online"
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    fail_on: Verdict = Verdict.SKEW

    @property
    def skewed(self) -> tuple[FeatureResult, ...]:
        """The features with verdict skew, most skewed first."""
        return tuple(f for f in self.features if f.verdict is Verdict.SKEW)

    @property
    def drifted(self) -> tuple[FeatureResult, ...]:
        """The features with verdict drift (matched pairs agree, populations differ)."""
        return tuple(f for f in self.features if f.verdict is Verdict.DRIFT)

    def __getitem__(self, name: str) -> FeatureResult:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report contract, schema_version 2, as plain Python objects."""
        from ._render.json import skew_report_dict

        return skew_report_dict(self)

    def to_json(self, path: str | os.PathLike | None = None, *, indent: int = 2) -> str:
        """The report as JSON text; written atomically to `path` when given (never over an input)."""
        from ._render.json import json_text

        self._check_path(path)
        return json_text(self.to_dict(), path, indent=indent)

    def to_html(self, path: str | os.PathLike | None = None) -> str:
        """A self-contained HTML page with plots; written atomically to `path` when given (never over an input)."""
        from ._render.html import skew_report_html

        self._check_path(path)
        return skew_report_html(self, path)

    def _check_path(self, path: str | os.PathLike | None) -> None:
        """Refuse to write the report over one of the files it was computed from."""
        from ._io import check_report_paths

        check_report_paths({"`path`": path}, [self.offline_label, self.online_label])

    def to_polars(self) -> pl.DataFrame:
        """One row per feature: verdict, cause, mismatch rate, test and statistic."""
        from ._render.json import feature_frame

        return feature_frame(self)

    def summary(self, *, width: int | None = None) -> str:
        """The terminal summary table as text."""
        from ._render.text import render_text, skew_summary

        return render_text(skew_summary(self), width=width)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        from ._render.html import skew_report_fragment

        return skew_report_fragment(self)


@dataclass(frozen=True)
class PitExample:
    """One offending training row: its number, key, event time and feature time or values."""

    row: int
    key: dict[str, Any]
    event_time: Any
    feature_time: Any = None
    training: Any = None
    correct: Any = None


@dataclass(frozen=True)
class TimeCheck:
    """What one feature timestamp column says about leakage and staleness."""

    column: str
    rows: int
    future: int
    stale: int
    missing: int
    max_lead: timedelta | None
    future_examples: tuple[PitExample, ...] = ()
    stale_examples: tuple[PitExample, ...] = ()


@dataclass(frozen=True)
class RecomputedFeature:
    """Training values of one feature against its point-in-time correct values."""

    name: str
    compared: int
    mismatched: int
    examples: tuple[PitExample, ...] = ()


@dataclass(frozen=True)
class PitReport:
    """The result of `audit_point_in_time`: per feature time column, and per recomputed feature.

    `passed` is True when no feature time is after its event time and every recomputed value
    matches. Render it with `to_dict`, `to_json`, `to_html`, `summary`, or display it in a notebook.
    """

    passed: bool
    training: str
    rows: int
    event_time: str
    keys: tuple[str, ...]
    ttl: timedelta | None
    checks: tuple[TimeCheck, ...]
    source: str | None = None
    source_time: str | None = None
    unmatched: int = 0  # training rows without a correct feature row (none at or before, or too old)
    recomputed: tuple[RecomputedFeature, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def future(self) -> int:
        """Rows with a feature time after the event time, over all feature time columns."""
        return sum(check.future for check in self.checks)

    def __getitem__(self, name: str) -> TimeCheck | RecomputedFeature:
        for item in (*self.checks, *self.recomputed):
            if getattr(item, "column", None) == name or getattr(item, "name", None) == name:
                return item
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The audit as plain Python objects (JSON schema_version 1)."""
        from ._render.json import pit_report_dict

        return pit_report_dict(self)

    def to_json(self, path: str | os.PathLike | None = None, *, indent: int = 2) -> str:
        """The report as JSON text; written atomically to `path` when given."""
        from ._render.json import json_text

        return json_text(self.to_dict(), path, indent=indent)

    def to_html(self, path: str | os.PathLike | None = None) -> str:
        """A self-contained HTML page; written atomically to `path` when given."""
        from ._render.html import pit_report_html

        return pit_report_html(self, path)

    def summary(self, *, width: int | None = None) -> str:
        """The terminal summary as plain text."""
        from ._render.text import pit_summary, render_text

        return render_text(pit_summary(self), width=width)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        from ._render.html import pit_report_fragment

        return pit_report_fragment(self)
