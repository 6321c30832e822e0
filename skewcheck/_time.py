"""Time helpers: units, zones and casts, with the one zone policy of the core and the Feast adapter.

The policy: an aware timestamp is an instant and is compared in UTC. A naive one is a wall-clock
time in a zone nobody wrote down, so skewcheck never guesses it: naive and aware never meet
(`check_zones`), and a naive timestamp is read in a zone only where the system that reads it
names one (`utc_instants(naive_zone=...)`; Feast reads naive entity timestamps as UTC).
A leaf: imports no computing module.
"""

from __future__ import annotations

import polars as pl

from ._errors import SkewcheckInputError

UNITS = ("ms", "us", "ns")


def is_instant(dtype: pl.DataType) -> bool:
    """A date or a datetime (a point in time, unlike a duration or a time of day)."""
    return isinstance(dtype, pl.Datetime) or dtype == pl.Date


def zone_of(dtype: pl.DataType) -> str | None:
    """The time zone of a datetime type; None when naive (or not a datetime)."""
    return getattr(dtype, "time_zone", None)


def finer_unit(*dtypes: pl.DataType) -> str:
    """The finest time unit among datetimes and durations (a date counts as microseconds)."""
    return max((getattr(d, "time_unit", None) or "us" for d in dtypes), key=UNITS.index)


def mixes_zones(left: pl.DataType, right: pl.DataType) -> bool:
    """True when one instant type is timezone-naive and the other aware: the policy refuses it."""
    return is_instant(left) and is_instant(right) and (zone_of(left) is None) != (zone_of(right) is None)


def check_zones(column: str, left: pl.DataType, right: pl.DataType, offline: str, online: str, *, what: str) -> None:
    """Refuse a datetime column that is timezone-naive on one side and aware on the other."""
    if not mixes_zones(left, right):
        return
    naive, aware = (offline, online) if zone_of(left) is None else (online, offline)
    raise SkewcheckInputError(
        f"{what} column {column!r} is timezone-naive in {naive} but timezone-aware "
        f"({zone_of(left) or zone_of(right)}) in {aware}; skewcheck will not guess the zone: "
        "make both sides aware (e.g. UTC) or both naive"
    )


def utc_instants(column: pl.Expr, dtype: pl.DataType, unit: str = "us", *, naive_zone: str | None = None) -> pl.Expr:
    """A date or datetime column in `unit`: aware ones converted to UTC, naive ones left naive,
    or read in `naive_zone` (then converted to UTC) when the caller knows the zone."""
    zone = zone_of(dtype)
    if zone is not None:
        return column.cast(pl.Datetime(unit, zone)).dt.convert_time_zone("UTC")
    if naive_zone is not None:
        return column.cast(pl.Datetime(unit)).dt.replace_time_zone(naive_zone).dt.convert_time_zone("UTC")
    return column.cast(pl.Datetime(unit))


def common_time_type(left: pl.DataType, right: pl.DataType) -> pl.DataType:
    """The type two comparable temporal columns meet at: the finer unit, aware ones in UTC."""
    unit = finer_unit(left, right)
    if isinstance(left, pl.Duration):
        return pl.Duration(unit)
    if left == pl.Time:
        return pl.Time
    return pl.Datetime(unit, "UTC" if zone_of(left) or zone_of(right) else None)


def cast_time(series: pl.Series, target: pl.DataType) -> pl.Series:
    """`series` as `target` (from `common_time_type`), converting an aware series' zone first."""
    if isinstance(target, pl.Datetime) and target.time_zone and isinstance(series.dtype, pl.Datetime):
        return series.dt.convert_time_zone("UTC").cast(target)
    return series.cast(target)
