"""The row-level peer: the same counts written as DuckDB SQL queries, as a practitioner would.

Usage: python duckdb_rows.py OFFLINE.parquet ONLINE.parquet RESULT.json --key id [--key ...]
                             [--timestamp ts] [--abs-tol X] [--rel-tol X]

Three queries, as a practitioner would write them: one over each file for the null and NaN rates of
every feature (every column of both files but the keys and the timestamp), and one that joins the
files on the keys and the timestamp and computes for every feature:

- the pairs that mismatch: ``IS DISTINCT FROM`` beyond the tolerance skewcheck uses by default
  (floats agree when equal, NaN with NaN, or when their difference is finite and
  ``|a - b| <= abs_tol + rel_tol * max(|a|, |b|)``; integers when equal or within ``abs_tol``), so a
  null on one side only is a mismatch;
- the pairs null on the offline side only and on the online side only;
- the largest ``|a - b|`` over the pairs where both are finite;

and the row counts: rows per side, matched, offline only and online only (rows minus matched: the
keys are unique). DuckDB uses all cores (its default; set explicitly below), as polars does for
skewcheck.

What it does not compute, and skewcheck's default report does: the first mismatching pairs in key
order (examples), the scatter sample, a distribution test per feature (the normalised Wasserstein
distance over all values), the naming of the cause (diagnosis, with its look-up of earlier offline
rows for stale values), and duplicate or null keys (skewcheck joins only the first row of a
repeated key; this query would pair every repeat: the benchmark data has unique keys). It is
the count part of skewcheck's work, not all of it.

benchmarks/run.py starts this in a fresh process, measures its wall time and peak memory, and checks
that its counts equal skewcheck's.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import duckdb

FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL")


def pair_aggregates(name: str, dtype: str, abs_tol: float, rel_tol: float) -> list[str]:
    """The aggregates of one feature over the joined pairs (`o` offline, `n` online)."""
    a, b = f'o."{name}"', f'n."{name}"'
    if dtype in FLOAT_TYPES:  # compared as doubles, as skewcheck does
        x, y = f"{a}::DOUBLE", f"{b}::DOUBLE"
        finite = f"isfinite({x}) AND isfinite({y})"
        diff = f"abs({x} - {y})"
        # an infinite difference (one side infinite, or an overflow) never agrees
        within = f"isfinite({x} - {y}) AND {diff} <= {abs_tol!r} + {rel_tol!r} * greatest(abs({x}), abs({y}))"
    else:  # integers: exact, in a type wide enough for any difference
        finite = "true"
        diff = f"abs({a}::HUGEINT - {b}::HUGEINT)::DOUBLE"
        within = f"{diff} <= {abs_tol!r}" if abs_tol > 0 else "false"
    return [
        f'count(*) FILTER ({a} IS DISTINCT FROM {b} AND NOT coalesce({within}, false)) AS "{name}.mismatched"',
        f'count(*) FILTER ({a} IS NULL AND {b} IS NOT NULL) AS "{name}.null_offline_only"',
        f'count(*) FILTER ({a} IS NOT NULL AND {b} IS NULL) AS "{name}.null_online_only"',
        f'max({diff}) FILTER ({finite}) AS "{name}.max_abs_diff"',
    ]


def side_aggregates(name: str, dtype: str) -> list[str]:
    """The null and NaN counts of one feature over all rows of one side."""
    nan = f'count(*) FILTER (isnan("{name}"))' if dtype in FLOAT_TYPES else "0"
    return [f'count(*) - count("{name}") AS "{name}.nulls"', f'{nan} AS "{name}.nans"']


def pairs_query(offline: Path, online: Path, on: list[str], features: dict, abs_tol: float, rel_tol: float) -> str:
    aggregates = ["count(*) AS matched"]
    for name, dtype in features.items():
        aggregates += pair_aggregates(name, dtype, abs_tol, rel_tol)
    using = ", ".join(f'"{c}"' for c in on)
    return (
        "SELECT\n  " + ",\n  ".join(aggregates) + "\n"
        f"FROM read_parquet('{offline}') AS o JOIN read_parquet('{online}') AS n USING ({using})"
    )


def side_query(path: Path, features: dict) -> str:
    aggregates = ["count(*) AS rows"] + [a for name, dtype in features.items() for a in side_aggregates(name, dtype)]
    return "SELECT\n  " + ",\n  ".join(aggregates) + f"\nFROM read_parquet('{path}')"


def fetch(connection: duckdb.DuckDBPyConnection, sql: str) -> dict:
    cursor = connection.execute(sql)
    return dict(zip((d[0] for d in cursor.description), cursor.fetchone()))


def compare(offline: Path, online: Path, on: list[str], abs_tol: float, rel_tol: float) -> dict:
    connection = duckdb.connect()
    connection.execute(f"SET threads TO {os.cpu_count() or 1}")
    schemas = [
        {row[0]: row[1] for row in connection.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()}
        for path in (offline, online)
    ]
    features = {name: dtype for name, dtype in schemas[0].items() if name in schemas[1] and name not in on}
    sides = [fetch(connection, side_query(path, features)) for path in (offline, online)]
    pairs = fetch(connection, pairs_query(offline, online, on, features, abs_tol, rel_tol))
    matched = pairs["matched"]
    rows = {
        "offline": sides[0]["rows"],
        "online": sides[1]["rows"],
        "matched": matched,
        "offline_only": sides[0]["rows"] - matched,  # keys are unique on each side
        "online_only": sides[1]["rows"] - matched,
    }
    result = {}
    for name in features:
        result[name] = {key: pairs[f"{name}.{key}"] for key in ("mismatched", "null_offline_only", "null_online_only")}
        result[name]["compared"] = matched
        result[name]["max_abs_diff"] = pairs[f"{name}.max_abs_diff"]
        for side, counts in zip(("offline", "online"), sides):
            for what in ("null", "nan"):
                share = counts[f"{name}.{what}s"] / counts["rows"] if counts["rows"] else 0.0
                result[name][f"{side}_{what}_rate"] = share
    return {"rows": rows, "features": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("offline", type=Path)
    parser.add_argument("online", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--key", action="append", required=True)
    parser.add_argument("--timestamp")
    parser.add_argument("--abs-tol", type=float, default=0.0)
    parser.add_argument("--rel-tol", type=float, default=1e-9)
    args = parser.parse_args()
    on = args.key + ([args.timestamp] if args.timestamp else [])
    args.result.write_text(json.dumps(compare(args.offline, args.online, on, args.abs_tol, args.rel_tol), indent=1))


if __name__ == "__main__":
    main()
