"""Diagnose the rows: why few rows joined, a whole-hour shift of the timestamps (a timezone bug in
a logger) or a difference in key format ("007" against "7", letter case)."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from ._diagnose import quoted
from ._model import Cause, Diagnosis

# Candidate whole-hour timestamp shifts: every UTC offset in use.
MAX_SHIFT_HOURS = 14
# A dataset-level cause is reported when it would join at least this share of the online rows.
JOIN_SHARE = 0.5


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
    if online_keys.height == 0 or matched >= JOIN_SHARE * online_keys.height:
        return None
    if timestamp is not None:
        found = _timestamp_shift(offline_keys, online_keys, keys, timestamp, matched)
        if found is not None:
            return found
    return _key_format(offline_keys, online_keys, keys, timestamp, matched, names or {})


def _timestamp_shift(
    offline_keys: pl.DataFrame, online_keys: pl.DataFrame, keys: list[str], timestamp: str, matched: int
) -> Diagnosis | None:
    gaps = (
        online_keys.select(*keys, online_ts=pl.col(timestamp))
        .join(offline_keys.select(*keys, offline_ts=pl.col(timestamp)), on=keys)
        .select(hours=(pl.col("online_ts") - pl.col("offline_ts")).dt.total_seconds() / 3600)
        .filter((pl.col("hours") != 0) & (pl.col("hours").abs() <= MAX_SHIFT_HOURS) & (pl.col("hours") % 1 == 0))
    )
    if not gaps.height:
        return None
    hours = int(gaps.get_column("hours").mode().sort().item(0))
    shifted = online_keys.with_columns(pl.col(timestamp) - pl.duration(hours=hours))
    joined = shifted.join(offline_keys, on=[*keys, timestamp], how="semi").height
    if joined < JOIN_SHARE * online_keys.height or joined <= matched:
        return None
    sign = "+" if hours > 0 else "−"
    return Diagnosis(
        Cause.TIMESTAMP_SHIFT,
        f"online timestamps are offline ones {sign} {abs(hours)} h: shifting them back joins {joined:,} of "
        f"{online_keys.height:,} online rows (a timezone bug in the logger?)",
        params={"hours": hours},
        share=joined / online_keys.height,
    )


KEY_NORMALISATIONS: dict[str, Callable[[pl.Expr], pl.Expr]] = {
    "letter case": lambda e: e.str.to_lowercase(),
    "surrounding whitespace": lambda e: e.str.strip_chars(),
    "leading zeros": lambda e: e.str.strip_chars_start("0"),
    "whitespace, case and leading zeros": lambda e: e.str.strip_chars().str.to_lowercase().str.strip_chars_start("0"),
}


def _key_format(
    offline_keys: pl.DataFrame,
    online_keys: pl.DataFrame,
    keys: list[str],
    timestamp: str | None,
    matched: int,
    names: dict[str, str],
) -> Diagnosis | None:
    text_keys = [k for k in keys if offline_keys.schema[k] == pl.String and online_keys.schema[k] == pl.String]
    on = keys + ([timestamp] if timestamp else [])
    for name, normalise in KEY_NORMALISATIONS.items():
        for key in text_keys:
            left = offline_keys.with_columns(normalise(pl.col(key)))
            right = online_keys.with_columns(normalise(pl.col(key)))
            joined = right.join(left.unique(subset=on), on=on, how="semi").height
            if joined >= JOIN_SHARE * online_keys.height and joined > matched:
                example = _key_example(offline_keys, online_keys, key, normalise)
                return Diagnosis(
                    Cause.KEY_FORMAT,
                    f"key {names.get(key, key)!r} differs in {name}{example}: ignoring it joins {joined:,} of "
                    f"{online_keys.height:,} online rows",
                    params={"key": names.get(key, key), "difference": name},
                    share=joined / online_keys.height,
                )
    return None


def _key_example(offline_keys: pl.DataFrame, online_keys: pl.DataFrame, key: str, normalise) -> str:
    left = offline_keys.select(pl.col(key).alias("offline"), norm=normalise(pl.col(key))).unique("norm")
    right = online_keys.select(pl.col(key).alias("online"), norm=normalise(pl.col(key))).unique("norm")
    pair = left.join(right, on="norm").filter(pl.col("offline") != pl.col("online")).head(1)
    if not pair.height:
        return ""
    return f" (e.g. {quoted(pair.item(0, 'offline'))} offline vs {quoted(pair.item(0, 'online'))} online)"
