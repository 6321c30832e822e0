"""Compare: per feature, row-level agreement, null rates, schema gaps and one distribution test.

Feature columns are read a few at a time (parquet reads only those columns), so the memory
used stays near the size of a handful of columns, whatever the width of the inputs.
"""

from __future__ import annotations

import sys
import warnings
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import polars as pl

from ._align import OFFLINE_ROW, ONLINE_ROW, Alignment, align
from ._columns import (
    abs_diff,
    agree,
    common_type,
    dtype_name,
    finite_values,
    kind_of,
    nan_rate,
    null_rate,
    same_kind,
)
from ._diagnose import diagnose_rows, diagnose_type, diagnose_values
from ._errors import SkewcheckInputError, SkewcheckWarning
from ._io import Source, load
from ._model import (
    Cause,
    Diagnosis,
    DomainGap,
    Example,
    FeatureResult,
    NullRates,
    Reason,
    SkewReport,
    ValueResult,
    Verdict,
)
from ._run import WORKERS, column_chunks, read_columns, worker_pool
from ._settings import (
    DEFAULT_ABS_TOL,
    DEFAULT_EXAMPLES,
    DEFAULT_MAX_MISMATCH_RATE,
    DEFAULT_NULL_RATE_TOLERANCE,
    DEFAULT_REL_TOL,
    NUMERIC_ONLY_TESTS,
    check_compare,
)
from ._stats import distribution_test, histogram
from ._time import check_zones

# Pairs kept for the scatter plot of the HTML report.
SAMPLE_PAIRS = 200
# Values per side behind the histogram of the HTML report (a plot needs no more).
HISTOGRAM_SAMPLE = 1_000_000
# Values seen on one side only that a domain gap lists.
DOMAIN_EXAMPLES = 5


