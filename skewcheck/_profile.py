"""Profiles: per-feature statistics computed once, merged across partitions, compared later.

A profile holds what a distribution comparison needs, without the rows: counts (rows, nulls,
NaN, infinities), min and max, moments (count, mean, M2), a histogram, a quantile summary and,
for a categorical feature or a numeric one with few distinct values, the count of every value.
Temporal features are profiled as numbers (microseconds since the epoch, UTC), as compare does.

Every part merges: the profile of a union of partitions is computed from their profiles.

- Counts, nulls, min/max, value and category counts add up (or take the min/max): exact.
- Moments merge with Chan et al.'s parallel update: exact up to floating-point rounding.
- Histograms use a **binary grid**: bin width ``2**exponent``, edges at the multiples of the
  width, and the smallest exponent that covers [min, max] in at most :data:`HISTOGRAM_MAX_BINS`
  bins (bounded below so bin numbers stay exact integers). Scaling by a power of two is exact in
  floating point, so the bin of a value never depends on rounding; a wider range never needs a
  narrower bin, and a grid of width ``2**k`` is the union of pairs of bins of width ``2**(k-1)``.
  Merging therefore re-bins each histogram *exactly* onto the grid the union's range calls for,
  which is the grid a profile of the union would have chosen: merged histograms equal the
  histogram of the union, bin for bin.
- The quantile summary keeps every value (sorted) while there are at most
  :data:`SKETCH_POINTS`; above that, the :data:`SKETCH_POINTS` mid-quantiles (the values at ranks
  ``(i + 1/2) * n / SKETCH_POINTS``), each standing for ``n / SKETCH_POINTS`` rows. Merging sorts
  the weighted points and takes the mid-quantiles again: exact while the union holds at most
  ``SKETCH_POINTS`` values or the parts are exact, otherwise within a rank error of
  ``1 / (2 * SKETCH_POINTS)`` per merge. A summary differs from the data by at most
  ``(max - min) / SKETCH_POINTS`` in Wasserstein distance. (Libraries considered: Apache
  DataSketches' KLL sketch is randomised, so a profile would differ from run to run; t-digests
  merge in an order-dependent way. Neither is needed for this bound.)
- A numeric feature with at most :data:`VALUE_CAP` distinct values (the limit below which compare
  bins per value) keeps the count of each value; a categorical feature keeps the
  :data:`CATEGORY_CAP` most frequent categories and an ``other`` count for the rest. Merges are
  exact unless a part has already dropped categories into ``other``.

`compare_profile` compares a profile with online data at the distribution level, producing the
`SkewReport` that `compare` produces without keys.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ._columns import kind_of, nan_rate, null_rate
from ._errors import SkewcheckInputError, SkewcheckWarning
from ._io import Source, load, write_atomically
from ._model import (
    Cause,
    Diagnosis,
    DomainGap,
    FeatureResult,
    Histogram,
    NullRates,
    Reason,
    SkewReport,
    TestResult,
    Verdict,
)
from ._run import column_chunks, read_columns, worker_pool
from ._settings import DEFAULT_NULL_RATE_TOLERANCE, check_profile_comparison, column_names
from ._stats import (
    _MIN_NORM,
    DEFAULT_THRESHOLDS,
    TESTS,
    _fill_zeros,
    default_test,
    distribution_test,
    histogram,
)
from ._version import __version__

__all__ = [
    "FeatureProfile",
    "GridHistogram",
    "Profile",
    "QuantileSummary",
    "compare_profile",
    "is_profile",
    "merge_profiles",
    "profile",
]

PROFILE_VERSION = 1
# At most this many histogram bins per feature; a binary grid gives between half and all of them.
HISTOGRAM_MAX_BINS = 64
# Points in a quantile summary. At least compare's "small reference" (1000 rows, where it runs
# KS on the raw values), so small features keep every value and compare exactly; a power of two
# so that the ranks (i + 1/2) * n / SKETCH_POINTS are computed without rounding.
SKETCH_POINTS = 1024
# Numeric features with at most this many distinct values keep every value's count: compare
# (like Evidently) bins such features per value rather than by Sturges' rule.
VALUE_CAP = 20
# Categories kept per categorical feature; the rest are counted together as "other".
CATEGORY_CAP = 1000
# Grid exponents never go below this: a constant zero column still gets a defined bin.
MIN_EXPONENT = -60
# Bin numbers stay below 2**52, so (bin number) * width is an exact float edge.
_MANTISSA_BITS = 52
LIMITS = {
    "histogram_max_bins": HISTOGRAM_MAX_BINS,
    "sketch_points": SKETCH_POINTS,
    "value_cap": VALUE_CAP,
    "category_cap": CATEGORY_CAP,
}
# Categories listed in the plot of a categorical feature (as compare's histogram()).
_PLOTTED_CATEGORIES = 30
_DOMAIN_EXAMPLES = 5
_NUMERIC_KINDS = ("numeric", "temporal")


@dataclass(frozen=True)
class GridHistogram:
    """Counts on the binary grid: bin ``i`` is ``[(first + i) * 2**exponent, (first + i + 1) * 2**exponent)``."""

    exponent: int
    first: int
    counts: tuple[int, ...]

    @property
    def edges(self) -> list[float]:
        """The ``len(counts) + 1`` bin edges."""
        return [math.ldexp(self.first + i, self.exponent) for i in range(len(self.counts) + 1)]

    def rebin(self, exponent: int, first: int, bins: int) -> np.ndarray:
        """The counts on a coarser (or the same) grid: each coarse bin is the union of fine ones."""
        shift = exponent - self.exponent
        if shift < 0:
            raise ValueError(f"cannot re-bin a width 2**{self.exponent} histogram onto the finer 2**{exponent}")
        target = [(index >> shift) - first for index in range(self.first, self.first + len(self.counts))]
        if target[0] < 0 or target[-1] >= bins:
            raise ValueError(f"bins {self.first}.. of width 2**{self.exponent} fall outside the grid {first}..+{bins}")
        coarse = np.zeros(bins, dtype=np.int64)
        np.add.at(coarse, target, self.counts)
        return coarse


@dataclass(frozen=True)
class QuantileSummary:
    """Sorted values: all of them when ``len(values) == count``, else mid-quantiles of equal weight."""

    count: int
    values: tuple[float, ...]

    @property
    def exact(self) -> bool:
        return len(self.values) == self.count

    def weights(self) -> np.ndarray:
        """How many rows each value stands for."""
        return np.full(len(self.values), self.count / len(self.values) if self.values else 0.0)


@dataclass(frozen=True)
class FeatureProfile:
    """The mergeable statistics of one feature.

    ``count`` is the number of values the statistics describe: finite numbers for a numeric or
    temporal feature (NaN and infinities are counted apart), non-null values for a categorical
    one. ``values`` lists every distinct number with its count when there are at most
    :data:`VALUE_CAP` (else None); ``categories`` the most frequent categories first, ``other``
    the count of the categories left out.
    """

    name: str
    dtype: str
    kind: str
    rows: int
    nulls: int
    nans: int = 0
    infinite: int = 0
    count: int = 0
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    m2: float | None = None
    histogram: GridHistogram | None = None
    quantiles: QuantileSummary | None = None
    values: tuple[tuple[float, int], ...] | None = None
    categories: tuple[tuple[str, int], ...] | None = None
    other: int = 0

    @property
    def std(self) -> float | None:
        """Population standard deviation (as ``numpy.std``)."""
        return math.sqrt(self.m2 / self.count) if self.count and self.m2 is not None else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("mean", "m2"):  # moments of huge numbers overflow: JSON has no infinity, so write text
            if data[name] is not None and not math.isfinite(data[name]):
                data[name] = str(data[name])
        for name in ("values", "categories"):
            if data[name] is not None:
                data[name] = [list(pair) for pair in data[name]]
        for name in ("histogram", "quantiles"):
            if data[name] is not None:
                data[name] = {k: list(v) if isinstance(v, tuple) else v for k, v in data[name].items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureProfile:
        """Read a feature's statistics, checking each field's type and that they fit together.

        Raises
        ------
        TypeError, ValueError
            A field of the wrong type, or an impossible value; the message names the field.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"a feature is {type(data).__name__}, expected an object")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"a feature's 'name' is {name!r}, expected a column name")
        read = _FieldReader(data, name)
        histogram = quantiles = None
        if read.object("histogram") is not None:
            h = _FieldReader(data["histogram"], name, "histogram.")
            histogram = GridHistogram(h.integer("exponent"), h.integer("first"), tuple(h.counts("counts")))
        if read.object("quantiles") is not None:
            q = _FieldReader(data["quantiles"], name, "quantiles.")
            quantiles = QuantileSummary(q.count("count"), tuple(q.numbers("values")))
        feature = cls(
            name=name, dtype=read.text("dtype"), kind=read.text("kind"), rows=read.count("rows"),
            nulls=read.count("nulls"), nans=read.count("nans", 0), infinite=read.count("infinite", 0),
            count=read.count("count", 0), min=read.number("min"), max=read.number("max"),
            mean=read.number("mean", text=True), m2=read.number("m2", text=True), histogram=histogram,
            quantiles=quantiles, values=read.pairs("values", float), categories=read.pairs("categories", str),
            other=read.count("other", 0),
        )
        problem = feature._impossibility()
        if problem:
            raise ValueError(f"feature {name!r}: {problem}")
        return feature

    def _impossibility(self) -> str | None:
        """What makes these statistics impossible, if anything (a hand-edited profile)."""
        if self.kind not in ("numeric", "temporal", "categorical", "other"):
            return f"kind {self.kind!r} is not numeric, temporal, categorical or other"
        if self.rows == 0:
            return "'rows' is 0: a profile describes at least one row"
        described = self.nulls + self.nans + self.infinite + self.count
        if self.kind != "other" and described != self.rows:
            return f"nulls, nans, infinite and count add up to {described}, but 'rows' is {self.rows}"
        if self.kind == "categorical":
            listed = sum(n for _, n in self.categories or ()) + self.other
            return None if listed == self.count else f"categories and other add up to {listed}, not 'count' {self.count}"
        if self.kind not in _NUMERIC_KINDS or self.count == 0:
            return None
        if self.min is None or self.max is None or not self.min <= self.max:
            return f"'min' {self.min} and 'max' {self.max} are not a range"
        if self.mean is None or self.m2 is None:
            return "'mean' and 'm2' are missing"
        if self.histogram is None or (self.histogram.exponent, self.histogram.first, len(self.histogram.counts)) != _grid(
                self.min, self.max) or sum(self.histogram.counts) != self.count:
            return f"the histogram is not the grid of [{self.min}, {self.max}] holding {self.count} values"
        quantiles = self.quantiles
        if quantiles is None or quantiles.count != self.count or not 0 < len(quantiles.values) <= min(
                self.count, SKETCH_POINTS) or list(quantiles.values) != sorted(quantiles.values):
            return f"the quantiles are not a sorted summary of {self.count} values"
        if self.values is not None and sum(n for _, n in self.values) != self.count:
            return f"the value counts add up to {sum(n for _, n in self.values)}, not 'count' {self.count}"
        return None


