"""Defaults, with where they come from, and the checks of every public argument.

Each public entry point calls one `check_*` function first, before it reads any data, so a
bad argument fails at once with a `SkewcheckInputError` that names the Python parameter
(marked `name`, which the CLI rewords as its flag). A leaf: imports no computing module.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from numbers import Integral, Real
from typing import Any

from ._errors import SkewcheckInputError

# rel_tol follows math.isclose: 1e-9 forgives float64 summation order, nothing more.
DEFAULT_ABS_TOL = 0.0
DEFAULT_REL_TOL = 1e-9
# A CI gate: any matched pair that disagrees is skew, unless the user allows a share.
DEFAULT_MAX_MISMATCH_RATE = 0.0
# A gap of 5 points in the null rate changes what the model sees on 1 row in 20.
DEFAULT_NULL_RATE_TOLERANCE = 0.05
# Mismatching pairs kept per feature: enough to see a pattern, few enough to read.
DEFAULT_EXAMPLES = 5

# The distribution tests (see _stats), and those that need numbers.
TESTS = ("ks", "wasserstein", "jensenshannon", "chisquare", "psi", "linf")
NUMERIC_ONLY_TESTS = ("ks", "wasserstein")

# The units of polars' duration language that have a fixed length, down to timedelta's microsecond.
DURATION_UNITS = {
    "us": timedelta(microseconds=1),
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_DURATION = re.compile(r"(\d+)(ns|us|ms|mo|s|m|h|d|w|q|y|i)")

# Sizes of memory: KB, MB, GB, TB are powers of 1000, KiB, MiB, GiB, TiB powers of 1024 (IEC 80000-13).
SIZE_UNITS = {
    "B": 1,
    **{prefix + "B": 1000 ** (i + 1) for i, prefix in enumerate("KMGT")},
    **{prefix + "iB": 1024 ** (i + 1) for i, prefix in enumerate("KMGT")},
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*")


# compare()'s options beyond the columns, with their defaults.
_COMPARE_OPTIONS: dict[str, Any] = {
    "asof": False,
    "asof_tolerance": None,
    "abs_tol": DEFAULT_ABS_TOL,
    "rel_tol": DEFAULT_REL_TOL,
    "max_mismatch_rate": DEFAULT_MAX_MISMATCH_RATE,
    "null_rate_tolerance": DEFAULT_NULL_RATE_TOLERANCE,
    "tests": None,
    "examples": DEFAULT_EXAMPLES,
    "diagnose": True,
    "fail_on": "skew",
    "progress": None,
    "where": None,  # checked where the data is loaded (`_dataset.parse_where`)
    "where_offline": None,
    "where_online": None,
    "engine": "local",
    "client": None,
    "memory_limit": None,
    "spill_dir": None,
}
# The verdicts that can fail a report: skew always; drift only when asked (it is not a bug).
FAIL_ON = ("skew", "drift")
# Where a comparison runs: in this process, or on a Dask cluster (the `dask` extra).
ENGINES = ("local", "dask")
# --dask: a LocalCluster started for the run (local, local:N), else a scheduler address (tcp://host:8786).
_LOCAL_CLUSTER = re.compile(r"local(?::(\d+))?")
_SCHEDULER = re.compile(r"(?:[a-z][a-z0-9+.-]*://)?[^\s/:]+(?::\d+)?")


@dataclass(frozen=True)
class CompareArguments:
    """compare()'s arguments, checked and normalised."""

    keys: list[str]
    features: list[str] | None
    asof_tolerance: timedelta | None
    fail_on: str = "skew"
    memory_limit: int | None = None  # bytes


