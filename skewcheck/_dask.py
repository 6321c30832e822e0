"""The Dask engine: `compare(..., engine="dask")` and `profile(..., engine="dask")` on a dask.distributed cluster.

The comparison is the bucketed one of `_partial`, with Dask moving the rows:

1. **Pieces.** Each input is cut into pieces of consecutive rows: polars scans of row slices, sent to the
   workers and read there (an input already in memory is sliced on the client). `dask.dataframe.from_map`
   makes them one Dask DataFrame, each row numbered in input order (`ROW`) and given its key-hash bucket
   (`bucket_of`). Polars reads the rows, as in the local engine, so types and row order are the local
   engine's: `dask.dataframe.read_parquet` orders a dataset's files in natural order ("part-2" before
   "part-10") where polars orders them as text, and the first row of a duplicated key would differ.
2. **Shuffle.** Both sides are shuffled by bucket with ``set_index(BUCKET, divisions=(0, 1, ..., B))``:
   partition b of each side holds bucket b, so partition b of one side meets partition b of the other.
3. **Pass 1.** Every pair of partitions is compared on a worker (`compare_bucket`); the small, picklable
   partials come to the client, whose merged summaries give every tested feature its ranges. Their
   diagnosis samples are folded into one on the workers first (`pass_one`).
4. **Pass 2** (`_dask_distributions`), a group of features at a time: their distribution values, read
   again and split by range into a long frame (range, side, value), are shuffled so that each range sits
   whole on one worker, which reduces it to a `Piece`. Groups and ranges are sized to the workers'
   memory limits, so that memory stays bounded whatever the rows and features.
5. When few rows joined, one more pass gathers every pair's evidence of why (`rows_evidence`).
6. `merge` on the client: the same `SkewReport` as the local engine's.

Each pass (each group of pass 2) reads the inputs again: nothing stays in the cluster's memory between passes.
Dask reruns the tasks of a worker that dies; the pieces and tasks are pure, so the result is the same.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import polars as pl

try:
    import dask
    import dask.dataframe as dd
    import distributed
    import pandas as pd
    import pyarrow as pa
except ImportError as missing:  # the core never needs Dask; this engine is the `dask` extra
    raise ImportError(
        'the Dask engine needs dask and distributed, which are not installed: pip install "skewcheck[dask]"'
    ) from missing

from . import _partial
from ._compare import load_sides, side_wheres
from ._errors import SkewcheckInputError
from ._feature_partial import join_names
from ._io import Source, load
from ._model import SkewReport
from ._profile import Profile, merge_profiles, profile
from ._profile.build import profiled_names
from ._settings import ClusterSpec
from ._values import first_of_groups

BUCKET = "__skewcheck_bucket"
# Bytes of one piece of input (and about one bucket), at 8 bytes a value: comparing a pair of buckets
# takes several times that, well within a worker of 4 GB; big enough that the scheduler's work per
# task (about a millisecond) stays out of the way.
PIECE_BYTES = 32 * 1024 * 1024
# Pass-1 diagnosis samples folded together per task (`pass_one`).
FOLD = 8
# Attempts of a task that raised (a worker that dies is retried by the scheduler anyway).
RETRIES = 2


# --- the cluster -----------------------------------------------------------------------------------


def resolve_client(client: Any) -> distributed.Client:
    """The given client, or the current default one; an input error when there is none."""
    if client is None:
        try:
            return distributed.default_client()
        except ValueError:
            raise SkewcheckInputError(
                "engine='dask' found no Dask client: connect one first, e.g. "
                "distributed.Client('tcp://scheduler:8786') or distributed.Client(distributed.LocalCluster()), "
                "or pass it as `client`"
            ) from None
    if not isinstance(client, distributed.Client):
        raise SkewcheckInputError(f"`client` must be a distributed.Client, got {type(client).__name__}")
    return client


@contextmanager
def connect(spec: ClusterSpec) -> Iterator[distributed.Client]:
    """A client for the command line's --dask: a LocalCluster of `spec.workers` processes started for the
    run and closed after it, or a connection to the scheduler at `spec.address`."""
    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)  # one line per shuffle, at WARNING
    if spec.address is None:
        cluster = distributed.LocalCluster(
            n_workers=spec.workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        with cluster, distributed.Client(cluster) as client:
            yield client
        return
    try:
        client = distributed.Client(spec.address)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SkewcheckInputError(
            f"`dask`: cannot reach the Dask scheduler at {spec.address!r} ({str(exc).splitlines()[0]}); "
            "start one (dask scheduler) or use local:N"
        ) from None
    with client:
        yield client


def _absolute(data: Any) -> Any:
    """Paths made absolute, so that workers in other directories (or machines) read the same files."""
    if isinstance(data, (str, os.PathLike)) and "://" not in str(data):
        return os.path.abspath(data)
    if isinstance(data, (list, tuple)) and all(isinstance(item, (str, os.PathLike)) for item in data):
        return [_absolute(item) for item in data]
    return data


# --- pieces of the inputs --------------------------------------------------------------------------


def piece_count(source: Source, names: Sequence[str], minimum: int = 1) -> int:
    """How many pieces `source` is read in: about PIECE_BYTES each, at least `minimum`."""
    return max(minimum, math.ceil(source.rows * 8 * max(1, len(names)) / PIECE_BYTES))


def pieces(source: Source, names: Sequence[str], count: int) -> list[tuple[Any, int, int]]:
    """(frame, first row, rows) for `count` slices of consecutive rows of `source`: a lazy scan where it
    reads files (each worker reads its slice), else the slice itself, cut on the client."""
    step = max(1, math.ceil(source.rows / count))
    frame = source.frame.select(names)
    in_memory = "DF [" in frame.explain(optimized=False)
    return [
        (frame.slice(start, step).collect() if in_memory else frame, start, step)
        for start in range(0, source.rows, step)
    ]


def read(piece: tuple[Any, int, int]) -> pl.DataFrame:
    """The rows of one piece (on a worker)."""
    frame, start, rows = piece
    return frame if isinstance(frame, pl.DataFrame) else frame.slice(start, rows).collect()


def read_bucketed(piece: tuple[Any, int, int], bucket: pl.Expr) -> pd.DataFrame:
    """One piece's rows numbered in input order (`ROW`), with their bucket."""
    data = read(piece).with_row_index(_partial.ROW, offset=piece[1])
    return to_pandas(data.with_columns(bucket.cast(pl.Int64).alias(BUCKET)))


