"""Merging profiles: the profile of a union of partitions, from the partitions' profiles."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from .._errors import SkewcheckInputError
from . import sketch
from .model import FeatureProfile, GridHistogram, Profile, QuantileSummary
from .sketch import NUMERIC_KINDS, VALUE_CAP, grid, mid_quantiles


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
        "name": head.name,
        "dtype": head.dtype,
        "kind": head.kind,
        **{field: sum(getattr(f, field) for f in features) for field in ("rows", "nulls", "nans", "infinite", "count")},
    }
    if head.kind in NUMERIC_KINDS:
        merged.update(_merge_numeric([f for f in features if f.count]))
    elif head.kind == "categorical":
        totals: Counter[str] = Counter()
        for feature in features:
            totals.update(dict(feature.categories or ()))
        categories, dropped = sketch.top_categories(totals.items())
        merged.update(categories=categories, other=dropped + sum(f.other for f in features))
    return FeatureProfile(**merged)


def _merge_numeric(parts: list[FeatureProfile]) -> dict[str, Any]:
    if not parts:
        return {"values": (), "quantiles": QuantileSummary(0, ())}
    low, high = min(p.min for p in parts), max(p.max for p in parts)
    exponent, first, bins = grid(low, high)
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
        "min": low,
        "max": high,
        "mean": mean,
        "m2": m2,
        "values": values,
        "histogram": GridHistogram(exponent, first, tuple(counts.tolist())),
        "quantiles": _merge_summaries([p.quantiles for p in parts]),
    }


def _merge_summaries(parts: list[QuantileSummary]) -> QuantileSummary:
    values = np.concatenate([np.asarray(p.values, dtype=np.float64) for p in parts])
    weights = np.concatenate([p.weights() for p in parts])
    order = np.argsort(values, kind="stable")
    count = sum(p.count for p in parts)
    return QuantileSummary(count, tuple(mid_quantiles(values[order], weights[order]).tolist()))
