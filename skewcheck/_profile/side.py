"""The profile side of a comparison: a feature's profile standing in for its offline column.

`compare_profile` runs the features through the same verdict as `compare` (`_feature.judge`);
`ProfileSide` answers the verdict's questions from the profile's counts and summaries.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from .._columns import kind_of
from .._errors import SkewcheckInputError, SkewcheckWarning
from .._feature import Evidence, Settings, judge, warn_no_values
from .._io import load
from .._model import DomainGap, Histogram, SkewReport, Verdict
from .._run import read_columns, run_features
from .._settings import (
    DEFAULT_ABS_TOL,
    DEFAULT_EXAMPLES,
    DEFAULT_MAX_MISMATCH_RATE,
    DEFAULT_NULL_RATE_TOLERANCE,
    DEFAULT_REL_TOL,
    check_profile_comparison,
)
from .._stats import counts_test, default_test, distribution_test, histogram, weighted_wasserstein
from .._stats.samples import MIN_NORM
from .model import FeatureProfile, Profile
from .sketch import SKETCH_POINTS, VALUE_CAP, grid, grid_counts

# Categories listed in the plot of a categorical feature (as compare's histogram()).
_PLOTTED_CATEGORIES = 30
_DOMAIN_EXAMPLES = 5


def check_profile_options(**options: Any) -> None:
    """Refuse, naming it, an option of compare that needs the offline rows, which a profile has not."""
    defaults = {
        "asof": False,
        "asof_tolerance": None,
        "abs_tol": DEFAULT_ABS_TOL,
        "rel_tol": DEFAULT_REL_TOL,
        "max_mismatch_rate": DEFAULT_MAX_MISMATCH_RATE,
        "examples": DEFAULT_EXAMPLES,
        "diagnose": True,
        "where_offline": None,
    }
    for name, value in options.items():
        if value != defaults[name]:
            raise SkewcheckInputError(
                f"`{name}` needs the offline rows, but the offline side is a profile (distributions only): "
                "leave it out, or compare with the offline data itself"
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
    fail_on: str = "skew",
    progress: bool | None = None,
    where: Any = None,
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
    fail_on : {"skew", "drift"}
        As in compare (a profile has no matched pairs, so every difference is skew).
    progress : bool, optional
        Show progress on stderr; default: when stderr is a terminal.
    where : str or polars.Expr, optional
        Compare only the online rows where this holds, as in compare.

    Returns
    -------
    SkewReport
        As compare's without keys: ``values`` is None for every feature.

    Raises
    ------
    SkewcheckInputError
        Unreadable inputs, unknown features or tests, or KS on a summarised feature.
    """
    check_profile_comparison(
        keys=keys, timestamp=timestamp, features=features, tests=tests, null_rate_tolerance=null_rate_tolerance
    )
    if not isinstance(profile, (Profile, str, os.PathLike)):
        raise SkewcheckInputError(
            f"`profile` must be a Profile or the path of its JSON file, got {type(profile).__name__}"
        )
    if not isinstance(profile, Profile):
        profile = Profile.from_json(profile)
    gate = Verdict(fail_on)
    on = load(online, role="online", where=where)
    reserved = ([keys] if isinstance(keys, str) else list(keys or [])) + ([timestamp] if timestamp else [])
    names = _compared_names(profile, features, reserved)
    settings = Settings(null_rate_tolerance=null_rate_tolerance, tests=tests)

    def read(chunk: list[str]):
        return {name: ProfileSide(profile[name]) for name in chunk}, read_columns(on, chunk)

    results, notes = run_features(
        names, on.rows, read, lambda name, o, n: judge(name, o, n, settings), progress=progress
    )
    for note in notes:
        warnings.warn(note, SkewcheckWarning, stacklevel=2)
    results.sort(key=lambda f: f.severity, reverse=True)
    if reserved:
        left_out = (
            f"a profile holds distributions only: values were not compared row by row ({', '.join(reserved)} left out)"
        )
        notes = (left_out, *notes)
    failing = {Verdict.SKEW} | ({Verdict.DRIFT} if gate is Verdict.DRIFT else set())
    return SkewReport(
        passed=not any(f.verdict in failing for f in results),
        features=tuple(results),
        offline_label=f"profile of {profile.source}",
        online_label=on.label,
        settings={
            "profile": profile.source,
            "null_rate_tolerance": null_rate_tolerance,
            "tests": dict(tests) if isinstance(tests, Mapping) else tests,
        },
        warnings=notes,
        fail_on=gate,
    )