def to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    """A pandas frame of Arrow columns, which Dask's shuffle moves as they are."""
    return frame.to_arrow(compat_level=pl.CompatLevel.oldest()).to_pandas(types_mapper=pd.ArrowDtype)


def to_polars(frame: pd.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Back from `to_pandas`, with the input's own types."""
    data = pl.from_arrow(pa.Table.from_pandas(frame, preserve_index=False))
    casts = {name: schema[name] for name, dtype in data.schema.items() if name in schema and dtype != schema[name]}
    return data.cast(casts) if casts else data


def bucketed(source: Source, names: list[str], bucket: pl.Expr, buckets: int) -> dd.DataFrame:
    """The columns `names` of `source` as a Dask DataFrame whose partition b holds the rows of bucket b
    (`bucket` gives every row's bucket, 0 .. buckets - 1)."""
    meta = source.frame.select(names).clear().with_row_index(_partial.ROW)
    frame = dd.from_map(
        read_bucketed,
        pieces(source, names, piece_count(source, names)),
        bucket=bucket,
        meta=to_pandas(meta.with_columns(pl.lit(0, dtype=pl.Int64).alias(BUCKET)).collect()),
        label="skewcheck-read",
        enforce_metadata=False,
    )
    return frame.set_index(BUCKET, divisions=tuple(range(buckets + 1)))


def bucket_pairs(
    sides: tuple[Source, Source], names: tuple[list[str], list[str]], buckets: tuple[pl.Expr, pl.Expr], count: int
) -> list[tuple[Any, Any]]:
    """The columns `names` of both sides shuffled into `count` buckets: the (offline, online) delayed
    partitions of each bucket."""
    off, on = (bucketed(side, columns, bucket, count) for side, columns, bucket in zip(sides, names, buckets))
    return list(zip(off.to_delayed(), on.to_delayed()))


# --- the comparison --------------------------------------------------------------------------------


def compare_on_dask(offline: Any, online: Any, *, client: Any, **compare_kwargs: Any) -> SkewReport:
    """`compare(offline, online, **compare_kwargs)` on the cluster of `client`: the same report."""
    from ._dask_distributions import pass_two  # lazily: it reads the inputs with this module's pieces

    client = resolve_client(client)
    plan = _partial.plan(offline, online, **compare_kwargs)
    wheres = side_wheres(*(compare_kwargs.get(name) for name in ("where", "where_offline", "where_online")))
    sides = load_sides(_absolute(offline), _absolute(online), wheres)
    names = plan.columns("offline"), plan.columns("online")
    count = bucket_count(client, sides, names)
    buckets = _partial.bucket_of(plan, "offline", count), _partial.bucket_of(plan, "online", count)
    pairs = bucket_pairs(sides, names, buckets, count)

    partials = pass_one(client, plan, pairs)
    tests = pass_two(client, plan, partials, sides, buckets, count)
    evidence, online_rows = [], _partial.rows_to_diagnose(plan, partials)
    if online_rows is not None:  # few rows joined: why, from every pair (one more pass, a rare one)
        evidence = _compute(client, [dask.delayed(_rows_evidence)(plan, online_rows, a, b) for a, b in pairs])
    return _partial.merge(plan, partials, tests, evidence)


def bucket_count(client: distributed.Client, sides: tuple[Source, Source], names: tuple[list[str], list[str]]) -> int:
    """Buckets: as many as the pieces of the larger side, and at least one per worker thread."""
    threads = max(1, sum(client.nthreads().values()))
    return max(piece_count(side, columns, threads) for side, columns in zip(sides, names))


def _compute(client: distributed.Client, tasks: list[Any]) -> list[Any]:
    return client.gather(client.compute(tasks, retries=RETRIES))


def pass_one(client: distributed.Client, plan: _partial.Plan, pairs: list[tuple[Any, Any]]) -> list[Any]:
    """Every pair's `BucketPartial`, in order. Their diagnosis samples (up to FIT_SAMPLE mismatching
    pairs of each group, feature and bucket) are folded on the workers, FOLD at a time, into the first
    partial's: the FIT_SAMPLE first of all of them, which is what `merge` takes. So the client receives
    one sample a feature, not one a bucket."""
    partials = [dask.delayed(_compare_pair)(plan, a, b) for a, b in pairs]
    samples = [dask.delayed(_samples)(partial) for partial in partials]
    while len(samples) > 1:
        samples = [dask.delayed(_fold_samples)(plan, samples[i : i + FOLD]) for i in range(0, len(samples), FOLD)]
    *found, folded = _compute(client, [*(dask.delayed(_without_samples)(p) for p in partials), samples[0]])
    features = {name: replace(part, sample=folded[name]) for name, part in found[0].features.items()}
    return [replace(found[0], features=features), *found[1:]]


def _samples(partial: _partial.BucketPartial) -> dict[str, pl.DataFrame | None]:
    return {name: part.sample for name, part in partial.features.items()}


def _without_samples(partial: _partial.BucketPartial) -> _partial.BucketPartial:
    return replace(partial, features={name: replace(part, sample=None) for name, part in partial.features.items()})


def _fold_samples(plan: _partial.Plan, samples: list[dict[str, pl.DataFrame | None]]) -> dict[str, pl.DataFrame | None]:
    """The diagnosis samples of consecutive pairs, as one pair's (`first_of_groups` of them all, in order)."""
    on, _ = join_names(plan)
    folded = {}
    for name in samples[0]:
        found = [sample[name] for sample in samples if sample[name] is not None]
        folded[name] = first_of_groups(pl.concat(found), on) if found else None
    return folded


def _pair(plan: _partial.Plan, offline: pd.DataFrame, online: pd.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    return to_polars(offline, plan.offline_schema), to_polars(online, plan.online_schema)


def _rows_evidence(plan: _partial.Plan, online_rows: int, offline: pd.DataFrame, online: pd.DataFrame) -> Any:
    return _partial.rows_evidence(plan, *_pair(plan, offline, online), online_rows)


def _compare_pair(plan: _partial.Plan, offline: pd.DataFrame, online: pd.DataFrame) -> _partial.BucketPartial:
    return _partial.compare_bucket(plan, *_pair(plan, offline, online))


# --- profiles --------------------------------------------------------------------------------------


def profile_on_dask(data: Any, *, features: Sequence[str] | None, where: Any, client: Any) -> Profile:
    """`profile(data, features=...)` per piece on the cluster, merged with `merge_profiles`."""
    client = resolve_client(client)
    absolute = _absolute(data)
    source = load(absolute, role="data", where=where)
    label = source.label if absolute is data else load(data, role="data", where=where).label  # the path as given
    names = profiled_names(source, features)
    count = piece_count(source, names, max(1, sum(client.nthreads().values())))
    tasks = [dask.delayed(_profile_piece)(piece, names) for piece in pieces(source, names, count)]
    return replace(merge_profiles(_compute(client, tasks)), source=label)


def _profile_piece(piece: tuple[Any, int, int], names: list[str]) -> Profile:
    return profile(read(piece), features=names)
