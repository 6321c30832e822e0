"""The profile's model and its JSON: `Profile`, `FeatureProfile` and their sketches' containers."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import SkewcheckInputError
from .._io import write_atomically
from .._version import __version__
from .sketch import LIMITS, NUMERIC_KINDS, SKETCH_POINTS, grid

PROFILE_VERSION = 1


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
            name=name,
            dtype=read.text("dtype"),
            kind=read.text("kind"),
            rows=read.count("rows"),
            nulls=read.count("nulls"),
            nans=read.count("nans", 0),
            infinite=read.count("infinite", 0),
            count=read.count("count", 0),
            min=read.number("min"),
            max=read.number("max"),
            mean=read.number("mean", text=True),
            m2=read.number("m2", text=True),
            histogram=histogram,
            quantiles=quantiles,
            values=read.pairs("values", float),
            categories=read.pairs("categories", str),
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
            return (
                None if listed == self.count else f"categories and other add up to {listed}, not 'count' {self.count}"
            )
        if self.kind not in NUMERIC_KINDS or self.count == 0:
            return None
        if self.min is None or self.max is None or not self.min <= self.max:
            return f"'min' {self.min} and 'max' {self.max} are not a range"
        if self.mean is None or self.m2 is None:
            return "'mean' and 'm2' are missing"
        if (
            self.histogram is None
            or (self.histogram.exponent, self.histogram.first, len(self.histogram.counts)) != grid(self.min, self.max)
            or sum(self.histogram.counts) != self.count
        ):
            return f"the histogram is not the grid of [{self.min}, {self.max}] holding {self.count} values"
        quantiles = self.quantiles
        if (
            quantiles is None
            or quantiles.count != self.count
            or not 0 < len(quantiles.values) <= min(self.count, SKETCH_POINTS)
            or list(quantiles.values) != sorted(quantiles.values)
        ):
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
        return ValueError(
            f"feature {self.feature!r}: {self.prefix}{field} is {self.data.get(field)!r}, expected {expected}"
        )

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
        if not isinstance(values, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values
        ):
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
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values
        ):
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
            if not (
                isinstance(pair, list)
                and len(pair) == 2
                and isinstance(pair[1], int)
                and not isinstance(pair[1], bool)
                and pair[1] > 0
            ):
                raise self._wrong(field, expected)
            value = pair[0]
            if (
                kind is str
                and not isinstance(value, str)
                or kind is float
                and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value))
            ):
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
        from .merge import merge_profiles

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


def is_profile(data: Any) -> bool:
    """Whether compare's offline argument is a profile: a `Profile`, or the path of a .json file."""
    return isinstance(data, Profile) or (isinstance(data, (str, os.PathLike)) and Path(data).suffix.lower() == ".json")
