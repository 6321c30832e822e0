"""The per-feature verdict, written once, over an "offline side": raw columns or a profile.

`judge` takes what every comparison has (the online column, the settings) and an offline side
that answers a few questions: its type, its null rates, whether it can be read as text, and what
it says against the online values (`Evidence`: a distribution test, a domain gap, notes). A
`RawSide` holds the offline column; the profile's side (`_profile.side`) holds its summary.
Row-level agreement needs the rows, so only a raw side joined on keys (an `Alignment`) has it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

import polars as pl

from ._align import OFFLINE_ROW, ONLINE_ROW, Alignment
from ._columns import (
    common_type,
    dtype_name,
    finite_values,
    kind_of,
    nan_rate,
    null_rate,
    same_kind,
)
from ._diagnose import diagnose_type
from ._errors import SkewcheckInputError, SkewcheckWarning
from ._model import (
    Cause,
    Diagnosis,
    DomainGap,
    FeatureResult,
    Histogram,
    NullRates,
    Reason,
    TestResult,
    ValueResult,
    Verdict,
)
from ._settings import (
    DEFAULT_ABS_TOL,
    DEFAULT_EXAMPLES,
    DEFAULT_MAX_MISMATCH_RATE,
    DEFAULT_NULL_RATE_TOLERANCE,
    DEFAULT_REL_TOL,
    NUMERIC_ONLY_TESTS,
)
from ._stats import distribution_test, histogram
from ._values import compare_values, diagnose_mismatches

# Values seen on one side only that a domain gap lists.
DOMAIN_EXAMPLES = 5
TESTED_KINDS = ("numeric", "categorical", "temporal")


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


@dataclass(frozen=True)
class Evidence:
    """What an offline side says against the online values of one feature."""

    distribution: TestResult | None = None
    domain: DomainGap | None = None
    notes: tuple[str, ...] = ()
    plot: Callable[[], Histogram] | None = None  # drawn only for a flagged feature


class OfflineSide(Protocol):
    """The offline data of one feature, as the verdict reads it."""

    @property
    def dtype(self) -> str: ...

    @property
    def kind(self) -> str: ...

    def null_rates(self) -> tuple[float, float]:
        """Shares of null and of NaN rows."""

    def all_null(self) -> bool: ...

    def comparable(self, online: pl.DataType) -> bool:
        """Whether the values compare as they are (same kind; for time, same temporal kind)."""

    def as_text(self) -> OfflineSide | None:
        """The side with its values as text (for a type mismatch); None when it cannot."""

    def meet(self, online: pl.Series) -> tuple[OfflineSide, pl.Series]:
        """Both sides brought to one type, when their dtypes differ but their kinds agree."""

    def evidence(self, name: str, online: pl.Series, kind: str, test: str | None) -> Evidence:
        """The distribution test (and, if categorical, the domain gap) against the online
        values (finite, from `finite_values`)."""


@dataclass(frozen=True)
class RawSide:
    """The offline column itself."""

    series: pl.Series

    @property
    def dtype(self) -> str:
        return str(self.series.dtype)

    @property
    def kind(self) -> str:
        return kind_of(self.series.dtype)

    def null_rates(self) -> tuple[float, float]:
        return null_rate(self.series), nan_rate(self.series)

    def all_null(self) -> bool:
        return self.series.null_count() == self.series.len()

    def comparable(self, online: pl.DataType) -> bool:
        return same_kind(self.series.dtype, online)

    def as_text(self) -> RawSide:
        return RawSide(self.series.cast(pl.String))

    def meet(self, online: pl.Series) -> tuple[RawSide, pl.Series]:
        offline, online = common_type(self.series, online)
        return RawSide(offline), online

    def evidence(self, name: str, online: pl.Series, kind: str, test: str | None) -> Evidence:
        offline = finite_values(self.series, kind)
        domain = domain_gap(offline, online) if kind == "categorical" else None
        if not (offline.len() and online.len()):
            warn_no_values(name)
            return Evidence(domain=domain)
        test_kind = "categorical" if kind == "categorical" else "numeric"
        return Evidence(
            distribution=distribution_test(offline, online, kind=test_kind, test=test),
            domain=domain,
            plot=lambda: histogram(offline, online, kind=test_kind),
        )


def judge(
    name: str, off: OfflineSide | None, on: pl.Series | None, settings: Settings, alignment: Alignment | None = None
) -> FeatureResult:
    """Everything skewcheck finds about one feature, and its verdict."""
    kind = off.kind if off is not None else kind_of(on.dtype)
    offline_null, offline_nan = off.null_rates() if off is not None else (0.0, 0.0)
    nulls = NullRates(
        offline_rate=offline_null, online_rate=null_rate(on), offline_nan_rate=offline_nan, online_nan_rate=nan_rate(on)
    )
    dtypes = {"dtype_offline": off.dtype if off is not None else None, "dtype_online": dtype_name(on)}
    both_null = off is not None and on is not None and off.all_null() and on.null_count() == on.len()
    early = unjudged(name, kind, nulls, dtypes, _missing_side(off, on), both_null)
    if early is not None:
        return early
    original = (off, on)
    off, on, kind, reasons, notes, testable = meet_types(off, on, kind)
    values, diagnosis = None, None
    if alignment is not None:  # rows joined on keys: the offline side holds the rows
        values, mismatch = compare_values(off.series, on, alignment, kind, settings)
        if needs_diagnosis(values, settings, reasons):
            diagnosis, benign = diagnose_mismatches(off.series, on, alignment, mismatch, kind, settings, values)
            if benign:
                reasons.remove(Reason.VALUES)
        if Reason.TYPE in reasons:
            diagnosis = diagnose_type(
                *(
                    side.gather(alignment.pairs.get_column(row))
                    for side, row in zip((original[0].series, original[1]), (OFFLINE_ROW, ONLINE_ROW))
                )
            )
        if alignment.asof:  # the offline side is a history: describe the rows that were served
            off = RawSide(off.series.gather(alignment.pairs.get_column(OFFLINE_ROW)))
            offline_null, offline_nan = off.null_rates()
            nulls = replace(nulls, offline_rate=offline_null, offline_nan_rate=offline_nan)
    evidence = Evidence()
    if testable and kind in TESTED_KINDS:
        test_kind = "categorical" if kind == "categorical" else "numeric"
        evidence = off.evidence(name, finite_values(on, kind), kind, settings.test_for(name, test_kind))
    return conclude(name, kind, nulls, dtypes, reasons, notes, values, diagnosis, evidence, settings)


def unjudged(
    name: str, kind: str, nulls: NullRates, dtypes: dict, missing: str | None, both_null: bool
) -> FeatureResult | None:
    """The result of a feature that cannot be compared: absent or all null on one side (skew), or
    null on both (nothing to compare, with a warning); None for a feature to compare."""
    if missing:
        side = "offline" if "offline" in missing else "online"
        return FeatureResult(
            name=name,
            verdict=Verdict.SKEW,
            kind=kind,
            nulls=nulls,
            **dtypes,
            reasons=(Reason.MISSING,),
            diagnosis=Diagnosis(Cause.MISSING, missing, params={"side": side}),
        )
    if both_null:
        warnings.warn(f"feature {name!r} is null on both sides: nothing to compare", SkewcheckWarning, stacklevel=3)
        return FeatureResult(
            name=name, verdict=Verdict.OK, kind=kind, nulls=nulls, **dtypes, notes=("null on both sides",)
        )
    return None


def meet_types(off: OfflineSide, on: pl.Series, kind: str):
    """Both sides in a type they compare in: as text when their kinds differ (a `type` reason),
    else in their common type. Returns (off, on, kind, reasons, notes, testable)."""
    reasons: list[Reason] = []
    notes: list[str] = []
    testable = True
    if not off.comparable(on.dtype):
        reasons.append(Reason.TYPE)
        text = off.as_text()
        if text is None:
            notes.append(
                f"types differ: {off.dtype} offline, {on.dtype} online; a profile cannot compare "
                "the values as text, so no distribution test ran"
            )
            testable = False
        else:
            notes.append(f"types differ: {off.dtype} offline, {on.dtype} online; values compared as text")
            off, on, kind = text, on.cast(pl.String), "categorical"
    elif off.dtype != str(on.dtype):
        notes.append(f"dtype differs ({off.dtype} offline, {on.dtype} online): the values decide")
        off, on = off.meet(on)
    return off, on, kind, reasons, notes, testable


def needs_diagnosis(values: ValueResult, settings: Settings, reasons: list[Reason]) -> bool:
    """Adds the `values` reason when too many matched pairs disagree; True when their cause is to be named."""
    if values.mismatched and values.mismatch_rate > settings.max_mismatch_rate:
        reasons.append(Reason.VALUES)
        return settings.diagnose
    return False


def conclude(
    name: str,
    kind: str,
    nulls: NullRates,
    dtypes: dict,
    reasons: list[Reason],
    notes: list[str],
    values: ValueResult | None,
    diagnosis: Diagnosis | None,
    evidence: Evidence,
    settings: Settings,
) -> FeatureResult:
    """The verdict from what was found (the one place it is decided, in memory or bucket by bucket)."""
    notes = [*notes, *evidence.notes]
    if evidence.distribution is not None and evidence.distribution.drifted:
        reasons.append(Reason.DISTRIBUTION)
    if nulls.gap > settings.null_rate_tolerance:
        reasons.append(Reason.NULLS)
    hist = None
    if reasons and evidence.distribution is not None and evidence.plot is not None:  # plotted in the HTML report
        hist = evidence.plot()
    verdict = _verdict(reasons, values)
    if verdict is Verdict.DRIFT:
        diagnosis = Diagnosis(
            Cause.NONE,
            f"values agree on all {values.compared:,} matched pairs: the {_what_differs(reasons)} because the two "
            "sides hold different rows (drift, not a computation bug)",
        )
    return FeatureResult(
        name=name,
        verdict=verdict,
        kind=kind,
        nulls=nulls,
        **dtypes,
        values=values,
        distribution=evidence.distribution,
        domain=evidence.domain,
        diagnosis=diagnosis,
        reasons=tuple(reasons),
        notes=tuple(notes),
        histogram=hist,
    )


def _verdict(reasons: list[Reason], values) -> Verdict:
    """Skew when a row differs (or the feature is missing or of another kind); drift when the
    matched pairs all agree and only the populations differ. Without matched pairs a
    population difference is the only evidence, and counts as skew."""
    if not reasons:
        return Verdict.OK
    if {Reason.MISSING, Reason.TYPE, Reason.VALUES} & set(reasons):
        return Verdict.SKEW
    return Verdict.DRIFT if values is not None and values.compared else Verdict.SKEW


def _missing_side(off: OfflineSide | None, on: pl.Series | None) -> str | None:
    return missing_reason(
        off is not None,
        on is not None,
        off is not None and off.all_null(),
        on is not None and on.null_count() == on.len(),
    )


def missing_reason(offline: bool, online: bool, offline_all_null: bool, online_all_null: bool) -> str | None:
    """Why a feature cannot be compared at all: absent or all-null on one side."""
    if not offline:
        return "absent from the offline data"
    if not online:
        return "absent from the online data"
    if offline_all_null and not online_all_null:
        return "all null in the offline data"
    if online_all_null and not offline_all_null:
        return "all null in the online data"
    return None


def warn_no_values(name: str) -> None:
    warnings.warn(
        f"feature {name!r} has no values on one side after dropping nulls and NaN", SkewcheckWarning, stacklevel=3
    )


def domain_gap(off: pl.Series, on: pl.Series) -> DomainGap | None:
    """Categorical values seen on one side only (a few of each, sorted, and how many)."""
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


def _what_differs(reasons) -> str:
    """E.g. "distribution differs", "distribution and null rate differ"."""
    named = [{Reason.DISTRIBUTION: "distribution", Reason.NULLS: "null rate"}[r] for r in reasons]
    return f"{' and '.join(named)} {'differ' if len(named) > 1 else 'differs'}"