@dataclass(frozen=True)
class Settings:
    """The knobs of one comparison, kept in the report."""

    abs_tol: float = DEFAULT_ABS_TOL
    rel_tol: float = DEFAULT_REL_TOL
    max_mismatch_rate: float = DEFAULT_MAX_MISMATCH_RATE
    null_rate_tolerance: float = DEFAULT_NULL_RATE_TOLERANCE
    examples: int = DEFAULT_EXAMPLES
    tests: Mapping[str, str] | str | None = None
    diagnose: bool = True

    def test_for(self, name: str, kind: str) -> str | None:
        """The test asked for this feature; a test for all features applies where it can."""
        if self.tests is None or isinstance(self.tests, str):
            return None if self.tests in NUMERIC_ONLY_TESTS and kind != "numeric" else self.tests
        test = self.tests.get(name)
        if test in NUMERIC_ONLY_TESTS and kind != "numeric":
            raise SkewcheckInputError(f"test {test!r} needs a numeric feature, but {name!r} is {kind}")
        return test


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
) -> SkewReport:
    """Compare offline (training) feature values with online (served) ones.

    Parameters
    ----------
    offline, online : path or frame
        Parquet, CSV or NDJSON paths, or polars, pandas or pyarrow tables. Offline first.
        Offline may also be a `Profile` (or its .json file): then only distributions, null
        rates and schemas are compared, against the profile's statistics.
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

    Returns
    -------
    SkewReport

    Raises
    ------
    SkewcheckInputError
        Missing or unreadable input, absent or incompatible key columns, and the like.

    Examples
    --------
    >>> import polars as pl, skewcheck
    >>> offline = pl.DataFrame({"user_id": [1, 2, 3], "spend": [10.0, 20.0, 30.0]})
    >>> online = pl.DataFrame({"user_id": [1, 2, 3], "spend": [10.0, 20.0, 3000.0]})
    >>> report = skewcheck.compare(offline, online, keys="user_id")
    >>> report.passed, report["spend"].values.mismatched
    (False, 1)
    """
    from ._profile import compare_profile, is_profile  # here: _profile builds on this module

    checked = check_compare(
        keys=keys, timestamp=timestamp, features=features, asof=asof, asof_tolerance=asof_tolerance, abs_tol=abs_tol,
        rel_tol=rel_tol, max_mismatch_rate=max_mismatch_rate, null_rate_tolerance=null_rate_tolerance, tests=tests,
        examples=examples, diagnose=diagnose, fail_on=fail_on, progress=progress,
    )
    if is_profile(offline):
        return compare_profile(offline, online, keys=keys, timestamp=timestamp, features=features, tests=tests,
                               null_rate_tolerance=null_rate_tolerance)
    key_list, features, gate = checked.keys, checked.features, Verdict(checked.fail_on)
    settings = Settings(abs_tol, rel_tol, max_mismatch_rate, null_rate_tolerance, examples, tests, diagnose)
    off, on = load(offline, role="offline"), load(online, role="online")
    names = _feature_names(off, on, key_list, timestamp, features)
    alignment, rows = None, None
    if key_list:
        alignment = align(off, on, keys=key_list, timestamp=timestamp, asof=asof, tolerance=checked.asof_tolerance)
        rows = alignment.counts
        if diagnose:  # the counts with why few rows joined, when that can be told
            rows = replace(rows, diagnosis=diagnose_rows(alignment.offline_keys, alignment.online_keys,
                                                         list(alignment.keys), alignment.timestamp, rows.matched,
                                                         alignment.user_names()))

    results: list[FeatureResult] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SkewcheckWarning)
        # Features are compared in threads (numpy and polars release the GIL), the next chunk
        # being read meanwhile; at most two chunks are compared at once, which bounds memory.
        chunks = list(column_chunks(names, max(off.rows, on.rows)))
        in_flight: deque[list[tuple[str, Future]]] = deque()
        with _progress(len(names), enabled=progress) as advance, worker_pool(WORKERS) as pool, worker_pool(1) as reader:
            next_read = reader.submit(_read_both, off, on, chunks[0])
            for index, chunk in enumerate(chunks):
                off_columns, on_columns = next_read.result()
                if index + 1 < len(chunks):
                    next_read = reader.submit(_read_both, off, on, chunks[index + 1])
                in_flight.append([
                    (name, pool.submit(_compare_feature, name, off_columns.get(name), on_columns.get(name),
                                       alignment, settings))
                    for name in chunk
                ])
                del off_columns, on_columns
                while len(in_flight) > (1 if index + 1 < len(chunks) else 0):
                    for name, job in in_flight.popleft():
                        results.append(job.result())
                        advance(name)
    notes = tuple(sorted({f"{w.message}" for w in caught if issubclass(w.category, SkewcheckWarning)}))
    for note in notes:
        warnings.warn(note, SkewcheckWarning, stacklevel=2)

    results.sort(key=lambda f: f.severity, reverse=True)
    report_warnings = list(notes)
    if alignment is not None and alignment.counts.matched == 0:
        hint = "; if OFFLINE is a feature table with history, try an as-of join (--asof)" if timestamp and not asof else ""
        report_warnings.insert(0, f"no rows matched on the keys: values could not be compared{hint}")
    failing = {Verdict.SKEW} | ({Verdict.DRIFT} if gate is Verdict.DRIFT else set())
    passed = not any(f.verdict in failing for f in results) and (alignment is None or alignment.counts.matched > 0)
    return SkewReport(
        passed=passed,
        features=tuple(results),
        keys=tuple(key_list),
        timestamp=timestamp,
        rows=rows,
        offline_label=off.label,
        online_label=on.label,
        settings={
            "abs_tol": abs_tol, "rel_tol": rel_tol, "max_mismatch_rate": max_mismatch_rate,
            "null_rate_tolerance": null_rate_tolerance, "asof": asof,
            "asof_tolerance": str(asof_tolerance) if asof_tolerance is not None else None,
            "tests": dict(tests) if isinstance(tests, Mapping) else tests,
        },
        warnings=tuple(report_warnings),
        fail_on=gate,
    )


def _feature_names(
    off: Source, on: Source, keys: list[str], timestamp: str | None, features: Sequence[str] | None
) -> list[str]:
    reserved = set(keys) | ({timestamp} if timestamp else set())
    if features is not None:
        names = list(dict.fromkeys(features))
        for name in names:
            if name in reserved:
                raise SkewcheckInputError(f"feature {name!r} is also a key or the timestamp; leave it out of `features`")
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