def check_compare(*, keys: Any, timestamp: Any, features: Any, **options: Any) -> CompareArguments:
    """Check compare()'s arguments (not its data); raise SkewcheckInputError naming the first bad one."""
    key_list = column_names(keys, "keys")
    check_column(timestamp, "timestamp")
    feature_list = column_names(features, "features", single=False, optional=True)
    tolerance = check_compare_options(**options)
    asof = options.get("asof", False)
    if timestamp is not None and not key_list:
        raise SkewcheckInputError(f"`timestamp` {timestamp!r} needs at least one key column to join on; pass `keys`")
    if timestamp is not None and timestamp in key_list:
        raise SkewcheckInputError(f"`timestamp` {timestamp!r} is also one of the `keys`; name it once")
    if asof and not (key_list and timestamp is not None):
        raise SkewcheckInputError("an as-of join (`asof`) needs `keys` and a `timestamp`")
    if tolerance is not None and not asof:
        raise SkewcheckInputError(
            f"`asof_tolerance` {options['asof_tolerance']!r} applies to an as-of join only; add `asof`"
        )
    memory = memory_size(options.get("memory_limit"), "memory_limit")
    return CompareArguments(key_list, feature_list, tolerance, options.get("fail_on", "skew"), memory)


def check_compare_options(**options: Any) -> timedelta | None:
    """Check compare()'s options beyond the columns (as the Feast adapter passes them on); return the tolerance."""
    unknown = sorted(set(options) - set(_COMPARE_OPTIONS))
    if unknown:
        raise SkewcheckInputError(
            f"compare() has no option `{unknown[0]}`; its options are {', '.join(_COMPARE_OPTIONS)}"
        )
    options = {**_COMPARE_OPTIONS, **options}
    check_flag(options["asof"], "asof")
    tolerance = duration(options["asof_tolerance"], "asof_tolerance")
    non_negative(options["abs_tol"], "abs_tol")
    non_negative(options["rel_tol"], "rel_tol")
    rate(options["max_mismatch_rate"], "max_mismatch_rate")
    rate(options["null_rate_tolerance"], "null_rate_tolerance")
    check_tests(options["tests"])
    count(options["examples"], "examples")
    check_flag(options["diagnose"], "diagnose")
    if options["fail_on"] not in FAIL_ON:
        raise SkewcheckInputError(
            f"`fail_on` must be one of {', '.join(map(repr, FAIL_ON))}, got {options['fail_on']!r}"
        )
    if options["progress"] is not None:
        check_flag(options["progress"], "progress")
    check_engine(options["engine"], options["client"])
    memory_size(options["memory_limit"], "memory_limit")
    check_directory(options["spill_dir"], "spill_dir")
    return tolerance


def check_engine(engine: Any, client: Any) -> None:
    """`engine` is one of ENGINES; a `client` goes with engine="dask" only."""
    if engine not in ENGINES:
        raise SkewcheckInputError(f"`engine` must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}")
    if client is not None and engine != "dask":
        raise SkewcheckInputError("`client` is the Dask client of engine='dask'; add engine='dask', or leave it out")


@dataclass(frozen=True)
class ClusterSpec:
    """Where --dask runs: a LocalCluster of `workers` processes (when `address` is None), or the
    scheduler at `address`."""

    address: str | None
    workers: int = 0


def cluster_spec(text: str) -> ClusterSpec:
    """--dask's value: ``local`` (a worker process per core), ``local:N``, or a scheduler address."""
    text = text.strip()
    local = _LOCAL_CLUSTER.fullmatch(text)
    if local:
        workers = int(local.group(1)) if local.group(1) else os.cpu_count() or 1
        if workers < 1:
            raise SkewcheckInputError(f"`dask` {text!r}: a local cluster needs at least 1 worker, e.g. local:2")
        return ClusterSpec(None, workers)
    if text.startswith("local") or not _SCHEDULER.fullmatch(text):
        raise SkewcheckInputError(
            f"`dask` {text!r} is neither local[:N] nor a scheduler address such as tcp://10.0.0.5:8786"
        )
    return ClusterSpec(text)


