"""The cells every rendering shares: verdict words, cause, mismatched, statistic, durations, keys."""

from __future__ import annotations

import math
from datetime import timedelta

from .._model import FeatureResult, PitExample, PitReport, SkewReport, TestResult, Verdict


def outcome(report: SkewReport) -> str:
    """PASSED, SKEW FOUND or DRIFT FOUND."""
    if report.passed:
        return "PASSED"
    return "SKEW FOUND" if report.skewed or not report.drifted else "DRIFT FOUND"


def counts_line(report: SkewReport) -> str:
    """E.g. "2 of 7 features skewed, 1 drifted" (drift is reported, and fails only with fail_on)."""
    line = f"{len(report.skewed)} of {len(report.features)} features skewed"
    if report.drifted:
        gate = "fails the gate" if report.fail_on is Verdict.DRIFT else "does not fail the gate"
        line += f", {len(report.drifted)} drifted ({gate})"
    return line


def cause(feature: FeatureResult) -> str:
    """The diagnosed cause, else the checks that flagged the feature, else '-'."""
    if feature.diagnosis is not None:
        return feature.diagnosis.cause.value
    return ", ".join(r.value for r in feature.reasons) or "-"


def mismatched(feature: FeatureResult) -> str:
    """E.g. '1,204 (12.0%)', or '-' without row-level values."""
    values = feature.values
    return f"{values.mismatched:,} ({values.mismatch_rate:.1%})" if values is not None else "-"


def statistic(test: TestResult, distance_digits: int = 3) -> str:
    """The p-value ('p=0.012') for tests that have one, else the distance; 'nan' when undefined."""
    if test.p_value is not None:
        return "nan" if math.isnan(test.p_value) else f"p={test.p_value:.3g}"
    return "nan" if math.isnan(test.statistic) else f"{test.statistic:.{distance_digits}g}"


def duration(delta: timedelta | None) -> str:
    """A duration for people: '3d 4h', '45m', '-2h 5m'."""
    if delta is None:
        return "-"
    sign, seconds = ("-" if delta < timedelta(0) else ""), abs(delta.total_seconds())
    parts = [
        (int(seconds // 86_400), "d"),
        (int(seconds % 86_400 // 3600), "h"),
        (int(seconds % 3600 // 60), "m"),
        (round(seconds % 60, 3), "s"),
    ]
    shown = [f"{n:g}{unit}" for n, unit in parts if n][:2]
    return sign + (" ".join(shown) if shown else "0s")


def key_text(example: PitExample) -> str:
    """'user_id=7, day=3', or the row number when the audit has no keys."""
    key = ", ".join(f"{k}={v}" for k, v in example.key.items())
    return key or f"row {example.row}"


def recompute_rule(report: PitReport) -> str:
    """How the audit recomputed the point-in-time correct values."""
    within = f" within {duration(report.ttl)}" if report.ttl is not None else ""
    return (
        f"the row with the latest source {report.source_time!r} at or before the training's "
        f"{report.event_time!r}{within}, per "
        f"{', '.join(report.keys)}; {report.unmatched:,} rows have none"
    )


def pit_heading(report: PitReport) -> tuple[str, str]:
    """The audit's verdict word and its one-line description."""
    verdict = "PASSED" if report.passed else "LEAKAGE FOUND"
    details = f"{report.training}: {report.rows:,} rows, event time {report.event_time!r}"
    if report.keys:
        details += f", keys {', '.join(report.keys)}"
    if report.ttl is not None:
        details += f", ttl {duration(report.ttl)}"
    return verdict, details
