"""Benchmark data: deterministic offline/online parquet pairs, written once and reused.

Every file name carries the parameters (rows, features, seed) and :data:`VERSION`, so a file on
disk is reused only for the same data. Parquet is written with snappy compression, the default of
pyarrow (so of pandas) and Spark, where such files usually come from. Files are written to a temporary name and renamed, so an interrupted run never
leaves a half-written file that a later run would reuse.

Two kinds of pair:

* distribution: numeric features (20 by default) and nothing else; the online side is a fresh sample of the
  same distributions except for :data:`DRIFTED` features, whose online sample is shifted or
  stretched by far more than Evidently's Wasserstein threshold (0.1 reference std).
* rows: an ``id`` key, a ``ts`` timestamp and the features (at least 5); offline rows are in entity
  order, the online log in day order (as a serving log is written), 1% of its rows missing, with
  :data:`PLANTED` skews on a few features.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

FEATURES = 20
SEED = 42
VERSION = 2  # of the generator: bump it when the data changes, so old files are not reused
COMPRESSION = "snappy"
# Online shift of the drifted features, in offline standard deviations (Wasserstein threshold: 0.1).
# Integer features (index 3, 7, 11, ...) are shifted by a whole number, so they stay integers.
DRIFTED = {2: ("shift", 0.5), 5: ("stretch", 1.5), 8: ("shift", 0.3), 11: ("shift", 0.5), 13: ("stretch", 0.6)}
# Row-level skews planted in the online copy, by feature index.
PLANTED = {
    0: "scale x100 on 3% of rows",
    1: "rounded to 1 decimal",
    2: "float32 round-trip",
    3: "null served as -1",
    4: "stale: the entity's previous value",
}
SCALED_SHARE = 0.03
NULL_SHARE = 0.05
UNLOGGED_SHARE = 0.01
ROWS_PER_ENTITY = 10


@dataclass(frozen=True)
class Pair:
    """An offline (reference) and an online (current) parquet file, and their in-memory size."""

    offline: Path
    online: Path
    in_memory_bytes: int  # polars estimated_size() of both frames

    @property
    def paths(self) -> tuple[Path, Path]:
        return self.offline, self.online


def feature_name(index: int) -> str:
    return f"f{index:02d}"


def drifted_features(features: int = FEATURES) -> list[str]:
    return sorted(feature_name(i) for i in DRIFTED if i < features)


def planted_features(features: int = FEATURES) -> list[str]:
    return sorted(feature_name(i) for i in PLANTED if i < features)


def distribution_pair(work_dir: Path, rows: int, features: int = FEATURES, seed: int = SEED) -> Pair:
    """Offline and online samples of the features, the :data:`DRIFTED` ones drifted."""
    stem = f"distribution_r{rows}_f{features}_s{seed}_v{VERSION}"
    return _cached(work_dir, stem, lambda: _distribution_frames(rows, features, seed))


def rows_pair(work_dir: Path, rows: int, features: int = FEATURES, seed: int = SEED) -> Pair:
    """Offline rows keyed by (id, ts) and their online log, with the :data:`PLANTED` skews."""
    if features < len(PLANTED):
        raise ValueError(f"the rows data needs at least {len(PLANTED)} features, got {features}")
    stem = f"rows_r{rows}_f{features}_s{seed}_v{VERSION}"
    return _cached(work_dir, stem, lambda: _rows_frames(rows, features, seed))


def _cached(work_dir: Path, stem: str, make) -> Pair:
    offline, online, meta = (work_dir / f"{stem}_{part}" for part in ("offline.parquet", "online.parquet", "meta.json"))
    if not (offline.exists() and online.exists() and meta.exists()):
        work_dir.mkdir(parents=True, exist_ok=True)
        offline_frame, online_frame = make()
        size = offline_frame.estimated_size() + online_frame.estimated_size()
        _write_parquet(offline_frame, offline)
        del offline_frame
        _write_parquet(online_frame, online)
        del online_frame
        _write_text(json.dumps({"in_memory_bytes": size}), meta)
    return Pair(offline, online, json.loads(meta.read_text())["in_memory_bytes"])


def _write_parquet(frame: pl.DataFrame, path: Path) -> None:
    partial = path.with_suffix(".partial")
    frame.write_parquet(partial, compression=COMPRESSION)
    os.replace(partial, path)


def _write_text(text: str, path: Path) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    os.replace(partial, path)


def _sample(rng: np.random.Generator, index: int, rows: int) -> np.ndarray:
    """One feature: four families in turn, so the tools see varied shapes and an integer type."""
    family = index % 4
    if family == 0:
        return rng.normal(loc=index, scale=1 + index / 10, size=rows)
    if family == 1:
        return rng.lognormal(mean=1.0, sigma=0.5, size=rows)
    if family == 2:
        return rng.uniform(-index, index + 1, size=rows)
    return rng.poisson(lam=50 + index, size=rows)  # integers, ~60 distinct values


def _rounded(values: np.ndarray, index: int) -> np.ndarray:
    """Values as stored: two decimals (one for the uniform family); integers stay integers."""
    return values if values.dtype.kind == "i" else np.round(values, 1 if index % 4 == 2 else 2)


def _distribution_frames(rows: int, features: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    offline_rng, online_rng = (np.random.default_rng([seed, side]) for side in (0, 1))
    offline, online = {}, {}
    for index in range(features):
        reference = _sample(offline_rng, index, rows)
        current = _sample(online_rng, index, rows)
        if index in DRIFTED:
            how, amount = DRIFTED[index]
            current = _drift(reference, current, how, amount)
        offline[feature_name(index)], online[feature_name(index)] = reference, current
    return pl.DataFrame(offline), pl.DataFrame(online)


def _drift(reference: np.ndarray, current: np.ndarray, how: str, amount: float) -> np.ndarray:
    if how == "stretch":
        return reference.mean() + (current - reference.mean()) * (1 + amount)
    shift = amount * reference.std()
    return current + (round(shift) if current.dtype.kind == "i" else shift)


def _rows_frames(rows: int, features: int, seed: int, rounded: bool = False) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Offline rows and their online log; `rounded`: values with two decimals (one for the uniform family)."""
    rng = np.random.default_rng(seed)
    row = np.arange(rows)
    start = np.datetime64("2026-01-01T00:00:00", "us")
    hours = (row % ROWS_PER_ENTITY) * 24 + row // ROWS_PER_ENTITY % 24
    offline = pl.DataFrame(
        {
            "id": row // ROWS_PER_ENTITY,
            "ts": pl.Series(start + hours.astype("timedelta64[h]")).dt.replace_time_zone("UTC"),
            **{
                feature_name(i): _rounded(_sample(rng, i, rows), i) if rounded else _sample(rng, i, rows)
                for i in range(features)
            },
        }
    )
    nulls = pl.Series(rng.random(rows) < NULL_SHARE)
    offline = offline.with_columns(pl.when(nulls).then(None).otherwise(pl.col(feature_name(3))).alias(feature_name(3)))

    scaled = pl.Series(rng.random(rows) < SCALED_SHARE)
    f0, f1, f2, f3, f4 = (pl.col(feature_name(i)) for i in range(5))
    online = offline.with_columns(
        pl.when(scaled).then(f0 * 100).otherwise(f0),
        f1.round(1),
        f2.cast(pl.Float32).cast(pl.Float64),
        f3.fill_null(-1),
        pl.when(pl.col("id") == pl.col("id").shift(1)).then(f4.shift(1)).otherwise(f4),
    )
    day = (row % ROWS_PER_ENTITY).astype(np.int8)
    day_order = np.argsort(day, kind="stable")  # every entity's day 0, then day 1, ... (a radix sort)
    logged = day_order[rng.random(rows)[day_order] >= UNLOGGED_SHARE]
    return offline, online[logged]