def check_feast(*, features: Any, timestamp: Any, compare_options: dict[str, Any]) -> None:
    """Check the Feast adapter's arguments before it queries the store."""
    column_names(features, "features")
    check_column(timestamp, "timestamp", optional=False)
    taken = sorted({"keys", "timestamp", "features"} & set(compare_options))
    if taken:
        raise SkewcheckInputError(f"`{taken[0]}` is set from the feature store's definitions; leave it out")
    check_compare_options(**compare_options)


def check_pit(
    *, event_time: Any, feature_time: Any, keys: Any, ttl: Any, features_source: Any, source_time: Any, examples: Any
) -> tuple[list[str], list[str], timedelta | None]:
    """Check audit_point_in_time()'s options: the keys, the feature time columns and the TTL."""
    check_column(event_time, "event_time", optional=False)
    feature_times = column_names(feature_time, "feature_time")
    if not feature_times:
        raise SkewcheckInputError("no feature time column given; pass `feature_time` with at least one column")
    key_list = column_names(keys, "keys")
    tolerance = duration(ttl, "ttl")
    check_column(source_time, "source_time")
    count(examples, "examples")
    if features_source is not None and not key_list:
        raise SkewcheckInputError("recomputing from `features_source` needs the entity `keys` to join on")
    return key_list, feature_times, tolerance


def check_profile_comparison(*, keys: Any, timestamp: Any, features: Any, tests: Any, null_rate_tolerance: Any) -> None:
    """Check compare_profile()'s options."""
    column_names(keys, "keys")
    check_column(timestamp, "timestamp")
    column_names(features, "features", single=False, optional=True)
    check_tests(tests)
    rate(null_rate_tolerance, "null_rate_tolerance")


# --- one argument --------------------------------------------------------------------------------


def column_names(value: Any, parameter: str, *, single: bool = True, optional: bool = False) -> list[str] | None:
    """A list of distinct column names from a name (when `single`), an iterable of names
    (a list, a tuple, a pandas Index), or None."""
    if value is None:
        return None if optional else []
    if isinstance(value, str):
        if single:
            value = [value]
        else:
            raise SkewcheckInputError(
                f"`{parameter}` must be a list of column names, got the string {value!r}; write [{value!r}]"
            )
    if not isinstance(value, Iterable) or isinstance(value, (bytes, bytearray, Mapping)):
        raise SkewcheckInputError(f"`{parameter}` must be a list of column names, got {type(value).__name__}")
    names = list(value)
    for name in names:
        if not isinstance(name, str) or not name:
            raise SkewcheckInputError(f"`{parameter}` must hold column names (non-empty text), got {name!r}")
    if parameter != "features":  # a repeated feature is compared once; a repeated key is a mistake
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise SkewcheckInputError(f"`{parameter}` names {', '.join(map(repr, repeated))} more than once")
    return list(dict.fromkeys(names))


def check_column(value: Any, parameter: str, *, optional: bool = True) -> None:
    """One column name (or None, when `optional`)."""
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        raise SkewcheckInputError(f"`{parameter}` must be a column name (non-empty text), got {value!r}")


def non_negative(value: Any, parameter: str) -> float:
    """A finite real number >= 0."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0:
        raise SkewcheckInputError(f"`{parameter}` must be a finite number >= 0, got {value!r}")
    return float(value)


def rate(value: Any, parameter: str) -> float:
    """A share, between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value <= 1:
        raise SkewcheckInputError(f"`{parameter}` must be a rate between 0 and 1, got {value!r}")
    return float(value)