_REQUIRED = object()  # a field that has no default


class _FieldReader:
    """Reads typed fields of one JSON object, naming the feature and field when one is wrong."""

    def __init__(self, data: Mapping[str, Any], feature: str, prefix: str = "") -> None:
        self.data, self.feature, self.prefix = data, feature, prefix

    def _wrong(self, field: str, expected: str) -> ValueError:
        return ValueError(f"feature {self.feature!r}: {self.prefix}{field} is {self.data.get(field)!r}, expected {expected}")

    def _get(self, field: str, default: Any, expected: str) -> Any:
        if field not in self.data:
            if default is _REQUIRED:
                raise self._wrong(field, expected)
            return default
        return self.data[field]

    def text(self, field: str) -> str:
        value = self._get(field, _REQUIRED, "text")
        if not isinstance(value, str):
            raise self._wrong(field, "text")
        return value

    def integer(self, field: str) -> int:
        value = self._get(field, _REQUIRED, "a whole number")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(field, "a whole number")
        return value

    def count(self, field: str, default: Any = _REQUIRED) -> int:
        value = self._get(field, default, "a count")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._wrong(field, "a count (a whole number >= 0)")
        return value

    def counts(self, field: str) -> list[int]:
        values = self._get(field, _REQUIRED, "a list of counts")
        if not isinstance(values, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                                   for v in values):
            raise self._wrong(field, "a list of counts (whole numbers >= 0)")
        return values

    def number(self, field: str, *, text: bool = False) -> float | None:
        """A finite number or null; with `text`, also "inf"-like text (moments of huge numbers)."""
        value = self._get(field, None, "a number")
        if value is None:
            return None
        if text and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise self._wrong(field, "a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self._wrong(field, "a finite number")
        return float(value)

    def numbers(self, field: str) -> list[float]:
        values = self._get(field, _REQUIRED, "a list of numbers")
        if not isinstance(values, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise self._wrong(field, "a list of finite numbers")
        return [float(v) for v in values]

    def object(self, field: str) -> Mapping[str, Any] | None:
        value = self._get(field, None, "an object")
        if value is not None and not isinstance(value, Mapping):
            raise self._wrong(field, "an object or null")
        return value

    def pairs(self, field: str, kind: type) -> tuple[tuple[Any, int], ...] | None:
        """[value, count] pairs: numbers (float) or labels (str), each count > 0."""
        values = self._get(field, None, "a list of [value, count] pairs")
        if values is None:
            return None
        expected = f"a list of [{'number' if kind is float else 'label'}, count] pairs"
        if not isinstance(values, list):
            raise self._wrong(field, expected)
        pairs = []
        for pair in values:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], int)
                    and not isinstance(pair[1], bool) and pair[1] > 0):
                raise self._wrong(field, expected)
            value = pair[0]
            if kind is str and not isinstance(value, str) or kind is float and (
                    isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
                raise self._wrong(field, expected)
            pairs.append((kind(value), pair[1]))
        return tuple(pairs)


@dataclass(frozen=True)
class Profile:
    """Per-feature statistics of a dataset, to merge across partitions and compare against later.

    Build one with :func:`profile`, merge with :meth:`merge` or :func:`merge_profiles`, save with
    :meth:`to_json`, load with :meth:`from_json`, compare with :func:`compare_profile`.
    """

    rows: int
    features: tuple[FeatureProfile, ...]
    source: str = ""

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def __getitem__(self, name: str) -> FeatureProfile:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    def __repr__(self) -> str:
        return f"Profile(rows={self.rows:,}, features={self.names}, source={self.source!r})"

    def merge(self, other: Profile) -> Profile:
        """The profile of both datasets together (see :func:`merge_profiles`)."""
        return merge_profiles([self, other])

    def to_dict(self) -> dict[str, Any]:
        return {
            "skewcheck_profile": PROFILE_VERSION,
            "skewcheck_version": __version__,
            "source": self.source,
            "rows": self.rows,
            "limits": dict(LIMITS),
            "features": [f.to_dict() for f in self.features],
        }

    def to_json(self, path: str | os.PathLike | None = None, *, indent: int | None = 1) -> str:
        """The profile as JSON text (floats written exactly); written atomically to `path` when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False) + "\n"
        if path is not None:
            write_atomically(Path(path), text)
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike) -> Profile:
        """Read a profile from JSON text (a string starting with ``{``) or from a file path.

        Raises
        ------
        SkewcheckInputError
            Unreadable file, not JSON, not a profile, or a profile format this version cannot read.
        """
        if isinstance(source, str) and source.lstrip().startswith("{"):
            label, text = "profile", source
        else:
            label = str(source)
            try:
                text = Path(source).read_text(encoding="utf-8")
            except FileNotFoundError:
                raise SkewcheckInputError(f"{label}: no such file") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise SkewcheckInputError(f"{label}: cannot read it ({exc})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SkewcheckInputError(f"{label}: not JSON ({exc})") from None
        if not isinstance(data, dict) or "skewcheck_profile" not in data:
            raise SkewcheckInputError(f"{label}: not a skewcheck profile (no 'skewcheck_profile' field)")
        if data["skewcheck_profile"] != PROFILE_VERSION or data.get("limits") != LIMITS:
            raise SkewcheckInputError(
                f"{label}: profile format {data['skewcheck_profile']} with limits {data.get('limits')}; this "
                f"skewcheck reads format {PROFILE_VERSION} with {LIMITS}: rebuild it with skewcheck profile"
            )
        rows, features = data.get("rows"), data.get("features")
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise SkewcheckInputError(f"{label}: malformed profile ('rows' is {rows!r}, expected a count >= 1)")
        if not isinstance(features, list) or not features:
            raise SkewcheckInputError(f"{label}: malformed profile ('features' is {features!r}, expected a list)")
        try:
            parsed = tuple(FeatureProfile.from_dict(f) for f in features)
        except (TypeError, ValueError) as exc:
            raise SkewcheckInputError(f"{label}: malformed profile ({exc})") from None
        for feature in parsed:
            if feature.rows != rows:
                raise SkewcheckInputError(
                    f"{label}: malformed profile (feature {feature.name!r} has {feature.rows} rows, the profile {rows})"
                )
        names = [f.name for f in parsed]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise SkewcheckInputError(f"{label}: malformed profile (feature {repeated[0]!r} is listed more than once)")
        return cls(rows=rows, features=parsed, source=str(data.get("source", "")))


def profile(data: Any, *, features: Sequence[str] | None = None) -> Profile:
    """Compute the mergeable statistics of every feature (column) of a dataset.

    Parameters
    ----------
    data : path or frame
        Parquet, CSV or NDJSON path, or a polars, pandas or pyarrow table.
    features : list of str, optional
        Columns to profile. Default: all.

    Returns
    -------
    Profile

    Raises
    ------
    SkewcheckInputError
        Unreadable input, or a requested column it does not have.

    Examples
    --------
    >>> import polars as pl, skewcheck
    >>> part = skewcheck.profile(pl.DataFrame({"x": [1.0, 2.0, None]}))
    >>> whole = part.merge(skewcheck.profile(pl.DataFrame({"x": [4.0]})))
    >>> whole["x"].count, whole["x"].nulls, whole["x"].max, whole["x"].mean
    (3, 1, 4.0, 2.3333333333333335)
    """
    features = column_names(features, "features", single=False, optional=True)
    source = load(data, role="data")
    names = _profiled_names(source, features)
    results: list[FeatureProfile] = []
    with worker_pool(os.cpu_count() or 1) as pool:
        for chunk in column_chunks(names, source.rows):
            columns = read_columns(source, chunk)
            results.extend(pool.map(_feature_profile, (columns[name] for name in chunk)))
    return Profile(rows=source.rows, features=tuple(results), source=source.label)


def merge_profiles(profiles: Iterable[Profile]) -> Profile:
    """Merge the profiles of partitions into the profile of their union.

    Parameters
    ----------
    profiles : iterable of Profile
        Profiles of the same features (same names, kinds and dtypes).

    Returns
    -------
    Profile
        Equal to the profile of the concatenated data for counts, nulls, min/max, histograms,
        value and category counts; moments up to rounding; the quantile summary within the
        error described in the module docstring.

    Raises
    ------
    SkewcheckInputError
        No profiles, or profiles of different features.
    """
    if isinstance(profiles, (str, bytes, Profile)) or not isinstance(profiles, Iterable):
        raise SkewcheckInputError(f"`profiles` must be a list of Profile objects, got {type(profiles).__name__}")
    parts = list(profiles)
    if not parts:
        raise SkewcheckInputError("`profiles` is empty: no profiles to merge")
    for part in parts:
        if not isinstance(part, Profile):
            raise SkewcheckInputError(
                f"`profiles` must hold Profile objects, got {type(part).__name__}; read files with Profile.from_json"
            )
    names = parts[0].names
    for part in parts[1:]:
        if sorted(part.names) != sorted(names):
            raise SkewcheckInputError(
                f"cannot merge the profile of {part.source} (features: {', '.join(part.names)}) with that of "
                f"{parts[0].source} (features: {', '.join(names)}): profile the same columns"
            )
    return Profile(
        rows=sum(p.rows for p in parts),
        features=tuple(_merge_feature([(p.source, p[name]) for p in parts]) for name in names),
        source=" + ".join(p.source for p in parts),
    )


def compare_profile(
    profile: Profile | str | os.PathLike,
    online: Any,
    *,
    keys: str | Sequence[str] | None = None,
    timestamp: str | None = None,
    features: Sequence[str] | None = None,
    tests: str | Mapping[str, str] | None = None,
    null_rate_tolerance: float = DEFAULT_NULL_RATE_TOLERANCE,
) -> SkewReport:
    """Compare online data with a profile of the offline data, distributions only.

    The tests are those compare would choose. Where the profile holds every offline value (at
    most 1024 of them) or every value's count (categories; numbers with at most 20 distinct
    values), each test is exact and equals compare's. Otherwise the histogram tests
    (jensenshannon, psi, linf, chisquare) run exactly on the counts of the profile's fixed bins
    (compare uses Sturges' bins), and the Wasserstein distance uses the quantile summary, an
    approximation whose error bound the feature's notes give; KS needs the raw values and is
    refused.

    Parameters
    ----------
    profile : Profile or path
        The offline profile, or the path of its JSON file.
    online : path or frame
        The online (served) data.
    keys, timestamp : optional
        As in compare, but a profile has no rows to join: these columns are left out of the
        comparison and the report warns that values were not compared row by row.
    features : list of str, optional
        Features to compare. Default: every feature of the profile but the keys and timestamp
        (online columns the profile does not have are ignored; profile features absent online
        are skewed, cause ``missing``).
    tests : str or dict, optional
        A test for every feature, or per feature name, as in compare.
    null_rate_tolerance : float
        Largest gap between the two null rates that is not skew (default 0.05).

    Returns
    -------
    SkewReport
        As compare's without keys: ``values`` is None for every feature.

    Raises
    ------
    SkewcheckInputError
        Unreadable inputs, unknown features or tests, or KS on a summarised feature.
    """
    check_profile_comparison(keys=keys, timestamp=timestamp, features=features, tests=tests,
                             null_rate_tolerance=null_rate_tolerance)
    if not isinstance(profile, (Profile, str, os.PathLike)):
        raise SkewcheckInputError(f"`profile` must be a Profile or the path of its JSON file, got {type(profile).__name__}")
    if not isinstance(profile, Profile):
        profile = Profile.from_json(profile)
    on = load(online, role="online")
    reserved = ([keys] if isinstance(keys, str) else list(keys or [])) + ([timestamp] if timestamp else [])
    names = _compared_names(profile, features, reserved)
    for name in names:
        _test_name(tests, name)  # fail on a bad test name before any work
    results: list[FeatureResult] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SkewcheckWarning)
        for chunk in column_chunks(names, on.rows):
            columns = read_columns(on, chunk)
            for name in chunk:
                results.append(
                    _compare_feature(profile[name], columns.get(name), _test_name(tests, name), null_rate_tolerance)
                )
    notes = tuple(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, SkewcheckWarning)))
    for note in notes:
        warnings.warn(note, SkewcheckWarning, stacklevel=2)
    results.sort(key=lambda f: f.severity, reverse=True)
    if reserved:
        left_out = f"a profile holds distributions only: values were not compared row by row ({', '.join(reserved)} left out)"
        notes = (left_out, *notes)
    return SkewReport(
        passed=not any(f.skewed for f in results),
        features=tuple(results),
        offline_label=f"profile of {profile.source}",
        online_label=on.label,
        settings={
            "profile": profile.source,
            "null_rate_tolerance": null_rate_tolerance,
            "tests": dict(tests) if isinstance(tests, Mapping) else tests,
        },
        warnings=notes,
    )


# --- building --------------------------------------------------------------------------------


def _profiled_names(source: Source, features: Sequence[str] | None) -> list[str]:
    if features is None:
        return source.schema.names()
    names = list(dict.fromkeys(features))
    if not names:
        raise SkewcheckInputError("the feature list is empty")
    for name in names:
        if name not in source.schema:
            raise SkewcheckInputError(
                f"{source.label}: no column {name!r} (columns: {source.column_list()}); pass `features` with some of them"
            )
    return names


def _feature_profile(series: pl.Series) -> FeatureProfile:
    kind = kind_of(series.dtype)
    base = {"name": series.name, "dtype": str(series.dtype), "kind": kind, "rows": series.len(),
            "nulls": series.null_count()}
    if kind in _NUMERIC_KINDS:
        return _numeric_profile(series, base)
    if kind == "categorical":
        return _categorical_profile(series, base)
    return FeatureProfile(**base)


def _numbers(series: pl.Series) -> np.ndarray:
    """The non-null values as float64: temporal ones as microseconds since the epoch (UTC)."""
    if series.null_count():
        series = series.drop_nulls()
    if series.dtype == pl.Date:
        series = series.cast(pl.Datetime("us"))
    if isinstance(series.dtype, pl.Datetime):
        series = series.dt.epoch("us")
    elif series.dtype.is_temporal():
        series = series.to_physical()
    return series.cast(pl.Float64).to_numpy()


def _numeric_profile(series: pl.Series, base: dict[str, Any]) -> FeatureProfile:
    numbers = _numbers(series)
    nans = int(np.count_nonzero(np.isnan(numbers)))
    finite = np.isfinite(numbers)
    if not finite.all():
        numbers = numbers[finite]
    ordered = np.sort(numbers)
    stats = _sorted_stats(ordered)
    return FeatureProfile(**base, nans=nans, infinite=int(finite.size - ordered.size - nans), **stats)


def _sorted_stats(ordered: np.ndarray) -> dict[str, Any]:
    """Moments, range, histogram, summary and value counts of sorted finite numbers."""
    n = ordered.size
    if n == 0:
        return {"values": (), "quantiles": QuantileSummary(0, ())}
    low, high = float(ordered[0]) + 0.0, float(ordered[-1]) + 0.0  # + 0.0 turns -0.0 into 0.0
    mean = float(ordered.mean())
    exponent, first, bins = _grid(low, high)
    return {
        "count": n,
        "min": low,
        "max": high,
        "mean": mean,
        "m2": float(np.square(ordered - mean).sum()),
        "histogram": GridHistogram(exponent, first, tuple(_grid_counts(ordered, exponent, first, bins).tolist())),
        "quantiles": QuantileSummary(n, tuple(_mid_quantiles(ordered).tolist())),
        "values": _value_counts(ordered),
    }


def _value_counts(ordered: np.ndarray) -> tuple[tuple[float, int], ...] | None:
    """Every distinct value with its count, if there are at most VALUE_CAP of them."""
    changes = ordered[1:] != ordered[:-1]
    if np.count_nonzero(changes) >= VALUE_CAP:
        return None
    starts = np.flatnonzero(np.concatenate(([True], changes)))
    counts = np.diff(np.append(starts, ordered.size))
    return tuple(zip((ordered[starts] + 0.0).tolist(), counts.tolist()))


def _categorical_profile(series: pl.Series, base: dict[str, Any]) -> FeatureProfile:
    labels = series.drop_nulls().cast(pl.String)
    table = labels.rename("label").value_counts(name="n")
    categories, other = _top_categories(zip(table["label"].to_list(), table["n"].to_list()))
    return FeatureProfile(**base, count=labels.len(), categories=categories, other=other)


def _top_categories(pairs: Iterable[tuple[str, int]]) -> tuple[tuple[tuple[str, int], ...], int]:
    """The CATEGORY_CAP most frequent (ties: alphabetical) and the count of the rest."""
    ranked = sorted(pairs, key=lambda pair: (-pair[1], pair[0]))
    return tuple(ranked[:CATEGORY_CAP]), sum(n for _, n in ranked[CATEGORY_CAP:])


# --- the binary grid and the quantile summary ------------------------------------------------


def _grid(low: float, high: float) -> tuple[int, int, int]:
    """Exponent, first bin number and bin count of the binary grid for the range [low, high].

    The exponent is the smallest that covers the range in HISTOGRAM_MAX_BINS bins, but at least
    MIN_EXPONENT and large enough that bin numbers stay below 2**52. Both bounds grow with the
    range, so a partition's exponent never exceeds that of the union.
    """
    magnitude = max(abs(low), abs(high))
    exponent = max(MIN_EXPONENT, math.frexp(magnitude)[1] - _MANTISSA_BITS) if magnitude else MIN_EXPONENT
    spread = high / HISTOGRAM_MAX_BINS - low / HISTOGRAM_MAX_BINS  # no overflow near the float limit
    if spread > 0:
        exponent = max(exponent, math.frexp(spread)[1] - 2)
    while _bins(low, high, exponent) > HISTOGRAM_MAX_BINS:
        exponent += 1
    return exponent, _bin_number(low, exponent), _bins(low, high, exponent)


def _bins(low: float, high: float, exponent: int) -> int:
    return _bin_number(high, exponent) - _bin_number(low, exponent) + 1


def _bin_number(value: float, exponent: int) -> int:
    """floor(value / 2**exponent), exactly: a tiny negative value whose quotient underflows to -0.0 is in bin -1."""
    number = math.floor(math.ldexp(value, -exponent))
    return -1 if number == 0 and value < 0 else number


def _grid_counts(ordered: np.ndarray, exponent: int, first: int, bins: int) -> np.ndarray:
    """Counts of sorted values per grid bin: x is in bin i exactly when edge_i <= x < edge_(i+1)."""
    edges = np.ldexp(np.arange(first, first + bins + 1, dtype=np.float64), exponent)
    return np.diff(np.searchsorted(ordered, edges, side="left"))


def _mid_quantiles(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Sorted `values` as they are if few and unweighted, else their SKETCH_POINTS mid-quantiles.

    Mid-quantile i is the value holding rank (i + 1/2) * total / SKETCH_POINTS (ranks from 0,
    each value covering `weight` ranks); with unit weights, the value at index
    floor((2i + 1) * n / (2 * SKETCH_POINTS)).
    """
    steps = 2 * np.arange(SKETCH_POINTS, dtype=np.int64) + 1
    if weights is None:
        return values if values.size <= SKETCH_POINTS else values[steps * values.size // (2 * SKETCH_POINTS)]
    if values.size <= SKETCH_POINTS and np.all(weights == 1.0):
        return values
    ranks = steps * (weights.sum() / (2 * SKETCH_POINTS))
    return values[np.minimum(np.searchsorted(np.cumsum(weights), ranks, side="right"), values.size - 1)]


# --- merging ---------------------------------------------------------------------------------


def _merge_feature(parts: list[tuple[str, FeatureProfile]]) -> FeatureProfile:
    (first_source, head), *_ = parts
    for source, part in parts:
        if (part.kind, part.dtype) != (head.kind, head.dtype):
            raise SkewcheckInputError(
                f"feature {head.name!r} is {part.dtype} in the profile of {source} but {head.dtype} in that of "
                f"{first_source}: cast the partitions to one type before profiling"
            )
    features = [part for _, part in parts]
    merged: dict[str, Any] = {
        "name": head.name, "dtype": head.dtype, "kind": head.kind,
        **{field: sum(getattr(f, field) for f in features) for field in ("rows", "nulls", "nans", "infinite", "count")},
    }
    if head.kind in _NUMERIC_KINDS:
        merged.update(_merge_numeric([f for f in features if f.count]))
    elif head.kind == "categorical":
        totals: Counter[str] = Counter()
        for feature in features:
            totals.update(dict(feature.categories or ()))
        categories, dropped = _top_categories(totals.items())
        merged.update(categories=categories, other=dropped + sum(f.other for f in features))
    return FeatureProfile(**merged)


def _merge_numeric(parts: list[FeatureProfile]) -> dict[str, Any]:
    if not parts:
        return {"values": (), "quantiles": QuantileSummary(0, ())}
    low, high = min(p.min for p in parts), max(p.max for p in parts)
    exponent, first, bins = _grid(low, high)
    counts = sum(p.histogram.rebin(exponent, first, bins) for p in parts)
    n, mean, m2 = 0, 0.0, 0.0
    for p in parts:  # Chan, Golub and LeVeque's pairwise update
        delta, total = p.mean - mean, n + p.count
        mean, m2, n = mean + delta * p.count / total, m2 + p.m2 + delta * delta * n * p.count / total, total
    values = None
    if all(p.values is not None for p in parts):
        totals: Counter[float] = Counter()
        for p in parts:
            totals.update(dict(p.values))
        values = tuple(sorted(totals.items())) if len(totals) <= VALUE_CAP else None
    return {
        "min": low, "max": high, "mean": mean, "m2": m2, "values": values,
        "histogram": GridHistogram(exponent, first, tuple(counts.tolist())),
        "quantiles": _merge_summaries([p.quantiles for p in parts]),
    }


def _merge_summaries(parts: list[QuantileSummary]) -> QuantileSummary:
    values = np.concatenate([np.asarray(p.values, dtype=np.float64) for p in parts])
    weights = np.concatenate([p.weights() for p in parts])
    order = np.argsort(values, kind="stable")
    count = sum(p.count for p in parts)
    return QuantileSummary(count, tuple(_mid_quantiles(values[order], weights[order]).tolist()))


# --- comparing -------------------------------------------------------------------------------


def is_profile(data: Any) -> bool:
    """Whether compare's offline argument is a profile: a `Profile`, or the path of a .json file."""
    return isinstance(data, Profile) or (isinstance(data, (str, os.PathLike)) and Path(data).suffix.lower() == ".json")


def _compared_names(profile: Profile, features: Sequence[str] | None, reserved: list[str]) -> list[str]:
    if features is None:
        names = [name for name in profile.names if name not in reserved]
        if not names:
            raise SkewcheckInputError(f"profile of {profile.source} has no features besides {', '.join(reserved)}")
        return names
    names = list(dict.fromkeys(features))
    if not names:
        raise SkewcheckInputError("the feature list is empty")
    for name in names:
        if name in reserved:
            raise SkewcheckInputError(f"feature {name!r} is also a key or the timestamp; leave it out of `features`")
        if name not in profile.names:
            raise SkewcheckInputError(
                f"profile of {profile.source} has no feature {name!r} (features: {', '.join(profile.names)}); "
                "rebuild the profile with it or leave it out of `features`"
            )
    return names


def _test_name(tests: str | Mapping[str, str] | None, name: str) -> str | None:
    test = tests.get(name) if isinstance(tests, Mapping) else tests
    if test is not None and test not in TESTS:
        raise SkewcheckInputError(f"unknown test {test!r} for {name!r}: choose one of {', '.join(TESTS)}")
    return test


def _compare_feature(
    offline: FeatureProfile, online: pl.Series | None, test: str | None, null_rate_tolerance: float
) -> FeatureResult:
    name, dtype_online = offline.name, None if online is None else str(online.dtype)
    nulls = NullRates(
        offline_rate=offline.nulls / offline.rows, offline_nan_rate=offline.nans / offline.rows,
        online_rate=null_rate(online), online_nan_rate=nan_rate(online),
    )
    common = {"name": name, "kind": offline.kind, "nulls": nulls, "dtype_offline": offline.dtype,
              "dtype_online": dtype_online}
    missing = _missing_side(offline, online)
    if missing:
        return FeatureResult(**common, verdict=Verdict.SKEW, reasons=(Reason.MISSING,),
                             diagnosis=Diagnosis(Cause.MISSING, missing))
    if offline.nulls == offline.rows:
        warnings.warn(f"feature {name!r} is null on both sides: nothing to compare", SkewcheckWarning, stacklevel=3)
        return FeatureResult(**common, verdict=Verdict.OK, notes=("null on both sides",))

    reasons: list[Reason] = []
    notes: list[str] = []
    distribution = hist = domain = None
    online_kind = kind_of(online.dtype)
    if online_kind != offline.kind:
        reasons.append(Reason.TYPE)
        notes.append(f"types differ: {offline.dtype} offline, {online.dtype} online; a profile cannot compare "
                     "the values as text, so no distribution test ran")
    else:
        if offline.dtype != dtype_online:
            notes.append(f"dtype differs ({offline.dtype} offline, {dtype_online} online): the values decide")
        if offline.kind in _NUMERIC_KINDS:
            distribution, hist, numeric_notes = _numeric_test(offline, online, test)
            notes.extend(numeric_notes)
        elif offline.kind == "categorical":
            distribution, hist, domain = _categorical_test(offline, online, test)
        if distribution is not None and distribution.drifted:
            reasons.append(Reason.DISTRIBUTION)
    if nulls.gap > null_rate_tolerance:
        reasons.append(Reason.NULLS)
    # Without rows to join, a population difference is the only evidence: it counts as skew.
    verdict = Verdict.SKEW if reasons else Verdict.OK
    return FeatureResult(**common, verdict=verdict, distribution=distribution, domain=domain,
                         reasons=tuple(reasons), notes=tuple(notes), histogram=hist)


def _missing_side(offline: FeatureProfile, online: pl.Series | None) -> str | None:
    if online is None:
        return "absent from the online data"
    offline_empty, online_empty = offline.nulls == offline.rows, online.null_count() == online.len()
    if offline_empty and not online_empty:
        return "all null in the offline data"
    if online_empty and not offline_empty:
        return "all null in the online data"
    return None


def _no_values(name: str) -> None:
    warnings.warn(f"feature {name!r} has no values on one side after dropping nulls and NaN",
                  SkewcheckWarning, stacklevel=4)


def _numeric_test(
    offline: FeatureProfile, online: pl.Series, test: str | None
) -> tuple[TestResult | None, Histogram | None, list[str]]:
    numbers = _numbers(online)
    numbers = np.sort(numbers[np.isfinite(numbers)])
    if not offline.count or not numbers.size:
        _no_values(offline.name)
        return None, None, []
    summary = offline.quantiles
    if summary.exact:  # every offline value is in the profile: run compare's own test
        reference, current = pl.Series(summary.values, dtype=pl.Float64), pl.Series(numbers)
        return (distribution_test(reference, current, kind="numeric", test=test),
                histogram(reference, current, kind="numeric"), [])
    exponent, first, bins = _grid(min(offline.min, float(numbers[0])), max(offline.max, float(numbers[-1])))
    grid_offline = offline.histogram.rebin(exponent, first, bins)
    grid_online = _grid_counts(numbers, exponent, first, bins)
    edges = np.ldexp(np.arange(first, first + bins + 1, dtype=np.float64), exponent)
    plot = Histogram(kind="numeric", edges=edges.tolist(), categories=[], offline=grid_offline.tolist(),
                     online=grid_online.tolist(), offline_other=0, online_other=0)
    if offline.values is not None:  # few values: per-value bins, exact
        support, reference, current = _value_table(offline.values, numbers)
        test = test or default_test("numeric", offline.count, support.size)
        points = (support, reference.astype(np.float64))
    else:
        reference, current = grid_offline, grid_online
        test = test or default_test("numeric", offline.count, VALUE_CAP + 1)
        points = (np.asarray(summary.values), summary.weights())
    if test == "ks":
        raise SkewcheckInputError(
            f"test 'ks' needs every offline value of {offline.name!r}, but its profile keeps a "
            f"{SKETCH_POINTS}-point summary of {offline.count:,} values; choose wasserstein, jensenshannon, "
            "psi, linf or chisquare"
        )
    notes = []
    if test == "wasserstein":
        result = _wasserstein_test(offline, points, numbers)
        if offline.values is None:
            bound = (offline.max - offline.min) / SKETCH_POINTS / max(offline.std, _MIN_NORM)
            notes.append(f"wasserstein approximated from the profile's {SKETCH_POINTS}-point quantile summary "
                         f"(offline error at most {bound:.2g})")
    else:
        result = _counts_test(reference, current, test)
        if offline.values is None:
            notes.append(f"{test} on the profile's {bins} fixed bins of width {math.ldexp(1.0, exponent):g} "
                         "(compare bins by Sturges' rule)")
    return result, plot, notes


def _value_table(values: tuple[tuple[float, int], ...], numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct values of both sides (sorted) and each side's count of each."""
    online_values, online_counts = np.unique(numbers, return_counts=True)
    offline_values = np.array([v for v, _ in values])
    support = np.union1d(offline_values, online_values)
    reference = np.zeros(support.size, dtype=np.int64)
    reference[np.searchsorted(support, offline_values)] = [n for _, n in values]
    current = np.zeros(support.size, dtype=np.int64)
    current[np.searchsorted(support, online_values)] = online_counts
    return support, reference, current


def _wasserstein_test(offline: FeatureProfile, atoms: tuple[np.ndarray, np.ndarray], numbers: np.ndarray) -> TestResult:
    """Wasserstein distance between weighted offline points and the online values, over the offline std."""
    import scipy.stats  # here, not at the top: building a profile never needs SciPy

    values, weights = atoms
    distance = scipy.stats.wasserstein_distance(values, numbers, u_weights=weights)
    statistic = float(distance / max(offline.std, _MIN_NORM))
    threshold = DEFAULT_THRESHOLDS["wasserstein"]
    return TestResult("wasserstein", statistic, None, threshold, drifted=statistic >= threshold)


def _counts_test(offline: np.ndarray, online: np.ndarray, test: str) -> TestResult:
    """A histogram test on counts over shared bins, as the functions of `_stats` compute it."""
    import scipy.spatial.distance
    import scipy.stats

    used = (offline + online) > 0
    offline, online = offline[used], online[used]
    threshold = DEFAULT_THRESHOLDS[test]
    if test == "chisquare":
        result = scipy.stats.chi2_contingency(np.vstack([offline, online]), correction=False)
        p_value = float(result.pvalue)
        return TestResult(test, float(result.statistic), p_value, threshold, drifted=p_value < threshold)
    p, q = offline / offline.sum(), online / online.sum()
    if test == "jensenshannon":
        statistic = float(scipy.spatial.distance.jensenshannon(p, q))
    elif test == "psi":
        p, q = _fill_zeros(p), _fill_zeros(q)
        statistic = float(np.sum((p - q) * np.log(p / q)))
    elif test == "linf":
        statistic = float(np.max(np.abs(p - q)))
    else:
        raise SkewcheckInputError(f"test {test!r} needs a numeric feature; choose jensenshannon, psi, linf or chisquare")
    return TestResult(test, statistic, None, threshold, drifted=statistic >= threshold)


def _categorical_test(
    offline: FeatureProfile, online: pl.Series, test: str | None
) -> tuple[TestResult | None, Histogram | None, DomainGap | None]:
    labels = online.drop_nulls().cast(pl.String)
    if not offline.count or not labels.len():
        _no_values(offline.name)
        return None, None, None
    table = labels.rename("label").value_counts(name="n")
    online_counts = dict(zip(table["label"].to_list(), table["n"].to_list()))
    offline_counts = dict(offline.categories)
    complete = offline.other == 0
    if complete:
        support = sorted(offline_counts.keys() | online_counts.keys())
        reference = np.array([offline_counts.get(c, 0) for c in support], dtype=np.int64)
        current = np.array([online_counts.get(c, 0) for c in support], dtype=np.int64)
    else:  # online categories the profile did not list join its "other" bin
        support = sorted(offline_counts)
        reference = np.array([offline_counts[c] for c in support] + [offline.other], dtype=np.int64)
        listed = sum(online_counts.get(c, 0) for c in support)
        current = np.array([online_counts.get(c, 0) for c in support] + [labels.len() - listed], dtype=np.int64)
    result = _counts_test(reference, current, test or default_test("categorical", offline.count, len(support)))
    return result, _categorical_plot(support, reference, current), _domain(offline_counts, online_counts, complete)


def _categorical_plot(support: list[str], offline: np.ndarray, online: np.ndarray) -> Histogram:
    """The most frequent categories over both sides (ties alphabetical), as compare's histogram()."""
    ranked = sorted(range(len(support)), key=lambda i: (-(offline[i] + online[i]), support[i]))[:_PLOTTED_CATEGORIES]
    return Histogram(
        kind="categorical", edges=[], categories=[support[i] for i in ranked],
        offline=[int(offline[i]) for i in ranked], online=[int(online[i]) for i in ranked],
        offline_other=int(offline.sum() - sum(offline[i] for i in ranked)),
        online_other=int(online.sum() - sum(online[i] for i in ranked)),
    )


def _domain(offline: dict[str, int], online: dict[str, int], complete: bool) -> DomainGap | None:
    """Categories seen on one side only; online-only ones only when the profile lists every category."""
    offline_only = sorted(offline.keys() - online.keys())
    online_only = sorted(online.keys() - offline.keys()) if complete else []
    if not (offline_only or online_only):
        return None
    return DomainGap(
        offline_only=tuple(offline_only[:_DOMAIN_EXAMPLES]), online_only=tuple(online_only[:_DOMAIN_EXAMPLES]),
        offline_only_count=len(offline_only), online_only_count=len(online_only),
    )
