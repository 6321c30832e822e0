"""Diagnose: name the most likely cause of a feature's mismatches from the joined pairs.

Each candidate cause is a simple model of the serving bug (online = offline × a, online =
offline rounded to k decimals, ...). A cause is fitted on the mismatching pairs and counts
the pairs it explains; the cause explaining the most wins, if it explains at least
`MIN_SHARE` of them, and any other cause explaining a sizeable share is mentioned. Nothing
here recomputes a statistic of the compare step.

Why few rows joined at all is told by `_diagnose_rows`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from ._model import Cause, Diagnosis

# A cause must explain at least this share of its group of mismatching pairs (nulls on one side,
# or two different values); below it the group has no single pattern and the cause is `unknown`.
# A real serving bug of one kind explains nearly all the pairs it touches.
MIN_SHARE = 0.8
# A second cause is mentioned when it explains at least this share of the mismatches.
MENTION_SHARE = 0.05
# A cause is named only when it explains at least this many pairs. Every candidate is a
# one-parameter model (a factor, an offset, a number of decimals, a fill value, a lag), and a
# one-parameter model fits any single pair exactly; two pairs can share a parameter by
# coincidence (two values each off by one). Three pairs that agree on one parameter are the
# fewest that are evidence of a pattern rather than an accident; below that the cause is
# `unknown` and the examples speak for themselves.
MIN_SUPPORT = 3
# Float32 has a 24-bit significand: a float32 round trip moves a value by at most half a unit
# in the last place, 2**-24 relative; one whole unit (2**-23) covers near misses such as a
# scale of 1.0000001.
FLOAT32_RESOLUTION = 2.0**-23
# Relative tolerance of the fitted models (scale, offset, rounding) on float64 values.
FIT_TOLERANCE = 1e-9
# ... and where the narrower side is stored as float32: the model's value and the stored one
# are each rounded once to float32, so they may differ by two half-units in the last place.
FLOAT32_FIT_TOLERANCE = 2.0**-22
MAX_DECIMALS = 6
# Pairs used to fit the causes (of each group), and looked up in the history for `stale`: the first
# of the pairs as given (the caller orders them by key hash), which bounds the cost; the explained
# counts are scaled back up to all pairs.
FIT_SAMPLE = 200_000
STALE_SAMPLE = 5_000


@dataclass(frozen=True)
class Finding:
    """One cause fitted to the mismatches: how many pairs it explains, in words."""

    cause: Cause
    explained: int
    detail: str
    benign: bool = False
    params: dict = field(default_factory=dict)

    def diagnosis(self, total: int, detail: str | None = None, secondary: Diagnosis | None = None) -> Diagnosis:
        return Diagnosis(
            self.cause,
            detail or self.detail,
            params=dict(self.params),
            share=min(1.0, self.explained / total) if total else None,
            secondary=secondary,
        )


def diagnose_values(
    offline: pl.Series,
    online: pl.Series,
    *,
    kind: str,
    keys: pl.DataFrame | None = None,
    history: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    sizes: tuple[int, int] | None = None,
) -> tuple[Diagnosis | None, bool]:
    """The most likely cause of the mismatches between joined offline and online values.

    The mismatches fall in two groups: a null on one side only, and two different values.
    The best cause of each group must explain `MIN_SHARE` of its group; the larger group's
    cause is reported and the other one mentioned.

    Parameters
    ----------
    offline, online : polars.Series
        The mismatching pairs only (same length), numeric or text.
    kind : str
        "numeric", "categorical" or "temporal" (times: offsets and lags only).
    keys : polars.DataFrame, optional
        The join columns of the pairs, for the `stale` test.
    history : callable, optional
        Given pairs with their keys and an ``online`` column, returns a ``lag`` column: the
        time back to the latest earlier offline row of the same key holding that value.
    sizes : (int, int), optional
        When the pairs are a sample: how many mismatching pairs of each group there are in all
        (a null on one side, two values). The counts explained are scaled up to them.

    Returns
    -------
    (Diagnosis or None, benign)
        None when there are no mismatches. `benign` is True when every mismatch is a float32
        round trip: explained, and not skew.
    """
    if offline.len() == 0:
        return None, False
    frame = pl.DataFrame({"offline": offline, "online": online})
    if keys is not None:
        frame = pl.concat([keys, frame], how="horizontal")
    both = pl.col("offline").is_not_null() & pl.col("online").is_not_null()
    values = frame.filter(both)
    nulls, value_pairs = sizes if sizes is not None else (frame.height - values.height, values.height)
    total = nulls + value_pairs
    null_findings = [_null_fill(frame, "online", "offline"), _null_fill(frame, "offline", "online")]
    null_findings = _scaled(null_findings, nulls / max(1, frame.height - values.height))
    groups = [
        (nulls, _best(null_findings)),
        (value_pairs, _best(_value_findings(values, kind, keys, history, value_pairs))),
    ]
    groups.sort(key=lambda group: -group[0])
    (size, best), (other_size, other) = groups
    if best is None or best.explained < max(MIN_SHARE * size, MIN_SUPPORT):
        shown = best is not None and best.explained >= max(MENTION_SHARE * total, MIN_SUPPORT)
        partial = f"; partly: {best.detail} ({best.explained / total:.0%})" if shown else ""
        if total < MIN_SUPPORT:
            partial = f"; {total} pair{'s' if total > 1 else ''} cannot show a pattern (at least {MIN_SUPPORT} needed)"
        secondary = best.diagnosis(total) if shown else None
        return Diagnosis(
            Cause.UNKNOWN,
            f"no single pattern explains the {total:,} mismatching pairs{partial}",
            share=None,
            secondary=secondary,
        ), False
    detail = f"{best.detail} on {best.explained / total:.1%} of mismatching pairs"
    secondary = None
    if other is not None and other.explained >= max(MIN_SHARE * other_size, MENTION_SHARE * total, MIN_SUPPORT):
        detail += f"; also {other.cause.value}: {other.detail} ({other.explained:,} pairs)"
        secondary = other.diagnosis(total)
    elif other_size >= MENTION_SHARE * total:
        detail += f"; {other_size:,} other mismatching pairs have no single pattern"
    benign = best.benign and best.explained == total
    if benign:
        detail += " (within float32 precision: not skew)"
    return best.diagnosis(total, detail, secondary), benign


# On equal counts the more specific cause wins: a value rounded to 6 decimals is also within
# float32 precision, but rounding says more.
PREFERENCE = (
    Cause.NULL_FILL,
    Cause.ROUNDING,
    Cause.SCALE,
    Cause.OFFSET,
    Cause.CATEGORY_REMAP,
    Cause.STALE,
    Cause.PRECISION,
)


def _best(findings: list[Finding | None]) -> Finding | None:
    found = [f for f in findings if f is not None and f.explained]
    return min(found, key=lambda f: (-f.explained, PREFERENCE.index(f.cause)), default=None)


def _value_findings(values: pl.DataFrame, kind: str, keys, history, size: int) -> list[Finding | None]:
    """Fit each value cause to the pairs where both sides hold a value (the first `FIT_SAMPLE` if
    more), the counts explained scaled up to the `size` pairs of the group."""
    if not values.height:
        return []
    sample = values.head(FIT_SAMPLE)
    dtype = sample.schema["offline"]
    if kind == "numeric":
        x = sample.get_column("offline").cast(pl.Float64).to_numpy()
        y = sample.get_column("online").cast(pl.Float64).to_numpy()
        # Fit within the storage precision of the narrower side (both sides share its type here).
        tol = FLOAT32_FIT_TOLERANCE if dtype == pl.Float32 else FIT_TOLERANCE
        findings = [_rounding(x, y, tol), _scale(x, y, tol), _offset(x, y, tol), _precision(x, y)]
    elif kind == "temporal":
        findings = [_time_offset(sample, dtype)]
    else:
        findings = [_category_remap(sample)]
    if history is not None and keys is not None:
        findings.append(_stale(sample, history))
    return _scaled(findings, size / sample.height)


def _scaled(findings: list[Finding | None], scale: float) -> list[Finding | None]:
    """Findings on a sample, their counts scaled up to the whole group."""
    if scale == 1:
        return findings
    return [f and Finding(f.cause, round(f.explained * scale), f.detail, f.benign, f.params) for f in findings]


def diagnose_type(offline: pl.Series, online: pl.Series) -> Diagnosis:
    """Same values in another type (e.g. "42" vs 42)? Both sides are the matched values."""
    same, example = type_agreement(offline, online)
    return type_diagnosis(str(offline.dtype), str(online.dtype), offline.len(), same, example)


def type_agreement(offline: pl.Series, online: pl.Series) -> tuple[int, tuple | None]:
    """How many matched pairs hold the same value in their two types, and the first pair with both values."""
    as_number = pl.DataFrame({"offline": _to_number(offline), "online": _to_number(online)}).select(
        same=(pl.col("offline") == pl.col("online")) | (offline.cast(pl.String) == online.cast(pl.String))
    )
    same = int(as_number.get_column("same").sum())
    example = next(
        ((a, b) for a, b in zip(offline.to_list(), online.to_list()) if a is not None and b is not None), None
    )
    return same, example


def type_diagnosis(offline: str, online: str, total: int, same: int, example: tuple | None) -> Diagnosis:
    """The `type` cause of dtypes `offline` and `online`, from `type_agreement` over `total` pairs."""
    shown = f", e.g. {quoted(example[0])} vs {quoted(example[1])}" if example else ""
    detail = f"{offline} offline, {online} online; the same value on {same:,} of {total:,} pairs{shown}"
    params = {"offline": offline, "online": online, "same_values": same}
    return Diagnosis(Cause.TYPE, detail, params=params, share=same / total if total else None)


def _to_number(series: pl.Series) -> pl.Series:
    if series.dtype.is_numeric() or series.dtype == pl.Boolean:
        return series.cast(pl.Float64)
    return series.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)


def _null_fill(frame: pl.DataFrame, filled: str, null_side: str) -> Finding | None:
    """A constant on one side where the other side is null."""
    fills = frame.filter(pl.col(null_side).is_null() & pl.col(filled).is_not_null()).get_column(filled)
    if not fills.len():
        return None
    counts = fills.value_counts(name="count").sort(["count", filled], descending=[True, False], nulls_last=True)
    constant, count = counts.row(0)
    return Finding(
        Cause.NULL_FILL,
        int(count),
        f"{filled} holds {quoted(constant)} where {null_side} is null",
        params={"fill": constant, "side": filled},
    )


def _close(a: np.ndarray, b: np.ndarray, rel: float = FIT_TOLERANCE) -> np.ndarray:
    """Equal, or both finite and within `rel` (an infinity is close only to itself)."""
    with np.errstate(invalid="ignore"):
        near = np.abs(a - b) <= rel * np.maximum(np.abs(a), np.abs(b)) + 1e-12
    return (a == b) | (np.isfinite(a) & np.isfinite(b) & near)


def _precision(x: np.ndarray, y: np.ndarray) -> Finding | None:
    explained = int(np.count_nonzero(_close(x, y, FLOAT32_RESOLUTION)))
    return Finding(
        Cause.PRECISION, explained, "online = offline at float32 precision (a float32 round trip)", benign=True
    )


def _rounding(x: np.ndarray, y: np.ndarray, tol: float = FIT_TOLERANCE) -> Finding | None:
    """online = offline rounded to k decimals: the smallest k that explains the most pairs."""
    best = None
    for decimals in range(MAX_DECIMALS + 1):
        units = y * 10.0**decimals
        slack = 1e-6 + tol * np.abs(units)  # a value on the grid, as stored
        on_grid = np.abs(units - np.round(units)) <= slack
        near = np.abs(y - x) * 10.0**decimals <= 0.5 + slack
        explained = int(np.count_nonzero(on_grid & near))
        if best is None or explained > best.explained:
            unit = "decimal" if decimals == 1 else "decimals"
            best = Finding(
                Cause.ROUNDING,
                explained,
                f"online = offline rounded to {decimals} {unit}",
                params={"decimals": decimals},
            )
        if explained == x.size:
            break
    return best


def _scale(x: np.ndarray, y: np.ndarray, tol: float = FIT_TOLERANCE) -> Finding | None:
    usable = (x != 0) & np.isfinite(x) & np.isfinite(y)
    if not usable.any():
        return None
    factor = _nice_number(float(np.median(y[usable] / x[usable])), tol / 2)
    if factor == 0 or _close(np.array([factor]), np.array([1.0]), FLOAT32_RESOLUTION)[0]:
        return None
    explained = int(np.count_nonzero(_close(x * factor, y, tol)))
    return Finding(Cause.SCALE, explained, f"online = offline × {_nice(factor)}", params={"factor": factor})


def _offset(x: np.ndarray, y: np.ndarray, tol: float = FIT_TOLERANCE) -> Finding | None:
    usable = np.isfinite(x) & np.isfinite(y)
    if not usable.any():
        return None
    scale = float(np.median(np.maximum(np.abs(x[usable]), np.abs(y[usable]))))
    shift = float(np.median(y[usable] - x[usable]))
    if abs(shift) <= FLOAT32_RESOLUTION * scale:
        return None  # a shift this small is precision
    shift = _nice_number(shift, tol / 2 * scale / abs(shift))
    explained = int(np.count_nonzero(_close(x + shift, y, tol)))
    sign = "+" if shift > 0 else "−"
    return Finding(Cause.OFFSET, explained, f"online = offline {sign} {_nice(abs(shift))}", params={"offset": shift})


TIME_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000}


def _time_offset(values: pl.DataFrame, dtype: pl.DataType) -> Finding | None:
    """online = offline shifted by a constant duration (a timezone or clock bug)."""
    x = values.get_column("offline").to_physical().cast(pl.Int64).to_numpy()
    y = values.get_column("online").to_physical().cast(pl.Int64).to_numpy()
    if not x.size:
        return None
    gaps = y - x
    shift = int(np.median(gaps))
    if shift == 0:
        return None
    explained = int(np.count_nonzero(gaps == shift))
    unit = 86_400 * 10**9 if dtype == pl.Date else 1 if dtype == pl.Time else TIME_UNITS[dtype.time_unit]
    nanos = shift * unit
    shown = ("+" if nanos > 0 else "-") + _compact_duration(abs(nanos))
    return Finding(Cause.OFFSET, explained, f"online = offline {shown}", params={"offset": shown})


def _compact_duration(nanoseconds: int) -> str:
    """A duration as a person writes it, largest units first: 1h, 1h30m, 1d12h, 1s500ms."""
    parts, rest = [], nanoseconds
    for unit, size in (("d", 86_400 * 10**9), ("h", 3_600 * 10**9), ("m", 60 * 10**9), ("s", 10**9)):
        amount, rest = divmod(rest, size)
        if amount:
            parts.append(f"{amount}{unit}")
    for unit, size in (("ms", 10**6), ("us", 10**3), ("ns", 1)):
        amount, rest = divmod(rest, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0s"


# Relabellings kept in the machine-readable params (`labels` gives the full count), and the
# longest label kept there: a longer one is left out rather than cut, so every entry is exact.
MAPPING_PARAMS = 100
LABEL_PARAM_CHARS = 1_000
# Characters of a value quoted in a sentence.
QUOTED_CHARS = 60


def quoted(value) -> str:
    """repr(value), cut to QUOTED_CHARS: a sentence names a value, it does not print it."""
    text = repr(value)
    return text if len(text) <= QUOTED_CHARS else text[: QUOTED_CHARS - 1] + "…"


def _category_remap(values: pl.DataFrame) -> Finding | None:
    """A consistent one-to-one relabelling: each offline label always becomes the same online label."""
    pairs = (
        values.group_by("offline", "online")
        .len()
        .sort(["len", "offline", "online"], descending=[True, False, False], nulls_last=True)
    )
    mapping = pairs.unique(subset="offline", keep="first", maintain_order=True)
    mapping = mapping.unique(subset="online", keep="first", maintain_order=True)
    explained = int(mapping.get_column("len").sum())
    shown = ", ".join(f"{quoted(a)}→{quoted(b)}" for a, b in mapping.select("offline", "online").head(8).iter_rows())
    more = f" (+{mapping.height - 8} more)" if mapping.height > 8 else ""
    short = mapping.filter(
        *(pl.col(side).cast(pl.String).str.len_chars() <= LABEL_PARAM_CHARS for side in ("offline", "online"))
    )
    kept = dict(short.select("offline", "online").head(MAPPING_PARAMS).iter_rows())
    return Finding(
        Cause.CATEGORY_REMAP,
        explained,
        f"online relabels offline values: {shown}{more}",
        params={"mapping": kept, "labels": mapping.height},
    )


def _stale(pairs: pl.DataFrame, history: Callable[[pl.DataFrame], pl.DataFrame]) -> Finding | None:
    """online equals an earlier offline value of the same key."""
    lags = history(pairs.head(STALE_SAMPLE))
    found = lags.get_column("lag").drop_nulls()
    if not found.len():
        return None
    explained = round(found.len() / lags.height * pairs.height)
    lag = found.median()
    return Finding(
        Cause.STALE,
        explained,
        f"online equals the offline value of the same key {_lag(lag)} earlier",
        params={"lag": _compact_duration(round(lag.total_seconds()) * 10**9)},
    )


def _lag(lag) -> str:
    seconds = lag.total_seconds()
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            value = seconds / size
            shown = f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"
            return f"{shown} {unit}{'' if shown == '1' else 's'}"
    return f"{seconds:g} seconds"


def _nice_number(value: float, tol: float) -> float:
    """The shortest decimal within `tol` (relative) of a fitted number: 100.00012 -> 100.0 at float32."""
    for digits in range(16):
        rounded = round(value, digits)
        if abs(value - rounded) <= tol * abs(value):
            return rounded
    return value


def _nice(value: float) -> str:
    """A fitted number as a person would write it: 100, 0.01, 1.5, 3.7e-05."""
    for digits in range(7):
        if abs(value - round(value, digits)) <= 1e-9 * max(abs(value), 1e-12):
            return f"{round(value, digits):g}" if digits else f"{round(value):g}"
    return f"{value:.6g}"
