"""Align: join offline and online rows on the entity keys (and the timestamp).

The join is done on the key columns alone, with a row index on each side, so that the
result is a small table of row-number pairs; the compare step then reads feature columns
a few at a time and gathers them by those pairs. Rows whose key occurs more than once on
a side are counted as duplicates, and only the first of them takes part in the join.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

import polars as pl

from ._errors import SkewcheckInputError
from ._io import Source
from ._model import RowCounts
from ._time import check_zones, finer_unit, utc_instants

OFFLINE_ROW = "__skewcheck_offline_row"
ONLINE_ROW = "__skewcheck_online_row"
OFFLINE_TS = "__skewcheck_offline_timestamp"
KEY_HASH = "__skewcheck_key_hash"
JOIN_PREFIX = "__skewcheck_join_"
HASH_SEED = 20_260_101
HASH_BOUND_PAIRS = 1_000


@dataclass(frozen=True)
class Alignment:
    """The join result: counts, the matched row numbers, and every row's join columns."""

    counts: RowCounts
    pairs: pl.DataFrame  # OFFLINE_ROW, ONLINE_ROW, KEY_HASH of the join columns, and the join columns (online's, as of)
    on: tuple[str, ...]  # the internal names of the join columns: keys, then the timestamp if any
    offline_keys: pl.DataFrame  # the join columns of every offline row, in row order
    online_keys: pl.DataFrame  # the join columns of every online row, in row order
    keys: tuple[str, ...] = ()  # internal names of the key columns
    timestamp: str | None = None  # internal name of the timestamp column
    asof: bool = False
    names: tuple[str, ...] = ()  # the user's names of the join columns, in the order of `on`

    def user_names(self) -> dict[str, str]:
        """Internal join column name -> the user's column name."""
        return dict(zip(self.on, self.names))

    @cached_property
    def hash_bound(self) -> int | None:
        """The `HASH_BOUND_PAIRS`-th smallest KEY_HASH of the pairs (None if fewer): a sample of
        the pairs of smallest hash is found among those at or below it, once for all features."""
        if self.pairs.height <= HASH_BOUND_PAIRS:
            return None
        return self.pairs.get_column(KEY_HASH).bottom_k(HASH_BOUND_PAIRS).max()


def join_columns(offline: Source, online: Source, keys: list[str], timestamp: str | None) -> list[pl.Expr]:
    """Check that the join columns exist on both sides with compatible types.

    Returns the cast expressions that bring both sides to one type per column.
    """
    on = list(keys) + ([timestamp] if timestamp else [])
    casts = []
    for column in on:
        for side in (offline, online):
            if column not in side.schema:
                what = "timestamp" if column == timestamp else "key"
                raise SkewcheckInputError(
                    f"{side.label}: no {what} column {column!r} (columns: {side.column_list()}); "
                    f"pass `{'timestamp' if what == 'timestamp' else 'keys'}` with one of them"
                )
        left, right = offline.schema[column], online.schema[column]
        if column == timestamp:
            casts.append(_timestamp_cast(column, left, right, offline, online))
        else:
            casts.append(_key_cast(column, left, right, offline, online))
    return casts


def _key_cast(column: str, left: pl.DataType, right: pl.DataType, offline: Source, online: Source) -> pl.Expr:
    if left == right:
        return pl.col(column)
    if left.is_integer() and right.is_integer():
        # Int64 cannot hold a UInt64 past 2**63 - 1: mixed signedness meets at Int128.
        wide = pl.UInt64 in (left, right) and (left.is_signed_integer() or right.is_signed_integer())
        return pl.col(column).cast(pl.Int128 if wide else pl.Int64)
    if left.is_numeric() and right.is_numeric():
        return pl.col(column).cast(pl.Float64)
    raise SkewcheckInputError(
        f"key column {column!r} has incompatible types: {left} in {offline.label}, {right} in {online.label}; "
        + _cast_hint(column, left, right, offline, online)
    )


# Keys sampled to tell whether a cast would make mismatched key types join.
HINT_SAMPLE = 10_000


def _cast_hint(column: str, left: pl.DataType, right: pl.DataType, offline: Source, online: Source) -> str:
    """Would casting the text side to the other side's type make the keys join? Say so."""
    text, other = (online, offline) if left.is_numeric() else (offline, online)
    target = other.schema[column]
    if not target.is_numeric() or text.schema[column] != pl.String:
        return f"cast one side so both are {left} or both {right}"
    cast = text.frame.select(pl.col(column).str.strip_chars().cast(target, strict=False)).head(HINT_SAMPLE).collect()
    known = other.frame.select(pl.col(column)).unique().collect()
    joined = cast.join(known, on=column, how="semi").height
    verdict = "would make" if joined else "would not make"
    return (
        f"casting {text.label}'s {column!r} to {target} {verdict} them join "
        f"({joined:,} of the first {cast.height:,} rows match)"
    )


def _timestamp_cast(column: str, left: pl.DataType, right: pl.DataType, offline: Source, online: Source) -> pl.Expr:
    for dtype, side in ((left, offline), (right, online)):
        if not (isinstance(dtype, pl.Datetime) or dtype == pl.Date):
            raise SkewcheckInputError(
                f"{side.label}: timestamp column {column!r} is {dtype}, expected a date or datetime; "
                "store it as a timestamp (CSV: ISO 8601 text such as 2026-01-31T09:30:00Z)"
            )
    check_zones(column, left, right, offline.label, online.label, what="timestamp")
    return utc_instants(pl.col(column), left, finer_unit(left, right))


