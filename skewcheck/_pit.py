"""Point-in-time audit: does a training set hold feature values from after the prediction moment?

Two checks. The first reads the training set alone: for each feature timestamp column, rows
whose feature time is later than the event time are leaks (the model learns from the future),
and rows whose feature is older than the TTL are stale. The second, given the raw feature table,
recomputes the point-in-time correct value of every feature with a backward as-of join (the
latest feature row of the same key at or before the event time, no older than the TTL, as
Feast's historical retrieval does) and counts the training values that differ from it.

`passed` is False when a row's feature time is after its event time, or when a training value
differs from the recomputed one. Rows older than the TTL are reported but do not fail the audit
on their own: staleness is a freshness problem, not a leak (with a features source, though, the
as-of join honours the TTL, so a value older than it differs from the correct one: null).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import polars as pl

from ._align import join_columns
from ._errors import SkewcheckInputError
from ._io import Source, load
from ._model import PitExample, PitReport, RecomputedFeature, TimeCheck
from ._settings import DEFAULT_EXAMPLES, DEFAULT_REL_TOL, check_pit, parse_duration
from ._time import is_instant, mixes_zones, utc_instants, zone_of

__all__ = ["PitExample", "PitReport", "RecomputedFeature", "TimeCheck", "audit_point_in_time", "parse_duration"]

_ROW = "__skewcheck_row"
_EVENT = "__skewcheck_event_time"
_SOURCE_TIME = "__skewcheck_source_time"
_CORRECT = "__skewcheck_correct"


def audit_point_in_time(
    training: Any,
    *,
    event_time: str,
    feature_time: str | Sequence[str],
    keys: str | Sequence[str] | None = None,
    ttl: str | timedelta | None = None,
    features_source: Any = None,
    source_time: str | None = None,
    examples: int = DEFAULT_EXAMPLES,
    where: Any = None,
) -> PitReport:
    """Check a training set for features computed after the prediction moment.

    Parameters
    ----------
    training : path, dataset or frame
        The training set (a file, directory, glob or list of files, or a table): one row per (entity, event time), with its feature values and the
        timestamps of the feature rows they came from.
    event_time : str
        The column holding the prediction moment (the label's observation time).
    feature_time : str or list of str
        Columns holding the time each feature row was valid from (one per feature view).
    keys : str or list of str, optional
        Entity key columns: shown in examples, and needed to recompute from a features source.
    ttl : str or timedelta, optional
        Oldest feature allowed, e.g. ``"7d"`` or ``"12h"`` (fixed units: ns, us, ms, s, m, h,
        d = 24 h, w). Rows older than that are counted as stale; they do not fail the audit.
    features_source : path or frame, optional
        The raw feature table (keys, a timestamp, feature columns). Every feature present in
        both tables is recomputed with a backward as-of join on the event time, by key, with
        the TTL as tolerance, and compared with the training values.
    source_time : str, optional
        The features source's timestamp column; by default the feature time column's name
        (when there is one).
    examples : int
        Offending rows kept per check.
    where : str or polars.Expr, optional
        Audit only the training rows where this holds (SQL text or a polars expression, as in
        compare). The features source is read whole: its history serves the as-of join.

    Returns
    -------
    PitReport

    Raises
    ------
    SkewcheckInputError
        Missing columns, non-temporal time columns, timezone-naive mixed with aware times,
        incompatible key types, or a bad TTL.

    Examples
    --------
    >>> from datetime import datetime
    >>> import polars as pl, skewcheck
    >>> training = pl.DataFrame({"user_id": [1, 2], "label_time": [datetime(2026, 3, 1)] * 2,
    ...                          "feature_time": [datetime(2026, 2, 28), datetime(2026, 3, 5)]})
    >>> report = skewcheck.audit_point_in_time(training, event_time="label_time",
    ...                                        feature_time="feature_time", keys="user_id")
    >>> report.passed, report["feature_time"].future
    (False, 1)
    """
    key_list, feature_times, tolerance = check_pit(
        event_time=event_time,
        feature_time=feature_time,
        keys=keys,
        ttl=ttl,
        features_source=features_source,
        source_time=source_time,
        examples=examples,
    )
    train = load(training, role="training", where=where)
    for key in key_list:
        _require(train, key, "key", "keys")
    event = _time_cast(train, event_time, "event time", "event_time")
    times = [_time_cast(train, column, "feature time", "feature_time") for column in feature_times]
    for (cast, dtype), column in zip(times, feature_times):
        _same_zone_kind(train, event_time, event[1], train, column, dtype)

    frame = (
        train.frame.with_row_index(_ROW)
        .select(
            _ROW,
            *key_list,
            event[0].alias(_EVENT),
            *(cast.alias(column) for (cast, _), column in zip(times, feature_times)),
        )
        .collect()
    )
    checks = tuple(_check_times(frame, column, key_list, tolerance, examples) for column in feature_times)

    recompute: dict[str, Any] = {}
    if features_source is not None:
        recompute = _recompute(
            train,
            frame,
            features_source,
            key_list,
            event_time,
            event[1],
            feature_times,
            source_time,
            tolerance,
            examples,
        )
    recomputed = recompute.get("recomputed", ())
    passed = not any(c.future for c in checks) and not any(f.mismatched for f in recomputed)
    return PitReport(
        passed=passed,
        training=train.label,
        rows=train.rows,
        event_time=event_time,
        keys=tuple(key_list),
        ttl=tolerance,
        checks=checks,
        **recompute,
    )


# --- validation --------------------------------------------------------------------------------


def _require(source: Source, column: str, role: str, parameter: str) -> None:
    if column not in source.schema:
        raise SkewcheckInputError(
            f"{source.label}: no {role} column {column!r} (columns: {source.column_list()}); pass `{parameter}` with one of them"
        )


def _time_cast(source: Source, column: str, role: str, parameter: str) -> tuple[pl.Expr, pl.DataType]:
    """The expression bringing a time column to microseconds (aware ones in UTC), and its type."""
    _require(source, column, role, parameter)
    dtype = source.schema[column]
    if not is_instant(dtype):
        raise SkewcheckInputError(
            f"{source.label}: {role} column {column!r} is {dtype}, expected a date or datetime; "
            "store it as a timestamp (CSV: ISO 8601 text such as 2026-01-31T09:30:00Z)"
        )
    return utc_instants(pl.col(column), dtype), dtype


def _same_zone_kind(
    left: Source, left_column: str, left_dtype: pl.DataType, right: Source, right_column: str, right_dtype: pl.DataType
) -> None:
    """The zone policy of `_time`, worded for two columns that may be of one table."""
    if not mixes_zones(left_dtype, right_dtype):
        return
    naive, aware = (
        ((left, left_column), (right, right_column))
        if zone_of(left_dtype) is None
        else ((right, right_column), (left, left_column))
    )
    raise SkewcheckInputError(
        f"{naive[1]!r} in {naive[0].label} is timezone-naive but {aware[1]!r} in {aware[0].label} is "
        f"timezone-aware ({zone_of(left_dtype) or zone_of(right_dtype)}); skewcheck will not guess the zone: make both aware "
        "(e.g. UTC) or both naive"
    )


# --- the time checks ---------------------------------------------------------------------------


def _check_times(frame: pl.DataFrame, column: str, keys: list[str], ttl: timedelta | None, examples: int) -> TimeCheck:
    lead = pl.col(column) - pl.col(_EVENT)
    flagged = frame.select(
        _ROW,
        *keys,
        _EVENT,
        column,
        lead=lead,
        future=(lead > timedelta(0)).fill_null(False),
        stale=((pl.col(_EVENT) - pl.col(column) > ttl) if ttl is not None else pl.lit(False)).fill_null(False),
        missing=pl.col(column).is_null() | pl.col(_EVENT).is_null(),
    )
    future = flagged.filter("future").sort(["lead", _ROW], descending=[True, False])
    stale = flagged.filter("stale").sort(["lead", _ROW])
    return TimeCheck(
        column=column,
        rows=frame.height,
        future=future.height,
        stale=stale.height,
        missing=int(flagged["missing"].sum()),
        max_lead=flagged["lead"].max(),
        future_examples=_time_examples(future.head(examples), column, keys),
        stale_examples=_time_examples(stale.head(examples), column, keys),
    )


def _time_examples(rows: pl.DataFrame, column: str, keys: list[str]) -> tuple[PitExample, ...]:
    return tuple(
        PitExample(row=r[_ROW], key={k: r[k] for k in keys}, event_time=r[_EVENT], feature_time=r[column])
        for r in rows.iter_rows(named=True)
    )


# --- recomputing from the features source ------------------------------------------------------


def _recompute(
    train: Source,
    frame: pl.DataFrame,
    features_source: Any,
    keys: list[str],
    event_time: str,
    event_dtype: pl.DataType,
    feature_times: list[str],
    source_time: str | None,
    ttl: timedelta | None,
    examples: int,
) -> dict[str, Any]:
    source = load(features_source, role="features source")
    if source_time is None:
        if len(feature_times) != 1 or feature_times[0] not in source.schema:
            raise SkewcheckInputError(
                f"{source.label}: which column holds its feature times? (columns: {source.column_list()}); "
                "pass `source_time` with one of them"
            )
        source_time = feature_times[0]
    key_casts = join_columns(train, source, keys, None)
    time_cast, dtype = _time_cast(source, source_time, "timestamp", "source_time")
    _same_zone_kind(train, event_time, event_dtype, source, source_time, dtype)
    reserved = {*keys, event_time, *feature_times, source_time}
    names = [c for c in train.schema.names() if c in source.schema and c not in reserved]
    if not names:
        raise SkewcheckInputError(
            f"no feature columns in common: {train.label} has ({', '.join(c for c in train.schema if c not in reserved)}), "
            f"{source.label} has ({', '.join(c for c in source.schema if c not in reserved)})"
        )

    table = (
        source.frame.select(*key_casts, time_cast.alias(_SOURCE_TIME), *(pl.col(n).alias(n + _CORRECT) for n in names))
        .filter(pl.col(_SOURCE_TIME).is_not_null())
        .sort(_SOURCE_TIME)
        .collect()
    )
    duplicated = int(table.select(pl.struct(*keys, _SOURCE_TIME).is_duplicated().sum()).item())
    requests = frame.select(_ROW, *key_casts, _EVENT).filter(pl.col(_EVENT).is_not_null()).sort(_EVENT)
    correct = requests.join_asof(
        table,
        left_on=_EVENT,
        right_on=_SOURCE_TIME,
        by=keys,
        strategy="backward",
        tolerance=ttl,
        check_sortedness=False,
    )
    values = train.frame.with_row_index(_ROW).select(_ROW, *names).collect()
    joined = (
        frame.select(_ROW, *keys, _EVENT)
        .join(values, on=_ROW)
        .join(correct.drop(*keys, _EVENT), on=_ROW, how="left")
        .sort(_ROW)
    )
    warnings = []
    if duplicated:
        warnings.append(
            f"{duplicated:,} rows of {source.label} share their key and {source_time!r} with another: "
            "their point-in-time value is ambiguous (the last one is used)"
        )
    return {
        "source": source.label,
        "source_time": source_time,
        "unmatched": int(joined[_SOURCE_TIME].is_null().sum()),
        "recomputed": tuple(_compare_values(joined, name, keys, examples) for name in names),
        "warnings": tuple(warnings),
    }


def _compare_values(joined: pl.DataFrame, name: str, keys: list[str], examples: int) -> RecomputedFeature:
    training, correct = joined[name], joined[name + _CORRECT]
    frame = pl.DataFrame([training.alias("training"), correct.alias("correct")])
    a, b = pl.col("training"), pl.col("correct")
    if training.dtype.is_numeric() and correct.dtype.is_numeric():
        a, b = a.cast(pl.Float64), b.cast(pl.Float64)
        close = ((a - b).abs() <= DEFAULT_REL_TOL * pl.max_horizontal(a.abs(), b.abs())).fill_null(False)
        same = a.eq_missing(b) | (a.is_nan() & b.is_nan()).fill_null(False) | close
    else:
        same = a.cast(pl.String).eq_missing(b.cast(pl.String))
    differs = frame.select(~same).to_series()
    wrong = joined.filter(differs).head(examples)
    return RecomputedFeature(
        name=name,
        compared=joined.height,
        mismatched=int(differs.sum()),
        examples=tuple(
            PitExample(
                row=r[_ROW],
                key={k: r[k] for k in keys},
                event_time=r[_EVENT],
                training=r[name],
                correct=r[name + _CORRECT],
            )
            for r in wrong.iter_rows(named=True)
        ),
    )
