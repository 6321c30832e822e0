"""What the statistics share: kinds, thresholds, and the checks and conversions of a sample."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import polars as pl

from .._errors import SkewcheckWarning

KINDS = ("numeric", "categorical")

DEFAULT_THRESHOLDS: Mapping[str, float] = MappingProxyType(
    {
        # p-value: Evidently's ks_stat_test.default_threshold (drift when p <= 0.05).
        "ks": 0.05,
        # Distance: Evidently's wasserstein_stat_test.default_threshold (normed by the std).
        "wasserstein": 0.1,
        # Distance: Evidently's jensenshannon_stat_test.default_threshold.
        "jensenshannon": 0.1,
        # p-value: Evidently's chi_stat_test and z_stat_test set none, so they inherit
        # StatTest.default_threshold = 0.05 (drift when p < 0.05).
        "chisquare": 0.05,
        # Distance: Evidently's psi_stat_test.default_threshold.
        "psi": 0.1,
        # Distance: not in Evidently. TFDV's L-infinity check (InfinityNorm) has the same
        # definition but makes the user choose the threshold; 0.1 matches the distances above.
        "linf": 0.1,
    }
)


# Rows of each sample looked at before counting all distinct values (see count_unique).
_PROBE_ROWS = 10_000


def count_unique(*samples: pl.Series, limit: int) -> int:
    """Number of distinct values over the samples, or `limit` if a first look already finds that many.

    Counting the distinct values of a million floats takes ~50 ms; callers only ask whether
    there are more than a handful, which the first rows usually settle. The samples are joined
    only when the first look does not settle it.
    """
    probe = pl.concat([values.head(_PROBE_ROWS) for values in samples]).head(_PROBE_ROWS)
    if probe.n_unique() >= limit:
        return limit
    return pl.concat(samples).n_unique()


def aligned(offline: pl.Series, online: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Both samples with one dtype: unchanged, both Float64 if numeric, else both String."""
    if offline.dtype == online.dtype:
        return offline, online
    common = pl.Float64 if offline.dtype.is_numeric() and online.dtype.is_numeric() else pl.String
    return offline.cast(common), online.cast(common)


def floats(values: pl.Series) -> np.ndarray:
    """A numeric sample as a float64 NumPy array (no copy when it already is Float64)."""
    require_numeric(values)
    return values.cast(pl.Float64).to_numpy()


def sorted_floats(values: pl.Series) -> np.ndarray:
    """The sample sorted, as float64 (nulls last, as NaN, where NumPy puts NaN). Polars sorts on
    all cores and, on one, in about half the time of ``np.sort``; the result is the same array."""
    require_numeric(values)
    return values.cast(pl.Float64).sort(nulls_last=True).to_numpy()


def require_numeric(values: pl.Series) -> None:
    if not values.dtype.is_numeric():
        raise ValueError(f"a numeric feature needs integer or float values, got dtype {values.dtype}")


def check_kind(kind: str, *samples: pl.Series) -> None:
    """Raise ValueError for an unknown kind, or for non-numeric samples of a numeric kind."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: expected one of {', '.join(KINDS)}")
    if kind == "numeric":
        for values in samples:
            require_numeric(values)


def warn_if_empty(offline: pl.Series, online: pl.Series) -> bool:
    """Warn and return True if a sample is empty (the statistic is then NaN)."""
    empty = [name for name, values in (("offline", offline), ("online", online)) if values.is_empty()]
    if empty:
        warn_empty(empty, stacklevel=4)
    return bool(empty)


def warn_empty(sides: list[str], *, stacklevel: int) -> None:
    """The warning for empty samples ("offline", "online" or both), the same however they were counted."""
    warnings.warn(
        f"{' and '.join(sides)} sample{'s are' if len(sides) == 2 else ' is'} empty: "
        "no distribution to compare, statistic is NaN and no drift is reported",
        SkewcheckWarning,
        stacklevel=stacklevel,
    )


def warn_if_constant(offline: pl.Series, online: pl.Series) -> None:
    """Warn if a (non-empty) sample holds a single distinct value."""
    warn_constant(
        [(name, values[0]) for name, values in (("offline", offline), ("online", online)) if _constant(values)],
        stacklevel=4,
    )


def warn_constant(sides: list[tuple[str, object]], *, stacklevel: int) -> None:
    """The warning for samples that hold a single value, given as (side, value); none when empty."""
    if sides:
        warnings.warn(
            f"constant feature: {' and the '.join(f'{name} sample holds only {value!r}' for name, value in sides)}; "
            "the statistic is defined but says little about the distributions",
            SkewcheckWarning,
            stacklevel=stacklevel,
        )


def _constant(values: pl.Series) -> bool:
    """All values equal the first; the first rows usually tell that they do not."""
    first = values[0]
    return bool((values.head(_PROBE_ROWS) == first).all()) and bool((values == first).all())