def align(
    offline: Source,
    online: Source,
    *,
    keys: list[str],
    timestamp: str | None,
    asof: bool = False,
    tolerance: str | timedelta | None = None,
) -> Alignment:
    """Join the two sides on keys (+ timestamp) and count what matched.

    Parameters
    ----------
    offline, online : Source
        The loaded inputs, offline first.
    keys : list of str
        Entity key columns, present on both sides.
    timestamp : str or None
        Event timestamp column, joined exactly unless `asof`.
    asof : bool
        Join each online row to the latest offline row of the same key at or before its
        timestamp (offline is then a feature table with history, such as a daily snapshot).
    tolerance : str or timedelta, optional
        With `asof`: the oldest offline row allowed, e.g. "1d" (a TTL).

    Returns
    -------
    Alignment
    """
    names = list(keys) + ([timestamp] if timestamp else [])
    on = [f"{JOIN_PREFIX}{i}" for i in range(len(names))]
    casts = [cast.alias(name) for cast, name in zip(join_columns(offline, online, keys, timestamp), on)]
    key_on, ts_on = on[: len(keys)], (on[-1] if timestamp else None)
    offline_keys = offline.frame.select(casts).collect()
    online_keys = online.frame.select(casts).collect()
    left, left_dupes, left_nulls = _first_per_key(offline_keys, on, OFFLINE_ROW)
    right, right_dupes, right_nulls = _first_per_key(online_keys, on, ONLINE_ROW)
    if asof:
        if ts_on is None:
            raise SkewcheckInputError("an as-of join (`asof`) needs a `timestamp`")
        history = left.rename({ts_on: OFFLINE_TS}).sort(OFFLINE_TS)
        pairs = (
            right.sort(ts_on)
            .join_asof(
                history,
                left_on=ts_on,
                right_on=OFFLINE_TS,
                by=key_on,
                strategy="backward",
                tolerance=tolerance,
                check_sortedness=False,
            )
            .filter(pl.col(OFFLINE_ROW).is_not_null())
            .sort(ONLINE_ROW)
            .select(OFFLINE_ROW, ONLINE_ROW, KEY_HASH, *on)
        )
        offline_unmatched = left.height - pairs.get_column(OFFLINE_ROW).n_unique()
    else:
        pairs = _exact_join(left, right, offline_keys, online_keys, on)
        offline_unmatched = left.height - pairs.height
    counts = RowCounts(
        offline=offline.rows,
        online=online.rows,
        matched=pairs.height,
        offline_only=offline_unmatched,
        online_only=right.height - pairs.height,
        duplicate_keys_offline=left_dupes,
        duplicate_keys_online=right_dupes,
        null_keys_offline=left_nulls,
        null_keys_online=right_nulls,
    )
    return Alignment(counts, pairs, tuple(on), offline_keys, online_keys, tuple(key_on), ts_on, asof, tuple(names))


def _first_per_key(keyed: pl.DataFrame, on: list[str], row: str) -> tuple[pl.DataFrame, int, int]:
    """The first row of each key, with its row number and key hash; how many rows repeat a key;
    and how many rows have a null in a join column (left out: a null never joins).

    Distinct hashes prove distinct keys, so the costly order-keeping `unique` runs only when
    some hash repeats (a duplicate key, or a rare collision that `unique` then tells apart).
    """
    keyed = keyed.with_row_index(row)
    nulls = keyed.select(pl.any_horizontal(pl.col(on).is_null()).sum()).item()
    if nulls:
        keyed = keyed.drop_nulls(on)
    keyed = keyed.with_columns(pl.struct(on).hash(HASH_SEED).alias(KEY_HASH))
    if keyed.get_column(KEY_HASH).n_unique() == keyed.height:
        return keyed, 0, nulls
    first = keyed.unique(subset=on, keep="first", maintain_order=True)
    return first, keyed.height - first.height, nulls


def _exact_join(
    left: pl.DataFrame, right: pl.DataFrame, offline_keys: pl.DataFrame, online_keys: pl.DataFrame, on: list[str]
) -> pl.DataFrame:
    """Matched row pairs, in offline row order: joined on the key hash (one fast column),
    then checked column by column so that a hash collision never pairs different keys."""
    pairs = left.select(OFFLINE_ROW, KEY_HASH).join(
        right.select(ONLINE_ROW, KEY_HASH), on=KEY_HASH, how="inner", maintain_order="left"
    )
    offline_rows, online_rows = pairs.get_column(OFFLINE_ROW), pairs.get_column(ONLINE_ROW)
    keys = offline_keys.select(on)[offline_rows]
    same = pl.select(
        pl.all_horizontal(keys.get_column(c) == online_keys.get_column(c).gather(online_rows) for c in on).fill_null(
            False
        )  # null keys never match
    ).to_series()
    return pl.concat([pairs.select(OFFLINE_ROW, ONLINE_ROW, KEY_HASH), keys], how="horizontal").filter(same)
