"""Row-level agreement of one feature over the matched pairs: counts, examples, the scatter sample,
and the naming of the cause (with the history lookup that tells a stale value).

Nothing here depends on row order or on how the keys are partitioned: examples are the first
mismatching pairs in key order, and the scatter and diagnosis samples the pairs of smallest key
hash (`KEY_HASH`, then the join columns), so that bucket by bucket (`_partial`) each bucket keeps
its own first ones and the merge keeps the first of those: the same pairs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from ._align import KEY_HASH, OFFLINE_ROW, ONLINE_ROW, Alignment
from ._columns import abs_diff, agree
from ._diagnose import FIT_SAMPLE, STALE_SAMPLE, diagnose_values
from ._model import Diagnosis, Example, ValueResult

if TYPE_CHECKING:
    from ._feature import Settings

# Pairs kept for the scatter plot of the HTML report.
SAMPLE_PAIRS = 200


def compare_values(
    off: pl.Series, on: pl.Series, alignment: Alignment, kind: str, settings: Settings
) -> tuple[ValueResult, pl.Series]:
    """Agreement of the matched pairs, and which pairs mismatch."""
    frame, mismatch, totals = agreement(off, on, alignment, kind, settings)
    pairs = alignment.pairs
    return ValueResult(
        compared=frame.height,
        mismatched=int(mismatch.sum()),
        null_offline_only=int(totals["null_offline_only"]),
        null_online_only=int(totals["null_online_only"]),
        max_abs_diff=float(totals["max_diff"]) if totals["max_diff"] is not None else None,
        examples=examples(
            example_candidates(pairs, frame, mismatch, alignment.on, settings.examples),
            alignment.on,
            alignment.user_names(),
        ),
        sample=scatter(scatter_candidates(alignment, frame, mismatch), alignment.on) if kind == "numeric" else (),
    ), mismatch


def agreement(
    off: pl.Series, on: pl.Series, alignment: Alignment, kind: str, settings: Settings
) -> tuple[pl.DataFrame, pl.Series, dict]:
    """The matched pairs' values (``offline``, ``online``), which mismatch, and the counts of nulls
    on one side and the largest difference."""
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
    return frame, mismatch, totals


def example_candidates(pairs: pl.DataFrame, frame: pl.DataFrame, mismatch: pl.Series, on, n: int) -> pl.DataFrame:
    """The first `n` mismatching pairs in key order: join columns, offline, online."""
    if n <= 0:
        return pl.DataFrame()
    both = pl.concat([pairs.select(on), frame], how="horizontal").lazy()  # lazy: filter and top-k fuse
    return both.filter(mismatch).bottom_k(n, by=list(on)).collect()


def examples(candidates: pl.DataFrame, on, names: dict[str, str], n: int | None = None) -> tuple[Example, ...]:
    """The first (`n`) candidates in key order, as examples (candidates may come from many buckets);
    `names` maps the join columns `on` to the user's names."""
    if not candidates.height:
        return ()
    on = list(on)
    rows = candidates.sort(on) if n is None else candidates.bottom_k(n, by=on).sort(on)
    return tuple(
        Example(key={names[k]: row[k] for k in on}, offline=row["offline"], online=row["online"])
        for row in rows.iter_rows(named=True)
    )