def _read_both(off: Source, on: Source, names: list[str]) -> tuple[dict[str, pl.Series], dict[str, pl.Series]]:
    return read_columns(off, names), read_columns(on, names)


@contextmanager
def _progress(total: int, *, enabled: bool | None):
    """Yield a callable that advances a progress bar on stderr (a no-op when disabled)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield lambda name: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("comparing {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("features", total=total)
        yield lambda name: bar.update(task, advance=1, description=name)


def _compare_feature(
    name: str, off: pl.Series | None, on: pl.Series | None, alignment: Alignment | None, settings: Settings
) -> FeatureResult:
    present = off if off is not None else on
    kind = kind_of(present.dtype)
    nulls = NullRates(
        offline_rate=null_rate(off), online_rate=null_rate(on),
        offline_nan_rate=nan_rate(off), online_nan_rate=nan_rate(on),
    )
    dtypes = {"dtype_offline": dtype_name(off), "dtype_online": dtype_name(on)}
    missing = _missing_side(off, on)
    if missing:
        side = "offline" if "offline" in missing else "online"
        return FeatureResult(
            name=name, verdict=Verdict.SKEW, kind=kind, nulls=nulls, **dtypes, reasons=(Reason.MISSING,),
            diagnosis=Diagnosis(Cause.MISSING, missing, params={"side": side}),
        )
    if off.null_count() == off.len() and on.null_count() == on.len():
        warnings.warn(f"feature {name!r} is null on both sides: nothing to compare", SkewcheckWarning, stacklevel=2)
        return FeatureResult(name=name, verdict=Verdict.OK, kind=kind, nulls=nulls, **dtypes,
                             notes=("null on both sides",))

    reasons: list[Reason] = []
    notes: list[str] = []
    diagnosis = None
    original = (off, on)
    if not same_kind(off.dtype, on.dtype):
        reasons.append(Reason.TYPE)
        notes.append(f"types differ: {off.dtype} offline, {on.dtype} online; values compared as text")
        off, on, kind = off.cast(pl.String), on.cast(pl.String), "categorical"
    elif off.dtype != on.dtype:
        notes.append(f"dtype differs ({off.dtype} offline, {on.dtype} online): the values decide")
        off, on = common_type(off, on)

    values = None
    if alignment is not None:
        values, mismatch = _compare_values(off, on, alignment, kind, settings)
        if values.mismatched and values.mismatch_rate > settings.max_mismatch_rate:
            reasons.append(Reason.VALUES)
            if settings.diagnose:
                diagnosis, benign = _diagnose(off, on, alignment, mismatch, kind, settings)
                if benign:
                    reasons.remove(Reason.VALUES)
        if Reason.TYPE in reasons:
            diagnosis = diagnose_type(*(side.gather(alignment.pairs.get_column(row)) for side, row in
                                        zip(original, (OFFLINE_ROW, ONLINE_ROW))))
        if alignment.asof:  # the offline side is a history: describe the rows that were served
            off = off.gather(alignment.pairs.get_column(OFFLINE_ROW))
            nulls = replace(nulls, offline_rate=null_rate(off), offline_nan_rate=nan_rate(off))

    distribution = hist = domain = None
    clean_off, clean_on = finite_values(off, kind), finite_values(on, kind)
    if kind in ("numeric", "categorical", "temporal") and clean_off.len() and clean_on.len():
        test_kind = "categorical" if kind == "categorical" else "numeric"
        distribution = distribution_test(clean_off, clean_on, kind=test_kind, test=settings.test_for(name, test_kind))
        if distribution.drifted:
            reasons.append(Reason.DISTRIBUTION)
    elif kind in ("numeric", "categorical", "temporal"):
        warnings.warn(f"feature {name!r} has no values on one side after dropping nulls and NaN",
                      SkewcheckWarning, stacklevel=2)
    if kind == "categorical":
        domain = _domain_gap(clean_off, clean_on)
    if nulls.gap > settings.null_rate_tolerance:
        reasons.append(Reason.NULLS)
    if reasons and distribution is not None:  # plotted in the HTML report: a sample draws the same picture
        hist = histogram(*(_spread(side, HISTOGRAM_SAMPLE) for side in (clean_off, clean_on)),
                         kind="categorical" if kind == "categorical" else "numeric")
    verdict = _verdict(reasons, values)
    if verdict is Verdict.DRIFT:
        diagnosis = Diagnosis(
            Cause.NONE,
            f"values agree on all {values.compared:,} matched pairs: the {' and '.join(r.value for r in reasons)} "
            "differ because the two sides hold different rows (drift, not a computation bug)",
        )
    return FeatureResult(
        name=name, verdict=verdict, kind=kind, nulls=nulls, **dtypes, values=values,
        distribution=distribution, domain=domain, diagnosis=diagnosis, reasons=tuple(reasons),
        notes=tuple(notes), histogram=hist,
    )


def _verdict(reasons: list[Reason], values: ValueResult | None) -> Verdict:
    """Skew when a row differs (or the feature is missing or of another kind); drift when the
    matched pairs all agree and only the populations differ. Without matched pairs a
    population difference is the only evidence, and counts as skew."""
    if not reasons:
        return Verdict.OK
    if {Reason.MISSING, Reason.TYPE, Reason.VALUES} & set(reasons):
        return Verdict.SKEW
    return Verdict.DRIFT if values is not None and values.compared else Verdict.SKEW


def _diagnose(
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
            same = agree(pl.col("value"), pl.col("online"), history.schema["value"], abs_tol=settings.abs_tol, rel_tol=settings.rel_tol)
        else:
            same = pl.col("value") == pl.col("online")
        lags = joined.filter(same).group_by("__pair").agg(
            lag=(pl.col(timestamp) - pl.col(f"{timestamp}__history")).min()
        )
        return candidates.join(lags, on="__pair", how="left").sort("__pair").select("lag")

    return lookup


def _missing_side(off: pl.Series | None, on: pl.Series | None) -> str | None:
    """Why a feature cannot be compared at all: absent or all-null on one side."""
    if off is None:
        return "absent from the offline data"
    if on is None:
        return "absent from the online data"
    off_empty, on_empty = off.null_count() == off.len(), on.null_count() == on.len()
    if off_empty and not on_empty:
        return "all null in the offline data"
    if on_empty and not off_empty:
        return "all null in the online data"
    return None


def _compare_values(
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
    flags = frame.lazy().select(  # one lazy query: shared parts are computed once
        (null_offline_only | null_online_only | (both & ~equal)).alias("mismatch"),
        null_offline_only.sum().alias("null_offline_only"),
        null_online_only.sum().alias("null_online_only"),
        diff.max().alias("max_diff"),
    ).collect()
    mismatch = flags.get_column("mismatch")
    totals = flags.drop("mismatch").row(0, named=True) if flags.height else {
        "null_offline_only": 0, "null_online_only": 0, "max_diff": None}
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
    """A deterministic sample of numeric pairs for the scatter plot: mismatches, then the rest."""
    wrong = mismatch.arg_true().head(SAMPLE_PAIRS // 4)
    right = (~mismatch).arg_true()
    right = right.gather_every(max(1, right.len() // SAMPLE_PAIRS)).head(SAMPLE_PAIRS - wrong.len())
    rows = frame[pl.concat([wrong, right])].drop_nulls()
    return tuple(rows.select(pl.all().cast(pl.Float64)).iter_rows())


def _spread(series: pl.Series, n: int) -> pl.Series:
    """At most about `n` values, evenly spread over the series (deterministic)."""
    return series.gather_every(max(1, series.len() // n))


def _domain_gap(off: pl.Series, on: pl.Series) -> DomainGap | None:
    off_values, on_values = off.unique(), on.unique()
    off_only = off_values.filter(~off_values.is_in(on_values.implode())).sort()
    on_only = on_values.filter(~on_values.is_in(off_values.implode())).sort()
    if not (off_only.len() or on_only.len()):
        return None
    return DomainGap(
        offline_only=tuple(off_only.head(DOMAIN_EXAMPLES).to_list()),
        online_only=tuple(on_only.head(DOMAIN_EXAMPLES).to_list()),
        offline_only_count=off_only.len(),
        online_only_count=on_only.len(),
    )

