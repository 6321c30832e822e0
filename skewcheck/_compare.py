"""Compare: validate, load, align on the keys, judge every feature, and report.

Feature columns are read a few at a time (parquet reads only those columns), so the memory
used stays near the size of a handful of columns, whatever the width of the inputs. An offline
side that is a profile goes to `compare_profile`, which judges its features the same way.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import polars as pl

from ._align import align, join_columns
from ._dataset import parse_where
from ._diagnose_rows import diagnose_rows
from ._errors import SkewcheckInputError, SkewcheckWarning
from ._feature import RawSide, Settings, judge
from ._io import Source, load
from ._model import SkewReport, Verdict
from ._profile import compare_profile, is_profile
from ._profile.side import check_profile_options
from ._run import read_columns, run_features, worker_pool
from ._settings import (
    DEFAULT_ABS_TOL,
    DEFAULT_EXAMPLES,
    DEFAULT_MAX_MISMATCH_RATE,
    DEFAULT_NULL_RATE_TOLERANCE,
    DEFAULT_REL_TOL,
    check_compare,
)
from ._time import check_zones


def compare(
    offline: Any,
    online: Any,
    *,
    keys: str | Sequence[str] | None = None,
    timestamp: str | None = None,
    features: Sequence[str] | None = None,
    asof: bool = False,
    asof_tolerance: str | timedelta | None = None,
    abs_tol: float = DEFAULT_ABS_TOL,
    rel_tol: float = DEFAULT_REL_TOL,
    max_mismatch_rate: float = DEFAULT_MAX_MISMATCH_RATE,
    null_rate_tolerance: float = DEFAULT_NULL_RATE_TOLERANCE,
    tests: str | Mapping[str, str] | None = None,
    examples: int = DEFAULT_EXAMPLES,
    diagnose: bool = True,
    fail_on: str = "skew",
    progress: bool | None = None,
    where: str | pl.Expr | None = None,
    where_offline: str | pl.Expr | None = None,
    where_online: str | pl.Expr | None = None,
    engine: str = "local",
    client: Any = None,
    memory_limit: int | str | None = None,
    spill_dir: str | os.PathLike | None = None,
) -> SkewReport:
    """Compare offline (training) feature values with online (served) ones.

    Parameters
    ----------
    offline, online : path, dataset or frame
        Parquet, CSV or NDJSON files (also .csv.gz, .ndjson.gz), a directory of them (hive
        partitions such as ``date=2026-11-30/`` become columns), a glob (``"logs/*.parquet"``) or a
        list of paths; or polars, pandas or pyarrow tables. Offline first.
        Offline may also be a `Profile` (or its .json file): then only distributions, null
        rates and schemas are compared, against the profile's statistics, and the options that
        need the offline rows (`asof`, `asof_tolerance`, `abs_tol`, `rel_tol`,
        `max_mismatch_rate`, `examples`, `diagnose`) are refused when set.
    keys : str or list of str, optional
        Entity key columns. With keys, rows are joined and compared value by value;
        without, only distributions, schema and null rates are compared.
    timestamp : str, optional
        Event timestamp column, joined exactly together with the keys (unless `asof`).
    features : list of str, optional
        Features to compare. Default: every column but the keys and the timestamp.
        A feature present on one side only is reported as skewed with cause ``missing``.
    asof : bool
        Join each online row to the latest offline row of the same keys at or before its
        timestamp: for an offline feature table with history (e.g. daily snapshots) against a
        serving log. The offline distribution is then that of the rows that were served.
    asof_tolerance : str or timedelta, optional
        With `asof`, the oldest offline row that may serve a request (a TTL), e.g. ``"1d"``.
    abs_tol, rel_tol : float
        Two floats agree when ``|a - b| <= abs_tol + rel_tol * max(|a|, |b|)`` (an infinity
        agrees only with the same infinity, NaN with NaN). Integers and decimals agree when
        equal, or within `abs_tol` when it is set; `rel_tol` is for floats only. Text,
        booleans, dates, datetimes and durations agree only when equal (times at the finer
        unit of the two sides).
    max_mismatch_rate : float
        Share of matched rows allowed to disagree before a feature is skewed (default 0).
    null_rate_tolerance : float
        Largest gap between the two null rates that is not skew (default 0.05).
    tests : str or dict, optional
        A distribution test for every feature, or per feature name: one of
        ``ks, wasserstein, jensenshannon, chisquare, psi, linf``. Default: chosen by type
        and size as Evidently does.
    examples : int
        Mismatching pairs kept per feature.
    diagnose : bool
        Name the likely cause of each feature's mismatches, and of rows that do not join
        (default True; turning it off saves a little time on very large inputs).
    fail_on : {"skew", "drift"}
        The verdict that fails the report: ``"skew"`` (default) fails on skew only; ``"drift"``
        fails on drift as well (matched pairs agree, but the populations differ).
    progress : bool, optional
        Show progress on stderr; default: when stderr is a terminal.
    where : str or polars.Expr, optional
        Compare only the rows, on both sides, where this holds: SQL text such as
        ``"date >= '2026-11-01'"`` or a polars expression. Each side must have the columns it
        names. On partition columns alone it selects files by their directories: the others
        are never read.
    where_offline, where_online : str or polars.Expr, optional
        A filter for one side, used on that side instead of `where` (e.g. a date of the serving
        log against a training table that has no date column).
    engine : {"local", "dask"}
        ``"local"`` (default) compares in this process; ``"dask"`` on a Dask cluster (the ``dask``
        extra), with the same result: both sides are shuffled by key hash and compared partition by
        partition on the workers, and the distribution statistics stay exact.
    client : distributed.Client, optional
        With ``engine="dask"``: the cluster's client; default: the current one
        (``distributed.default_client()``).
    memory_limit : int or str, optional
        The memory the comparison may use, in bytes or as text such as ``"2GB"`` or ``"512MiB"``
        (KB, MB, GB: powers of 1000; KiB, MiB, GiB: of 1024). Default: half the memory available
        (MemAvailable, within the cgroup's and the address-space limit). With keys, when the
        estimate of the in-memory comparison exceeds it, both inputs are split by a hash of their
        keys into buckets on disk and compared bucket by bucket: the same report, within the budget.
    spill_dir : path, optional
        Where the buckets go (a fresh folder inside it, removed afterwards). Default: the system's
        temporary directory (``TMPDIR``).

    Returns
    -------
    SkewReport

    Raises
    ------
    SkewcheckInputError
        Missing or unreadable input, absent or incompatible key columns, and the like; a bad
        argument before any data is read (its name in the error's ``parameter``).

    Examples
    --------
    >>> import polars as pl, skewcheck
    >>> offline = pl.DataFrame({"user_id": [1, 2, 3], "spend": [10.0, 20.0, 30.0]})
    >>> online = pl.DataFrame({"user_id": [1, 2, 3], "spend": [10.0, 20.0, 3000.0]})
    >>> report = skewcheck.compare(offline, online, keys="user_id")
    >>> report.passed, report["spend"].values.mismatched
    (False, 1)
    """
    arguments = {
        "keys": keys,
        "timestamp": timestamp,
        "features": features,
        "asof": asof,
        "asof_tolerance": asof_tolerance,
        "abs_tol": abs_tol,
        "rel_tol": rel_tol,
        "max_mismatch_rate": max_mismatch_rate,
        "null_rate_tolerance": null_rate_tolerance,
        "tests": tests,
        "examples": examples,
        "diagnose": diagnose,
        "fail_on": fail_on,
        "progress": progress,
        "memory_limit": memory_limit,
        "spill_dir": spill_dir,
    }
    checked = check_compare(**arguments, engine=engine, client=client)
    if engine == "dask":
        if is_profile(offline):
            raise SkewcheckInputError("a profile is compared in this process: leave out engine='dask'")
        from ._dask import compare_on_dask

        wheres = {"where": where, "where_offline": where_offline, "where_online": where_online}
        return compare_on_dask(offline, online, client=client, **arguments, **wheres)
    wheres = side_wheres(where, where_offline, where_online)
    if is_profile(offline):
        check_profile_options(
            where_offline=where_offline,
            asof=asof,
            asof_tolerance=asof_tolerance,
            abs_tol=abs_tol,
            rel_tol=rel_tol,
            max_mismatch_rate=max_mismatch_rate,
            examples=examples,
            diagnose=diagnose,
        )
        return compare_profile(
            offline,
            online,
            keys=keys,
            timestamp=timestamp,
            features=features,
            tests=tests,
            null_rate_tolerance=null_rate_tolerance,
            fail_on=fail_on,
            progress=progress,
            where=wheres["online"][0],
        )
    key_list, features, gate = checked.keys, checked.features, Verdict(checked.fail_on)
    settings = Settings(abs_tol, rel_tol, max_mismatch_rate, null_rate_tolerance, examples, tests, diagnose)
    off, on = load_sides(offline, online, wheres)
    names = _feature_names(off, on, key_list, timestamp, features)
    if key_list:
        from ._spill import compare_within_budget

        report = compare_within_budget(
            offline,
            online,
            (off, on),
            key_list + ([timestamp] if timestamp else []) + names,
            memory_limit=checked.memory_limit,
            spill_dir=spill_dir,
            progress=progress,
            **{k: v for k, v in arguments.items() if k not in ("progress", "memory_limit", "spill_dir")},
            where=where,
            where_offline=where_offline,
            where_online=where_online,
        )
        if report is not None:
            return report
    pending = None
    with worker_pool(1) as aligner:
        if key_list:  # the join runs while the first features are tested
            join_columns(off, on, key_list, timestamp)  # bad join columns fail at once
            pending = aligner.submit(
                align, off, on, keys=key_list, timestamp=timestamp, asof=asof, tolerance=checked.asof_tolerance
            )

        def read(chunk: list[str]):
            return {name: RawSide(s) for name, s in read_columns(off, chunk).items()}, read_columns(on, chunk)

        results, notes = run_features(
            names,
            max(off.rows, on.rows),
            read,
            lambda name, o, n: judge(name, o, n, settings, pending and pending.result, asof=asof),
            progress=progress,
        )
        alignment = pending and pending.result()
    rows = None
    if alignment is not None:
        rows = alignment.counts
        if diagnose:  # the counts with why few rows joined, when that can be told
            rows = replace(
                rows,
                diagnosis=diagnose_rows(
                    alignment.offline_keys,
                    alignment.online_keys,
                    list(alignment.keys),
                    alignment.timestamp,
                    rows.matched,
                    alignment.user_names(),
                ),
            )
    for note in notes:
        warnings.warn(note, SkewcheckWarning, stacklevel=2)
    return build_report(
        results,
        notes,
        rows=rows,
        keys=key_list,
        timestamp=timestamp,
        asof=asof,
        labels=(off.label, on.label),
        settings=report_settings(
            abs_tol=abs_tol,
            rel_tol=rel_tol,
            max_mismatch_rate=max_mismatch_rate,
            null_rate_tolerance=null_rate_tolerance,
            asof=asof,
            asof_tolerance=asof_tolerance,
            tests=tests,
        ),
        gate=gate,
    )


def report_settings(**arguments: Any) -> dict[str, Any]:
    """The settings a report keeps, from compare()'s arguments (the others are ignored)."""
    args = compare_arguments(**{k: v for k, v in arguments.items() if k in _PARAMETERS})
    tolerance, tests = args["asof_tolerance"], args["tests"]
    return {
        "abs_tol": args["abs_tol"],
        "rel_tol": args["rel_tol"],
        "max_mismatch_rate": args["max_mismatch_rate"],
        "null_rate_tolerance": args["null_rate_tolerance"],
        "asof": args["asof"],
        "asof_tolerance": str(tolerance) if tolerance is not None else None,
        "tests": dict(tests) if isinstance(tests, Mapping) else tests,
    }


def compare_arguments(**arguments: Any) -> dict[str, Any]:
    """compare()'s keyword arguments, with the defaults of those not given."""
    unknown = sorted(set(arguments) - set(_PARAMETERS))
    if unknown:
        raise SkewcheckInputError(f"compare() has no option `{unknown[0]}`")
    bound = inspect.signature(compare).bind(None, None, **arguments)
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items() if k not in ("offline", "online")}


def compare_settings(args: Mapping[str, Any]) -> Settings:
    """The judge's settings from compare()'s (checked) arguments."""
    return Settings(
        args["abs_tol"],
        args["rel_tol"],
        args["max_mismatch_rate"],
        args["null_rate_tolerance"],
        args["examples"],
        args["tests"],
        args["diagnose"],
    )


def build_report(
    results: list,
    notes: tuple[str, ...],
    *,
    rows,
    keys: list[str],
    timestamp: str | None,
    asof: bool,
    labels: tuple[str, str],
    settings: dict,
    gate: Verdict,
) -> SkewReport:
    """The report from the feature results (in feature order) and the warnings they raised."""
    results = sorted(results, key=lambda f: f.severity, reverse=True)
    report_warnings = list(notes)
    if rows is not None and rows.matched == 0:
        hint = (
            "; if OFFLINE is a feature table with history, try an as-of join (--asof)" if timestamp and not asof else ""
        )
        report_warnings.insert(0, f"no rows matched on the keys: values could not be compared{hint}")
    failing = {Verdict.SKEW} | ({Verdict.DRIFT} if gate is Verdict.DRIFT else set())
    passed = not any(f.verdict in failing for f in results) and (rows is None or rows.matched > 0)
    return SkewReport(
        passed=passed,
        features=tuple(results),
        keys=tuple(keys),
        timestamp=timestamp,
        rows=rows,
        offline_label=labels[0],
        online_label=labels[1],
        settings=settings,
        warnings=tuple(report_warnings),
        fail_on=gate,
    )


_PARAMETERS = tuple(inspect.signature(compare).parameters)[2:]


def side_wheres(where: Any, where_offline: Any, where_online: Any) -> dict[str, tuple[Any, str]]:
    """Each side's filter and the parameter that gave it (`where`, or the side's own), checked."""
    wheres = {
        side: (where, "where") if own is None else (own, f"where_{side}")
        for side, own in (("offline", where_offline), ("online", where_online))
    }
    for condition, parameter in wheres.values():
        if condition is not None:
            parse_where(condition, parameter)
    return wheres


def load_sides(offline: Any, online: Any, wheres: Mapping[str, tuple[Any, str]]) -> tuple[Source, Source]:
    """Both inputs loaded, each with its filter (from `side_wheres`)."""
    off, on = (
        load(data, role=side, where=wheres[side][0], where_parameter=wheres[side][1])
        for side, data in (("offline", offline), ("online", online))
    )
    return off, on


def _feature_names(
    off: Source, on: Source, keys: list[str], timestamp: str | None, features: Sequence[str] | None
) -> list[str]:
    reserved = set(keys) | ({timestamp} if timestamp else set())
    if features is not None:
        names = list(dict.fromkeys(features))
        for name in names:
            if name in reserved:
                raise SkewcheckInputError(
                    f"feature {name!r} is also a key or the timestamp; leave it out of `features`"
                )
            if name not in off.schema and name not in on.schema:
                raise SkewcheckInputError(
                    f"feature {name!r} is in neither {off.label} (columns: {off.column_list()}) "
                    f"nor {on.label} (columns: {on.column_list()})"
                )
        if not names:
            raise SkewcheckInputError("the feature list is empty")
    else:
        off_names = [c for c in off.schema.names() if c not in reserved]
        on_names = [c for c in on.schema.names() if c not in reserved]
        if not set(off_names) & set(on_names):
            raise SkewcheckInputError(
                f"no common feature columns: {off.label} has ({', '.join(off_names) or 'none'}), "
                f"{on.label} has ({', '.join(on_names) or 'none'}); rename them or pass `features`"
            )
        names = off_names + [c for c in on_names if c not in off_names]
    for name in names:
        if name in off.schema and name in on.schema:
            check_zones(name, off.schema[name], on.schema[name], off.label, on.label, what="feature")
    return names
