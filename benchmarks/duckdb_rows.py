"""The row-level peer: the same comparison written as one DuckDB SQL query, as a practitioner would.

Usage: python duckdb_rows.py OFFLINE.parquet ONLINE.parquet RESULT.json --key id [--key ...]
                             [--timestamp ts] [--abs-tol X] [--rel-tol X]

One query over both parquet files, FULL OUTER JOIN on the keys and the timestamp, computes for every
feature (every column of both files but the keys and the timestamp):

- the pairs compared (rows that joined) and the pairs that mismatch: ``IS DISTINCT FROM`` beyond the
  tolerance skewcheck uses by default (floats agree when equal, NaN with NaN, or both finite and
  ``|a - b| <= abs_tol + rel_tol * max(|a|, |b|)``; integers when equal or within ``abs_tol``), so a
  null on one side only is a mismatch;
- the pairs null on the offline side only and on the online side only;
- the largest ``|a - b|`` over the pairs where both are finite;
- the null and NaN rates of each side;

and the row counts: rows per side, matched, offline only, online only. DuckDB uses all cores (its
default; set explicitly below), as polars does for skewcheck.

What it does not compute, and skewcheck's default report does: the first mismatching pairs in key
order (examples), the scatter sample, a distribution test per feature (the normalised Wasserstein
distance over all values), the naming of the cause (diagnosis, with its look-up of earlier offline
rows for stale values), and duplicate or null keys (skewcheck joins only the first row of a
repeated key; this query would pair every repeat: the benchmark data has unique keys). It is
therefore the lower bound of the work, not the same work: the count part of it.

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


def feature_sql(name: str, dtype: str, abs_tol: float, rel_tol: float) -> list[str]:
    """The aggregates of one feature, over the joined rows (`o` offline, `n` online)."""
    a, b = f'o."{name}"', f'n."{name}"'
    both = "o.__present AND n.__present"
    if dtype in FLOAT_TYPES:  # compared as doubles, as skewcheck does
        x, y = f"{a}::DOUBLE", f"{b}::DOUBLE"
        finite = f"isfinite({x}) AND isfinite({y})"
        diff = f"abs({x} - {y})"
        within = f"{finite} AND {diff} <= {abs_tol!r} + {rel_tol!r} * greatest(abs({x}), abs({y}))"
        nan_a, nan_b = f"isnan({a})", f"isnan({b})"
    else:  # integers: exact, in a type wide enough for any difference
        finite, nan_a, nan_b = "true", "false", "false"
        diff = f"abs({a}::HUGEINT - {b}::HUGEINT)::DOUBLE"
        within = f"{diff} <= {abs_tol!r}" if abs_tol > 0 else "false"
    mismatch = f"{a} IS DISTINCT FROM {b} AND NOT coalesce({within}, false)"
    return [
        f'count(*) FILTER ({both} AND {mismatch}) AS "{name}.mismatched"',
        f'count(*) FILTER ({both} AND {a} IS NULL AND {b} IS NOT NULL) AS "{name}.null_offline_only"',
        f'count(*) FILTER ({both} AND {a} IS NOT NULL AND {b} IS NULL) AS "{name}.null_online_only"',
        f'max({diff}) FILTER ({both} AND {finite}) AS "{name}.max_abs_diff"',
        f'count(*) FILTER (o.__present AND {a} IS NULL) AS "{name}.offline_nulls"',
        f'count(*) FILTER (n.__present AND {b} IS NULL) AS "{name}.online_nulls"',
        f'count(*) FILTER (o.__present AND {nan_a}) AS "{name}.offline_nans"',
        f'count(*) FILTER (n.__present AND {nan_b}) AS "{name}.online_nans"',
    ]


def query(offline: Path, online: Path, on: list[str], features: dict[str, str], abs_tol: float, rel_tol: float) -> str:
    join = " AND ".join(f'o."{c}" = n."{c}"' for c in on)
    aggregates = [
        "count(*) FILTER (o.__present) AS offline",
        "count(*) FILTER (n.__present) AS online",
        "count(*) FILTER (o.__present AND n.__present) AS matched",
        "count(*) FILTER (n.__present IS NULL) AS offline_only",
        "count(*) FILTER (o.__present IS NULL) AS online_only",
    ]
    for name, dtype in features.items():
        aggregates += feature_sql(name, dtype, abs_tol, rel_tol)
    body = ",\n  ".join(aggregates)
    return (
        f"WITH o AS (SELECT *, true AS __present FROM read_parquet('{offline}')),\n"
        f"     n AS (SELECT *, true AS __present FROM read_parquet('{online}'))\n"
        f"SELECT\n  {body}\nFROM o FULL OUTER JOIN n ON {join}"
    )


def compare(offline: Path, online: Path, on: list[str], abs_tol: float, rel_tol: float) -> dict:
    connection = duckdb.connect()
    connection.execute(f"SET threads TO {os.cpu_count() or 1}")
    schemas = [
        {row[0]: row[1] for row in connection.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()}
        for path in (offline, online)
    ]
    features = {name: dtype for name, dtype in schemas[0].items() if name in schemas[1] and name not in on}
    cursor = connection.execute(query(offline, online, on, features, abs_tol, rel_tol))
    row = dict(zip((d[0] for d in cursor.description), cursor.fetchone()))
    rows = {k: row[k] for k in ("offline", "online", "matched", "offline_only", "online_only")}
    result = {}
    for name in features:
        values = {k.split(".", 1)[1]: v for k, v in row.items() if k.startswith(f"{name}.")}
        result[name] = {
            "compared": rows["matched"],
            "mismatched": values["mismatched"],
            "null_offline_only": values["null_offline_only"],
            "null_online_only": values["null_online_only"],
            "max_abs_diff": values["max_abs_diff"],
            "offline_null_rate": values["offline_nulls"] / rows["offline"] if rows["offline"] else 0.0,
            "online_null_rate": values["online_nulls"] / rows["online"] if rows["online"] else 0.0,
            "offline_nan_rate": values["offline_nans"] / rows["offline"] if rows["offline"] else 0.0,
            "online_nan_rate": values["online_nans"] / rows["online"] if rows["online"] else 0.0,
        }
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