# The scale dataset: parquet datasets (a directory of files a side, as a data lake holds a log),
# written one chunk of entities at a time so that no step holds more than a chunk in memory.
SCALE_CHUNK_ROWS = 5_000_000
SCALE_COMPRESSION = "zstd"  # what a lake writes today; with 2-decimal values it keeps 200M x 20 near 7 GB a side


@dataclass(frozen=True)
class Dataset:
    """The offline and online parquet files of the scale dataset, chunk by chunk (prefixes are smaller datasets)."""

    offline: tuple[Path, ...]
    online: tuple[Path, ...]
    chunk_rows: int
    chunk_bytes: int  # polars estimated_size() of one chunk's offline and online frames

    def first(self, rows: int) -> tuple[list[Path], list[Path]]:
        """The files of the first `rows` offline rows (a whole number of chunks)."""
        if rows % self.chunk_rows or not 0 < rows // self.chunk_rows <= len(self.offline):
            raise ValueError(f"{rows:,} rows is not a whole number of chunks of {self.chunk_rows:,} available")
        count = rows // self.chunk_rows
        return list(self.offline[:count]), list(self.online[:count])


def scale_dataset(
    work_dir: Path, rows: int, features: int = FEATURES, seed: int = SEED, chunk_rows: int = SCALE_CHUNK_ROWS
) -> Dataset:
    """The rows data at scale: offline/part-NNNNN.parquet and online/part-NNNNN.parquet under one directory.

    Each chunk holds whole entities (so a prefix of chunks is a smaller dataset of the same kind), and
    the online copy carries the :data:`PLANTED` skews of :func:`rows_pair`. Values have two decimals
    (one for the uniform family), as money and rates are stored, so the files stay small on disk
    while the frames are full size in memory (8 bytes a value). Chunks already written are reused.
    """
    if rows % chunk_rows or chunk_rows % ROWS_PER_ENTITY:
        raise ValueError(f"rows must be a multiple of the chunk size {chunk_rows:,}, itself of {ROWS_PER_ENTITY}")
    root = work_dir / f"scale_c{chunk_rows}_f{features}_s{seed}_v{VERSION}"
    paths: dict[str, list[Path]] = {"offline": [], "online": []}
    size = 0
    for chunk in range(rows // chunk_rows):
        offline, online = (root / side / f"part-{chunk:05d}.parquet" for side in ("offline", "online"))
        meta = root / "meta" / f"part-{chunk:05d}.json"
        if not (offline.exists() and online.exists() and meta.exists()):
            for path in (offline, online, meta):
                path.parent.mkdir(parents=True, exist_ok=True)
            offline_frame, online_frame = _scale_chunk(chunk, chunk_rows, features, seed)
            _write(offline_frame, offline)
            _write(online_frame, online)
            # last: a chunk counts as written only once its data files are
            _write_text(
                json.dumps({"in_memory_bytes": offline_frame.estimated_size() + online_frame.estimated_size()}), meta
            )
        size = json.loads(meta.read_text())["in_memory_bytes"]
        paths["offline"].append(offline)
        paths["online"].append(online)
    return Dataset(tuple(paths["offline"]), tuple(paths["online"]), chunk_rows, size)


def _write(frame: pl.DataFrame, path: Path) -> None:
    partial = path.with_suffix(".partial")
    frame.write_parquet(partial, compression=SCALE_COMPRESSION, row_group_size=1_000_000)
    os.replace(partial, path)


def _scale_chunk(chunk: int, rows: int, features: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    offline, online = _rows_frames(rows, features, seed=seed * 1_000_003 + chunk, rounded=True)
    first_id = chunk * (rows // ROWS_PER_ENTITY)
    shift = pl.col("id") + first_id
    return offline.with_columns(shift), online.with_columns(shift)