def scatter_candidates(alignment: Alignment, frame: pl.DataFrame, mismatch: pl.Series) -> pl.DataFrame:
    """The pairs the scatter sample may take: the mismatching and the agreeing pairs of smallest key hash."""
    order = [KEY_HASH, *alignment.on]
    both = pl.concat([alignment.pairs.select(order), frame], how="horizontal").with_columns(mismatch=mismatch)
    wrong = _smallest(both, pl.col("mismatch"), SAMPLE_PAIRS // 4, order, alignment.hash_bound)
    return pl.concat([wrong, _smallest(both, ~pl.col("mismatch"), SAMPLE_PAIRS, order, alignment.hash_bound)])


def _smallest(frame: pl.DataFrame, where: pl.Expr, n: int, order: list[str], bound: int | None) -> pl.DataFrame:
    """The `n` rows of `frame` where `where` holds that come first in `order` (key hash first): looked for
    among the few rows at or below the hash `bound` first, which holds them when it has `n`."""
    if bound is not None:
        found = first_rows(frame.filter(where & (pl.col(KEY_HASH) <= bound)), n, order)
        if found.height == n:
            return found
    return first_rows(frame.filter(where), n, order)


def first_rows(frame: pl.DataFrame, n: int, order: list[str]) -> pl.DataFrame:
    """The first `n` rows of `frame` in `order` (KEY_HASH first), sorted: only the rows at or below
    the n-th smallest hash are sorted (a top-k over several columns is many times slower)."""
    if frame.height > n:
        frame = frame.filter(pl.col(KEY_HASH) <= frame.get_column(KEY_HASH).bottom_k(n).max())
    return frame.sort(order).head(n)


def scatter(candidates: pl.DataFrame, on) -> tuple[tuple[float, float], ...]:
    """A deterministic sample of numeric pairs for the residual figure: mismatches, then the rest.

    A pair whose offline side is null (and online a value) is kept with NaN offline, so that a
    null fill can be drawn at its fill value; NaN values themselves are left out.
    """
    order = [KEY_HASH, *on]
    wrong = first_rows(candidates.filter(pl.col("mismatch")), SAMPLE_PAIRS // 4, order)
    right = first_rows(candidates.filter(~pl.col("mismatch")), SAMPLE_PAIRS - wrong.height, order)
    rows = pl.concat([wrong, right]).select(pl.col("offline", "online").cast(pl.Float64))
    offline, online = pl.col("offline"), pl.col("online")
    rows = rows.filter(online.is_not_null() & ~online.is_nan(), ~offline.is_nan().fill_null(False))
    return tuple(rows.with_columns(offline.fill_null(float("nan"))).iter_rows())


def diagnose_mismatches(
    off: pl.Series, on: pl.Series, alignment: Alignment, mismatch: pl.Series, kind: str, settings: Settings, values
) -> tuple[Diagnosis | None, bool]:
    """Name the cause of the mismatches, looking back in the offline rows for stale values."""
    sample = diagnosis_sample(off, on, alignment, mismatch)
    if alignment.timestamp is not None:
        offline_rows = alignment.offline_keys.with_columns(off.alias("value"))
        history = history_lookup(offline_rows, list(alignment.keys), alignment.timestamp, kind, settings)
        sample = with_lags(sample, history, list(alignment.keys), alignment.timestamp)
    return diagnose_sample(sample, list(alignment.keys), alignment.timestamp, kind, values)


JOINED_AT = "__skewcheck_joined_at"


def diagnosis_sample(off: pl.Series, on: pl.Series, alignment: Alignment, mismatch: pl.Series) -> pl.DataFrame:
    """The mismatching pairs the diagnosis is fitted on: of each group (a null on one side, two
    values) the `FIT_SAMPLE` of smallest key hash, nulls first, each group in key-hash order."""
    pairs = alignment.pairs.filter(mismatch)
    order = [KEY_HASH, *alignment.on]
    frame = pairs.select(order).with_columns(
        offline=off.gather(pairs.get_column(OFFLINE_ROW)), online=on.gather(pairs.get_column(ONLINE_ROW))
    )
    if alignment.timestamp is not None:  # lags count from the offline row that was joined (as of the request)
        joined_at = alignment.offline_keys.get_column(alignment.timestamp).gather(pairs.get_column(OFFLINE_ROW))
        frame = frame.with_columns(joined_at.alias(JOINED_AT))
    return first_of_groups(frame, alignment.on)


def first_of_groups(frame: pl.DataFrame, on) -> pl.DataFrame:
    """Of each group of mismatching pairs, the `FIT_SAMPLE` of smallest key hash (frames from
    many buckets merge by this too)."""
    one_null = pl.col("offline").is_null() | pl.col("online").is_null()
    return pl.concat([first_rows(frame.filter(group), FIT_SAMPLE, [KEY_HASH, *on]) for group in (one_null, ~one_null)])


def with_lags(sample: pl.DataFrame, history, keys: list[str], timestamp: str) -> pl.DataFrame:
    """The sample with a ``lag`` column: for its first `STALE_SAMPLE` value pairs, the history lookup."""
    indexed = sample.with_row_index("__sample")
    looked = indexed.filter(pl.col("offline").is_not_null() & pl.col("online").is_not_null()).head(STALE_SAMPLE)
    candidates = looked.select(*keys, pl.col(JOINED_AT).alias(timestamp), "online")
    lags = looked.select("__sample").with_columns(history(candidates).get_column("lag"))
    return indexed.join(lags, on="__sample", how="left").sort("__sample").drop("__sample")


def diagnose_sample(
    sample: pl.DataFrame, keys: list[str], timestamp: str | None, kind: str, values
) -> tuple[Diagnosis | None, bool]:
    """The cause named from the sample (join columns `keys`, `timestamp`), its counts scaled up to
    all the mismatches of `values`."""
    nulls = values.null_offline_only + values.null_online_only
    history, key_frame = None, None
    if "lag" in sample.columns:
        history = _looked_up
        key_frame = sample.select(*keys, pl.col(JOINED_AT).alias(timestamp), "lag")
    return diagnose_values(
        sample.get_column("offline"),
        sample.get_column("online"),
        kind=kind,
        keys=key_frame,
        history=history,
        sizes=(nulls, values.mismatched - nulls),
    )


def _looked_up(pairs: pl.DataFrame) -> pl.DataFrame:
    """The lags of a sample, looked up beforehand (bucket by bucket, in the bucketed path)."""
    return pairs.select("lag")


def history_lookup(history: pl.DataFrame, keys: list[str], timestamp: str, kind: str, settings: Settings):
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
