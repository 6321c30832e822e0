"""Diagnose the rows: why few rows joined, a whole-hour shift of the timestamps (a timezone bug in
a logger) or a difference in key format ("007" against "7", letter case).

The evidence is gathered in pieces that add up over any partitioning of the keys (`RowsEvidence`,
merged by `merge_evidence`), so the bucketed path tells the same cause: per whole-hour shift, the
pairs of rows of one key that far apart and the online rows that join when shifted back; per key
normalisation, the rows whose normalised key hashes into a fixed share of the hash range (all rows
up to `KEY_SAMPLE` online rows): "007" and "7" normalise alike, so they are sampled together
wherever they are, and the joined count is scaled up from that sample.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import polars as pl

from ._diagnose import quoted
from ._model import Cause, Diagnosis

# Candidate whole-hour timestamp shifts: every UTC offset in use.
MAX_SHIFT_HOURS = 14
# A dataset-level cause is reported when it would join at least this share of the online rows.
JOIN_SHARE = 0.5
# Online rows the key-format check looks at (about; above it, a sample by hash of the normalised key).
KEY_SAMPLE = 200_000
HASH_SEED = 20_260_102


def diagnose_rows(
    offline_keys: pl.DataFrame,
    online_keys: pl.DataFrame,
    keys: list[str],
    timestamp: str | None,
    matched: int,
    names: dict[str, str] | None = None,
) -> Diagnosis | None:
    """Why few rows joined: a whole-hour timestamp shift, or a key format difference.

    `names` maps the frames' column names to the user's, for the messages.
    """
    if not needs_rows_diagnosis(matched, online_keys.height):
        return None
    evidence = rows_evidence(offline_keys, online_keys, keys, timestamp, online_keys.height)
    return rows_diagnosis(evidence, keys, timestamp, matched, online_keys.height, names)


def needs_rows_diagnosis(matched: int, online_rows: int) -> bool:
    return online_rows > 0 and matched < JOIN_SHARE * online_rows


@dataclass(frozen=True)
class RowsEvidence:
    """What some rows (all, or a bucket's) say about why few joined; merges by `merge_evidence`."""

    shifts: pl.DataFrame | None = None  # hours, pairs, joined
    formats: dict[tuple[str, str], tuple[pl.DataFrame, pl.DataFrame]] = field(default_factory=dict)


def rows_evidence(
    offline_keys: pl.DataFrame, online_keys: pl.DataFrame, keys: list[str], timestamp: str | None, online_rows: int
) -> RowsEvidence:
    """The evidence of these rows, `online_rows` being the online rows of the whole data."""
    shifts = _shifts(offline_keys, online_keys, keys, timestamp) if timestamp is not None else None
    on = keys + ([timestamp] if timestamp else [])
    text_keys = [k for k in keys if offline_keys.schema[k] == pl.String and online_keys.schema[k] == pl.String]
    share = min(1.0, KEY_SAMPLE / max(1, online_rows))
    formats = {}
    for name, normalise in KEY_NORMALISATIONS.items():
        for key in text_keys:
            formats[name, key] = tuple(
                _sampled(frame.select(on), key, normalise, share) for frame in (offline_keys, online_keys)
            )
    return RowsEvidence(shifts, formats)


def merge_evidence(parts: Iterable[RowsEvidence]) -> RowsEvidence:
    """The evidence of all the rows, from that of each part."""
    parts = list(parts)
    shifts = [p.shifts for p in parts if p.shifts is not None]
    merged = pl.concat(shifts).group_by("hours").agg(pl.col("pairs", "joined").sum()) if shifts else None
    formats = (
        {which: tuple(pl.concat([p.formats[which][i] for p in parts]) for i in (0, 1)) for which in parts[0].formats}
        if parts
        else {}
    )
    return RowsEvidence(merged, formats)


def rows_diagnosis(
    evidence: RowsEvidence,
    keys: list[str],
    timestamp: str | None,
    matched: int,
    online_rows: int,
    names: dict[str, str] | None = None,
) -> Diagnosis | None:
    """The cause of few joined rows that the evidence shows, if any."""
    if evidence.shifts is not None:
        found = _timestamp_shift(evidence.shifts, matched, online_rows)
        if found is not None:
            return found
    return _key_format(evidence, keys, timestamp, matched, online_rows, names or {})


def _shifts(offline_keys: pl.DataFrame, online_keys: pl.DataFrame, keys: list[str], timestamp: str) -> pl.DataFrame:
    """Per whole-hour gap between an online and an offline row of one key: how many such pairs,
    and how many online rows an offline row matches exactly when shifted back by it."""
    gaps = (
        online_keys.select(*keys, online_ts=pl.col(timestamp))
        .with_row_index("__online")
        .join(offline_keys.select(*keys, offline_ts=pl.col(timestamp)), on=keys)
        .select("__online", gap=pl.col("online_ts") - pl.col("offline_ts"))
        .with_columns(hours=pl.col("gap").dt.total_seconds() / 3600)
        .filter((pl.col("hours") != 0) & (pl.col("hours").abs() <= MAX_SHIFT_HOURS) & (pl.col("hours") % 1 == 0))
    )
    exact = pl.col("gap") == pl.duration(hours=pl.col("hours").cast(pl.Int64))
    return gaps.group_by("hours").agg(
        pairs=pl.len().cast(pl.Int64), joined=pl.col("__online").filter(exact).n_unique().cast(pl.Int64)
    )


def _timestamp_shift(shifts: pl.DataFrame, matched: int, online_rows: int) -> Diagnosis | None:
    if not shifts.height:
        return None
    best = shifts.sort(["pairs", "hours"], descending=[True, False]).row(0, named=True)
    hours, joined = int(best["hours"]), int(best["joined"])
    if joined < JOIN_SHARE * online_rows or joined <= matched:
        return None
    sign = "+" if hours > 0 else "−"
    return Diagnosis(
        Cause.TIMESTAMP_SHIFT,
        f"online timestamps are offline ones {sign} {abs(hours)} h: shifting them back joins {joined:,} of "
        f"{online_rows:,} online rows (a timezone bug in the logger?)",
        params={"hours": hours},
        share=joined / online_rows,
    )


KEY_NORMALISATIONS: dict[str, Callable[[pl.Expr], pl.Expr]] = {
    "letter case": lambda e: e.str.to_lowercase(),
    "surrounding whitespace": lambda e: e.str.strip_chars(),
    "leading zeros": lambda e: e.str.strip_chars_start("0"),
    "whitespace, case and leading zeros": lambda e: e.str.strip_chars().str.to_lowercase().str.strip_chars_start("0"),
}


def _sampled(frame: pl.DataFrame, key: str, normalise, share: float) -> pl.DataFrame:
    """The rows whose normalised key hashes into the first `share` of the hash range, with the key
    normalised (``__norm``) and as it was (``__raw``)."""
    normalised = frame.with_columns(pl.col(key).alias("__raw"), normalise(pl.col(key)))
    if share >= 1:
        return normalised
    return normalised.filter(pl.col(key).hash(HASH_SEED) < int(share * (2**64 - 1)))


def _key_format(
    evidence: RowsEvidence, keys: list[str], timestamp: str | None, matched: int, online_rows: int, names: dict
) -> Diagnosis | None:
    on = keys + ([timestamp] if timestamp else [])
    for (name, key), (left, right) in evidence.formats.items():
        sampled = right.join(left.unique(subset=on), on=on, how="semi").height
        joined = round(sampled * online_rows / right.height) if right.height else 0
        if joined >= JOIN_SHARE * online_rows and joined > matched:
            example = _key_example(left, right, key)
            return Diagnosis(
                Cause.KEY_FORMAT,
                f"key {names.get(key, key)!r} differs in {name}{example}: ignoring it joins {joined:,} of "
                f"{online_rows:,} online rows",
                params={"key": names.get(key, key), "difference": name},
                share=joined / online_rows,
            )
    return None


def _key_example(left: pl.DataFrame, right: pl.DataFrame, key: str) -> str:
    """The first pair (in sorted order) of an offline and an online key that normalise alike but differ."""
    pairs = (
        left.select(offline="__raw", norm=key)
        .unique()
        .join(right.select(online="__raw", norm=key).unique(), on="norm")
        .filter(pl.col("offline") != pl.col("online"))
    )
    if not pairs.height:
        return ""
    first = pairs.sort("offline", "online").row(0, named=True)
    return f" (e.g. {quoted(first['offline'])} offline vs {quoted(first['online'])} online)"