@dataclass(frozen=True)
class ProfileSide:
    """A feature's profile as the offline side of the verdict."""

    profile: FeatureProfile

    @property
    def dtype(self) -> str:
        return self.profile.dtype

    @property
    def kind(self) -> str:
        return self.profile.kind

    def null_rates(self) -> tuple[float, float]:
        p = self.profile
        return p.nulls / p.rows, p.nans / p.rows

    def all_null(self) -> bool:
        return self.profile.nulls == self.profile.rows

    def comparable(self, online: pl.DataType) -> bool:
        """Same kind; for time, the same temporal kind (told from the profile's dtype name)."""
        if kind_of(online) != self.kind:
            return False
        return self.kind != "temporal" or _temporal_kind(self.dtype) == _temporal_kind(str(online))

    def as_text(self) -> ProfileSide | None:
        """A categorical profile holds its categories as text; numbers are summarised, not listed."""
        return self if self.kind == "categorical" else None

    def meet(self, online: pl.Series) -> tuple[ProfileSide, pl.Series]:
        return self, online  # the profile compares numbers as numbers and categories as text

    def evidence(self, name: str, online: pl.Series, kind: str, test: str | None) -> Evidence:
        if kind == "categorical":
            return self._categorical(name, online, test)
        return self._numeric(name, online, test)

    def _numeric(self, name: str, online: pl.Series, test: str | None) -> Evidence:
        offline = self.profile
        numbers = np.sort(online.cast(pl.Float64).to_numpy())
        if not offline.count or not numbers.size:
            warn_no_values(name)
            return Evidence()
        summary = offline.quantiles
        if summary.exact:  # every offline value is in the profile: run compare's own test
            reference, current = pl.Series(summary.values, dtype=pl.Float64), pl.Series(numbers)
            return Evidence(
                distribution=distribution_test(reference, current, kind="numeric", test=test),
                plot=lambda: histogram(reference, current, kind="numeric"),
            )
        exponent, first, bins = grid(min(offline.min, float(numbers[0])), max(offline.max, float(numbers[-1])))
        grid_offline = offline.histogram.rebin(exponent, first, bins)
        grid_online = grid_counts(numbers, exponent, first, bins)
        edges = np.ldexp(np.arange(first, first + bins + 1, dtype=np.float64), exponent)

        def plot() -> Histogram:
            return Histogram(
                kind="numeric",
                edges=edges.tolist(),
                categories=[],
                offline=grid_offline.tolist(),
                online=grid_online.tolist(),
                offline_other=0,
                online_other=0,
            )

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
                f"test 'ks' needs every offline value of {name!r}, but its profile keeps a "
                f"{SKETCH_POINTS}-point summary of {offline.count:,} values; choose wasserstein, jensenshannon, "
                "psi, linf or chisquare"
            )
        notes = []
        if test == "wasserstein":
            result = weighted_wasserstein(*points, numbers, offline.std)
            if offline.values is None:
                bound = (offline.max - offline.min) / SKETCH_POINTS / max(offline.std, MIN_NORM)
                notes.append(
                    f"wasserstein approximated from the profile's {SKETCH_POINTS}-point quantile summary "
                    f"(offline error at most {bound:.2g})"
                )
        else:
            result = counts_test(reference, current, test)
            if offline.values is None:
                notes.append(
                    f"{test} on the profile's {bins} fixed bins of width {math.ldexp(1.0, exponent):g} "
                    "(compare bins by Sturges' rule)"
                )
        return Evidence(distribution=result, notes=tuple(notes), plot=plot)

    def _categorical(self, name: str, online: pl.Series, test: str | None) -> Evidence:
        offline = self.profile
        labels = online.cast(pl.String)
        table = labels.rename("label").value_counts(name="n")
        online_counts = dict(zip(table["label"].to_list(), table["n"].to_list()))
        offline_counts = dict(offline.categories or ())
        complete = offline.other == 0
        domain = _domain(offline_counts, online_counts, complete)
        if not offline.count or not labels.len():
            warn_no_values(name)
            return Evidence(domain=domain)
        if complete:
            support = sorted(offline_counts.keys() | online_counts.keys())
            reference = np.array([offline_counts.get(c, 0) for c in support], dtype=np.int64)
            current = np.array([online_counts.get(c, 0) for c in support], dtype=np.int64)
        else:  # online categories the profile did not list join its "other" bin
            support = sorted(offline_counts)
            reference = np.array([offline_counts[c] for c in support] + [offline.other], dtype=np.int64)
            listed = sum(online_counts.get(c, 0) for c in support)
            current = np.array([online_counts.get(c, 0) for c in support] + [labels.len() - listed], dtype=np.int64)
        result = counts_test(reference, current, test or default_test("categorical", offline.count, len(support)))
        return Evidence(distribution=result, domain=domain, plot=lambda: _categorical_plot(support, reference, current))


def _temporal_kind(dtype: str) -> str:
    if dtype.startswith("Duration"):
        return "duration"
    return "time" if dtype == "Time" else "instant"


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


def _value_table(
    values: tuple[tuple[float, int], ...], numbers: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct values of both sides (sorted) and each side's count of each."""
    online_values, online_counts = np.unique(numbers, return_counts=True)
    offline_values = np.array([v for v, _ in values])
    support = np.union1d(offline_values, online_values)
    reference = np.zeros(support.size, dtype=np.int64)
    reference[np.searchsorted(support, offline_values)] = [n for _, n in values]
    current = np.zeros(support.size, dtype=np.int64)
    current[np.searchsorted(support, online_values)] = online_counts
    return support, reference, current


def _categorical_plot(support: list[str], offline: np.ndarray, online: np.ndarray) -> Histogram:
    """The most frequent categories over both sides (ties alphabetical), as compare's histogram()."""
    ranked = sorted(range(len(support)), key=lambda i: (-(offline[i] + online[i]), support[i]))[:_PLOTTED_CATEGORIES]
    return Histogram(
        kind="categorical",
        edges=[],
        categories=[support[i] for i in ranked],
        offline=[int(offline[i]) for i in ranked],
        online=[int(online[i]) for i in ranked],
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
        offline_only=tuple(offline_only[:_DOMAIN_EXAMPLES]),
        online_only=tuple(online_only[:_DOMAIN_EXAMPLES]),
        offline_only_count=len(offline_only),
        online_only_count=len(online_only),
    )