def count(value: Any, parameter: str) -> int:
    """A whole number >= 0."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise SkewcheckInputError(f"`{parameter}` must be a whole number >= 0, got {value!r}")
    return int(value)


def check_flag(value: Any, parameter: str) -> None:
    """True or False, so that a string such as "no" is never taken for True."""
    if not isinstance(value, bool):
        raise SkewcheckInputError(f"`{parameter}` must be True or False, got {value!r}")


def check_tests(tests: Any) -> None:
    """None, one test name for every feature, or a mapping of feature name to test name."""
    choices = ", ".join(TESTS)
    if tests is None:
        return
    if isinstance(tests, str):
        if tests not in TESTS:
            raise SkewcheckInputError(f"`tests` {tests!r} is not a known test; choose one of {choices}")
        return
    if not isinstance(tests, Mapping):
        raise SkewcheckInputError(
            f"`tests` must be a test name or a mapping of feature name to test name, got {type(tests).__name__}"
        )
    for name, test in tests.items():
        if not isinstance(name, str) or not isinstance(test, str) or test not in TESTS:
            raise SkewcheckInputError(
                f"`tests` maps {name!r} to {test!r}: expected a feature name and one of {choices}"
            )


def memory_size(value: Any, parameter: str) -> int | None:
    """A positive size in bytes: a whole number of bytes, or text such as "2GB", "512 MiB" or "1.5GB"."""
    if value is None:
        return None
    if isinstance(value, str):
        match = _SIZE.fullmatch(value)
        unit = {name.lower(): name for name in SIZE_UNITS}.get(match.group(2).lower() or "b") if match else None
        if unit is None:
            raise SkewcheckInputError(
                f"`{parameter}` {value!r} is not a size; write it like 2GB, 512MB or 4GiB "
                f"(units: {', '.join(SIZE_UNITS)}; KB, MB, GB are powers of 1000, KiB, MiB, GiB of 1024)"
            )
        value = int(float(match.group(1)) * SIZE_UNITS[unit])
    elif isinstance(value, bool) or not isinstance(value, Integral):
        raise SkewcheckInputError(
            f"`{parameter}` must be a size such as '2GB' or a whole number of bytes, got {type(value).__name__}"
        )
    if value <= 0:
        raise SkewcheckInputError(f"`{parameter}` must be a positive size, got {value!r}")
    return int(value)


def check_directory(value: Any, parameter: str) -> None:
    """None, or an existing directory this process may write in."""
    if value is None:
        return
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise SkewcheckInputError(f"`{parameter}` must be a directory path, got {value!r}")
    if not os.path.isdir(value):
        raise SkewcheckInputError(f"`{parameter}` {str(value)!r} is not a directory; create it or choose another")
    if not os.access(value, os.W_OK | os.X_OK):
        raise SkewcheckInputError(f"`{parameter}` {str(value)!r} is not writable; choose another directory")


def duration(value: Any, parameter: str) -> timedelta | None:
    """A positive duration: a timedelta, or text of fixed units such as "7d", "12h" or "1d12h30m"."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_duration(value, parameter)
    elif not isinstance(value, timedelta):
        raise SkewcheckInputError(
            f"`{parameter}` must be a duration such as '7d' or a datetime.timedelta, got {type(value).__name__}"
        )
    if value <= timedelta(0):
        raise SkewcheckInputError(f"`{parameter}` must be a positive duration, got {value!r}")
    return value


def parse_duration(text: str, parameter: str = "ttl") -> timedelta:
    """A polars duration string of fixed units ("7d", "12h", "1d12h30m") as a timedelta.

    Raises
    ------
    SkewcheckInputError
        Empty or malformed text, or a unit without a fixed length (mo, q, y) or below a microsecond.
    """
    units = ", ".join(DURATION_UNITS)
    tokens = _DURATION.findall(text.strip())
    if not tokens or "".join(n + unit for n, unit in tokens) != text.strip():
        raise SkewcheckInputError(
            f"`{parameter}` {text!r} is not a duration; write it like 7d, 12h or 1d12h (units: {units})"
        )
    for _, unit in tokens:
        if unit not in DURATION_UNITS:
            raise SkewcheckInputError(
                f"`{parameter}` {text!r}: unit {unit!r} is not a fixed duration (months, quarters and years "
                f"vary, and timedelta stops at microseconds); use {units}, e.g. 30d"
            )
    return sum((int(n) * DURATION_UNITS[unit] for n, unit in tokens), timedelta(0))
