"""Plain-data renderings of the reports: dicts for JSON (strict: no NaN) and a polars table."""

from __future__ import annotations

import json
import math
import os
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from .._io import write_atomically
from .._model import Diagnosis, FeatureResult, PitExample, PitReport, SkewReport
from .._version import __version__

# 2: features[].verdict (ok/skew/drift), rows.null_keys_*, diagnosis params/share/secondary,
# durations as ISO 8601 text.
SKEW_SCHEMA_VERSION = 2
PIT_SCHEMA_VERSION = 1


def skew_report_dict(report: SkewReport) -> dict[str, Any]:
    """The JSON report contract, schema_version 2, as plain Python objects."""
    rows = None
    if report.rows is not None:
        r = report.rows
        rows = {
            "offline": r.offline,
            "online": r.online,
            "matched": r.matched,
            "offline_only": r.offline_only,
            "online_only": r.online_only,
            "duplicate_keys_offline": r.duplicate_keys_offline,
            "duplicate_keys_online": r.duplicate_keys_online,
            "null_keys_offline": r.null_keys_offline,
            "null_keys_online": r.null_keys_online,
            "diagnosis": _diagnosis_dict(r.diagnosis),
        }
    return {
        "schema_version": SKEW_SCHEMA_VERSION,
        "skewcheck_version": __version__,
        "passed": report.passed,
        "fail_on": report.fail_on.value,
        "offline": report.offline_label,
        "online": report.online_label,
        "keys": list(report.keys),
        "timestamp": report.timestamp,
        "settings": report.settings,
        "rows": rows,
        "features": [feature_dict(f) for f in report.features],
        "warnings": list(report.warnings),
    }


def feature_dict(feature: FeatureResult) -> dict[str, Any]:
    """A feature's entry in the JSON report (schema_version 2)."""
    values = None
    if feature.values is not None:
        v = feature.values
        values = {
            "compared": v.compared,
            "mismatched": v.mismatched,
            "mismatch_rate": v.mismatch_rate,
            "null_offline_only": v.null_offline_only,
            "null_online_only": v.null_online_only,
            "max_abs_diff": _json_value(v.max_abs_diff),
            "examples": [
                {
                    "key": {k: _json_value(x) for k, x in e.key.items()},
                    "offline": _json_value(e.offline),
                    "online": _json_value(e.online),
                }
                for e in v.examples
            ],
        }
    test = feature.distribution
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
    if feature.domain is not None:
        domain = {
            "offline_only": [_json_value(x) for x in feature.domain.offline_only],
            "online_only": [_json_value(x) for x in feature.domain.online_only],
            "offline_only_count": feature.domain.offline_only_count,
            "online_only_count": feature.domain.online_only_count,
        }
    return {
        "name": feature.name,
        "verdict": feature.verdict.value,
        "skewed": feature.skewed,
        "reasons": [r.value for r in feature.reasons],
        "kind": feature.kind,
        "dtype": {"offline": feature.dtype_offline, "online": feature.dtype_online},
        "values": values,
        "distribution": distribution,
        "nulls": {
            "offline_rate": feature.nulls.offline_rate,
            "online_rate": feature.nulls.online_rate,
            "offline_nan_rate": feature.nulls.offline_nan_rate,
            "online_nan_rate": feature.nulls.online_nan_rate,
        },
        "domain": domain,
        "diagnosis": _diagnosis_dict(feature.diagnosis),
        "notes": list(feature.notes),
    }


def pit_report_dict(report: PitReport) -> dict[str, Any]:
    """The point-in-time audit as plain Python objects (schema_version 1)."""
    recompute = None
    if report.source is not None:
        recompute = {
            "source": report.source,
            "source_time": report.source_time,
            "unmatched": report.unmatched,
            "features": [
                {
                    "name": f.name,
                    "compared": f.compared,
                    "mismatched": f.mismatched,
                    "examples": [_example_dict(e) for e in f.examples],
                }
                for f in report.recomputed
            ],
        }
    return {
        "schema_version": PIT_SCHEMA_VERSION,
        "skewcheck_version": __version__,
        "passed": report.passed,
        "training": report.training,
        "rows": report.rows,
        "event_time": report.event_time,
        "keys": list(report.keys),
        "ttl_seconds": None if report.ttl is None else report.ttl.total_seconds(),
        "checks": [
            {
                "column": c.column,
                "rows": c.rows,
                "future": c.future,
                "stale": c.stale,
                "missing": c.missing,
                "max_lead_seconds": None if c.max_lead is None else c.max_lead.total_seconds(),
                "future_examples": [_example_dict(e) for e in c.future_examples],
                "stale_examples": [_example_dict(e) for e in c.stale_examples],
            }
            for c in report.checks
        ],
        "recompute": recompute,
        "warnings": list(report.warnings),
    }


def feature_frame(report: SkewReport) -> pl.DataFrame:
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
            for f in report.features
        ],
        schema_overrides={
            "cause": pl.String,
            "test": pl.String,
            "mismatch_rate": pl.Float64,
            "statistic": pl.Float64,
            "threshold": pl.Float64,
            "dtype_offline": pl.String,
            "dtype_online": pl.String,
        },
    )


def _example_dict(example: PitExample) -> dict[str, Any]:
    data = {
        "row": example.row,
        "key": {k: _json_value(v) for k, v in example.key.items()},
        "event_time": _json_value(example.event_time),
    }
    if example.feature_time is not None:
        data["feature_time"] = _json_value(example.feature_time)
    else:
        data["training"], data["correct"] = _json_value(example.training), _json_value(example.correct)
    return data


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
    time_part = "".join(f"{amount}{unit}" for amount, unit in ((hours, "H"), (minutes, "M")) if amount)
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
