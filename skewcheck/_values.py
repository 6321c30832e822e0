"""Row-level agreement of one feature over the matched pairs: counts, examples, the scatter sample,
and the naming of the cause (with the history lookup that tells a stale value)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from ._align import OFFLINE_ROW, ONLINE_ROW, Alignment
from ._columns import abs_diff, agree
from ._diagnose import diagnose_values
from ._model import Diagnosis, Example, ValueResult

if TYPE_CHECKING:
    from ._feature import Settings

# Pairs kept for the scatter plot of the HTML report.
SAMPLE_PAIRS = 200


def compare_values(
    off: pl.Series, on: pl.Series, alignment: Alignment, kind: str, settings: Settings
) -> tuple[ValueResult, pl.Series]:
    """Agreement of the matched pairs, and which pairs mismatch."""
    pairs = alignment.pairs
    a = off.gather(pairs.get_column(OFFLINE_ROW)).alias("offline")
    b = on.gather(pairs.get_column(ONLINE_ROW)).alias("online")
    frame = pl.DataFrame([a, b])
    offline, online = pl.col("offline"), pl.col("online")
    both = offline.is_not_null() & online.is_not_null()
    if kind == "numeric":
        equal = agree(offline, online, a.dtype, abs_tol=settings.abs_tol, rel_tol=settings.rel_tol)
        diff = abs_diff(offline, online, a.dtype)
    else:  # exact in their own type: text, booleans, dates, datetimes, durations
        equal = offline == online
        diff = pl.lit(None, dtype=pl.Float64)
    null_offline_only = offline.is_null() & online.is_not_null()
    null_online_only = offline.is_not_null() & online.is_null()
    flags = (
        frame.lazy()
        .select(  # one lazy query: shared parts are computed once
            (null_offline_only | null_online_only | (both & ~equal)).alias("mismatch"),
            null_offline_only.sum().alias("null_offline_only"),
            null_online_only.sum().alias("null_online_only"),
            diff.max().alias("max_diff"),
        )
        .collect()
    )
    mismatch = flags.get_column("mismatch")
    totals = (
        flags.drop("mismatch").row(0, named=True)
        if flags.height
        else {"null_offline_only": 0, "null_online_only": 0, "max_diff": None}
    )
    return ValueResult(
        compared=frame.height,
        mismatched=int(mismatch.sum()),
        null_offline_only=int(totals["null_offline_only"]),
        null_online_only=int(totals["null_online_only"]),
        max_abs_diff=float(totals["max_diff"]) if totals["max_diff"] is not None else None,
        examples=_examples(pairs, frame, mismatch, alignment, settings.examples),
        sample=_sample(frame, mismatch) if kind == "numeric" else (),
    ), mismatch


def _examples(pairs: pl.DataFrame, frame: pl.DataFrame, mismatch: pl.Series, alignment: Alignment, n: int):
    """The first `n` mismatching pairs in key order (so row order never changes them)."""
    on, names = alignment.on, alignment.user_names()
    if n <= 0:
        return ()
    both = pl.concat([pairs.select(on), frame], how="horizontal").lazy()  # lazy: filter and top-k fuse
    rows = both.filter(mismatch).bottom_k(n, by=on).sort(on).collect()
    return tuple(
        Example(key={names[k]: row[k] for k in on}, offline=row["offline"], online=row["online"])
        for row in rows.iter_rows(named=True)
    )


def _sample(frame: pl.DataFrame, mismatch: pl.Series) -> tuple[tuple[float, float], ...]:
    """A deterministic sample of numeric pairs for the residual figure: mismatches, then the rest.

    A pair whose offline side is null (and online a value) is kept with NaN offline, so that a
    null fill can be drawn at its fill value; NaN values themselves are left out.
    """
    wrong = mismatch.arg_true().head(SAMPLE_PAIRS // 4)
    right = (~mismatch).arg_true()
    right = right.gather_every(max(1, right.len() // SAMPLE_PAIRS)).head(SAMPLE_PAIRS - wrong.len())
    rows = frame[pl.concat([wrong, right])].select(pl.all().cast(pl.Float64))
    offline, online = pl.col("offline"), pl.col("online")
    rows = rows.filter(online.is_not_null() & ~online.is_nan(), ~offline.is_nan().fill_null(False))
    return tuple(rows.with_columns(offline.fill_null(float("nan"))).iter_rows())


def diagnose_mismatches(
    off: pl.Series, on: pl.Series, alignment: Alignment, mismatch: pl.Series, kind: str, settings: Settings
) -> tuple[Diagnosis | None, bool]:
    """Name the cause of the mismatches, looking back in the offline rows for stale values."""
    pairs = alignment.pairs.filter(mismatch)
    a, b = off.gather(pairs.get_column(OFFLINE_ROW)), on.gather(pairs.get_column(ONLINE_ROW))
    keys = pairs.select(alignment.keys)
    history = None
    if alignment.timestamp is not None:
        # Lags count from the offline row that was joined (as of the request, in an as-of join).
        joined_at = alignment.offline_keys.get_column(alignment.timestamp).gather(pairs.get_column(OFFLINE_ROW))
        keys = keys.with_columns(joined_at)
        offline_rows = alignment.offline_keys.with_columns(off.alias("value"))
        history = _history_lookup(offline_rows, list(alignment.keys), alignment.timestamp, kind, settings)
    return diagnose_values(a, b, kind=kind, keys=keys, history=history)


def _history_lookup(history: pl.DataFrame, keys: list[str], timestamp: str, kind: str, settings: Settings):
    """A function giving, for mismatching pairs, the lag to the latest earlier offline row
    of the same key that holds the online value."""

    def lookup(pairs: pl.DataFrame) -> pl.DataFrame:
        candidates = pairs.with_row_index("__pair").select("__pair", *keys, timestamp, "online")
        rows = history.join(candidates.select(keys).unique(), on=keys, how="semi")
        joined = candidates.join(rows, on=keys, suffix="__history").filter(
            pl.col(f"{timestamp}__history") < pl.col(timestamp)
        )
        if kind == "numeric":
            same = agree(
                pl.col("value"),
                pl.col("online"),
                history.schema["value"],
                abs_tol=settings.abs_tol,
                rel_tol=settings.rel_tol,
            )
        else:
            same = pl.col("value") == pl.col("online")
        lags = (
            joined.filter(same).group_by("__pair").agg(lag=(pl.col(timestamp) - pl.col(f"{timestamp}__history")).min())
        )
        return candidates.join(lags, on="__pair", how="left").sort("__pair").select("lag")

    return lookup
