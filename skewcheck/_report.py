"""Report: the result of a comparison, as data, and its renderings (dict, JSON, polars, terminal).

The compare step fills these dataclasses; nothing here computes a statistic. The HTML
rendering, which needs matplotlib, lives in `_html` and is imported only when asked for.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import polars as pl

from ._align import RowCounts
from ._io import check_report_paths, write_atomically
from ._stats import Histogram, TestResult
from ._version import __version__

# 2: features[].verdict (ok/skew/drift), rows.null_keys_*, diagnosis params/share/secondary,
# durations as ISO 8601 text.
SCHEMA_VERSION = 2


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
        values = None
        if self.values is not None:
            v = self.values
            values = {
                "compared": v.compared,
                "mismatched": v.mismatched,
                "mismatch_rate": v.mismatch_rate,
                "null_offline_only": v.null_offline_only,
                "null_online_only": v.null_online_only,
                "max_abs_diff": _json_value(v.max_abs_diff),
                "examples": [
                    {"key": {k: _json_value(x) for k, x in e.key.items()},
                     "offline": _json_value(e.offline), "online": _json_value(e.online)}
                    for e in v.examples
                ],
            }
        test = self.distribution
        distribution = None
        if test is not None:
            distribution = {
                "test": test.test,
                "statistic": _json_value(test.statistic),
                "threshold": test.threshold,
                "p_value": _json_value(test.p_value),
                "drifted": test.drifted,
            }
        domain = None
        if self.domain is not None:
            domain = {
                "offline_only": [_json_value(x) for x in self.domain.offline_only],
                "online_only": [_json_value(x) for x in self.domain.online_only],
                "offline_only_count": self.domain.offline_only_count,
                "online_only_count": self.domain.online_only_count,
            }
        return {
            "name": self.name,
            "verdict": self.verdict.value,
            "skewed": self.skewed,
            "reasons": [r.value for r in self.reasons],
            "kind": self.kind,
            "dtype": {"offline": self.dtype_offline, "online": self.dtype_online},
            "values": values,
            "distribution": distribution,
            "nulls": {
                "offline_rate": self.nulls.offline_rate,
                "online_rate": self.nulls.online_rate,
                "offline_nan_rate": self.nulls.offline_nan_rate,
                "online_nan_rate": self.nulls.online_nan_rate,
            },
            "domain": domain,
            "diagnosis": _diagnosis_dict(self.diagnosis),
            "notes": list(self.notes),
        }


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
        rows = None
        if self.rows is not None:
            r = self.rows
            rows = {
                "offline": r.offline, "online": r.online, "matched": r.matched,
                "offline_only": r.offline_only, "online_only": r.online_only,
                "duplicate_keys_offline": r.duplicate_keys_offline,
                "duplicate_keys_online": r.duplicate_keys_online,
                "null_keys_offline": r.null_keys_offline,
                "null_keys_online": r.null_keys_online,
                "diagnosis": _diagnosis_dict(r.diagnosis),
            }
        return {
            "schema_version": SCHEMA_VERSION,
            "skewcheck_version": __version__,
            "passed": self.passed,
            "fail_on": self.fail_on.value,
            "offline": self.offline_label,
            "online": self.online_label,
            "keys": list(self.keys),
            "timestamp": self.timestamp,
            "settings": self.settings,
            "rows": rows,
            "features": [f.to_dict() for f in self.features],
            "warnings": list(self.warnings),
        }

    def to_json(self, path: str | os.PathLike | None = None, *, indent: int = 2) -> str:
        """The report as JSON text; written atomically to `path` when given (never over an input)."""
        self._check_path(path)
        return json_text(self.to_dict(), path, indent=indent)

    def to_html(self, path: str | os.PathLike | None = None) -> str:
        """A self-contained HTML page with plots; written atomically to `path` when given (never over an input)."""
        from ._html import render_html

        self._check_path(path)
        text = render_html(self)
        if path is not None:
            write_atomically(Path(path), text)
        return text

    def _check_path(self, path: str | os.PathLike | None) -> None:
        """Refuse to write the report over one of the files it was computed from."""
        check_report_paths({"`path`": path}, [self.offline_label, self.online_label])

    def to_polars(self) -> pl.DataFrame:
        """One row per feature: verdict, cause, mismatch rate, test and statistic."""
        return pl.DataFrame(
            [
                {
                    "feature": f.name,
                    "verdict": f.verdict.value,
                    "skewed": f.skewed,
                    "cause": f.diagnosis.cause.value if f.diagnosis else None,
                    "mismatch_rate": f.values.mismatch_rate if f.values else None,
                    "test": f.distribution.test if f.distribution else None,
                    "statistic": f.distribution.statistic if f.distribution else None,
                    "threshold": f.distribution.threshold if f.distribution else None,
                    "null_rate_offline": f.nulls.offline_rate,
                    "null_rate_online": f.nulls.online_rate,
                    "dtype_offline": f.dtype_offline,
                    "dtype_online": f.dtype_online,
                }
                for f in self.features
            ],
            schema_overrides={"cause": pl.String, "test": pl.String, "mismatch_rate": pl.Float64,
                              "statistic": pl.Float64, "threshold": pl.Float64,
                              "dtype_offline": pl.String, "dtype_online": pl.String},
        )

    def summary(self, *, width: int | None = None) -> str:
        """The terminal summary table as text."""
        from ._terminal import render_summary

        return render_summary(self, width=width)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        from ._html import render_html

        return render_html(self, full_page=False)


def _diagnosis_dict(diagnosis: Diagnosis | None) -> dict[str, Any] | None:
    if diagnosis is None:
        return None
    return {
        "cause": diagnosis.cause.value,
        "params": {k: _json_value(v) for k, v in diagnosis.params.items()},
        "share": diagnosis.share,
        "secondary": _diagnosis_dict(diagnosis.secondary),
        "detail": diagnosis.detail,
    }


def _json_value(value: Any) -> Any:
    """A JSON-safe value: NaN and infinities as strings, dates as ISO text."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(x) for x in value]
    if isinstance(value, dict):
        return {str(k): _json_value(x) for k, x in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def iso_duration(value: timedelta) -> str:
    """A duration as ISO 8601 text, to the microsecond: P1DT2H, PT0.5S, -PT1H."""
    sign, value = ("-", -value) if value < timedelta(0) else ("", value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    time_part = "".join(
        f"{amount}{unit}" for amount, unit in ((hours, "H"), (minutes, "M")) if amount
    )
    if seconds or value.microseconds:
        time_part += f"{seconds + value.microseconds / 1e6:.6f}".rstrip("0").rstrip(".") + "S"
    days = f"{value.days}D" if value.days else ""
    if not days and not time_part:
        return "PT0S"
    return f"{sign}P{days}" + (f"T{time_part}" if time_part else "")


def json_text(data: dict[str, Any], path: str | os.PathLike | None = None, *, indent: int = 2) -> str:
    """Strict JSON (no NaN) of a report's dict; written atomically to `path` when given."""
    text = json.dumps(data, indent=indent, allow_nan=False) + "\n"
    if path is not None:
        write_atomically(Path(path), text)
    return text
