"""One per-feature verdict for both offline sides: raw columns and a profile judge alike."""

from __future__ import annotations

import math
import warnings
from datetime import datetime, timedelta

import polars as pl
import pytest

import skewcheck
from skewcheck import SkewcheckInputError

ROWS = 600  # at most SKETCH_POINTS: the profile keeps every value, so its tests are compare's own


def _pair() -> tuple[pl.DataFrame, pl.DataFrame]:
    start = datetime(2026, 1, 1)
    offline = pl.DataFrame(
        {
            "amount": [float(i % 97) for i in range(ROWS)],
            "tier": [["gold", "silver", "bronze"][i % 3] for i in range(ROWS)],
            "seen": [start + timedelta(hours=i) for i in range(ROWS)],
            "flag": [i % 2 == 0 for i in range(ROWS)],
        }
    )
    online = offline.with_columns(
        (pl.col("amount") * 3).alias("amount"),
        pl.when(pl.int_range(ROWS) % 5 == 0).then(pl.lit("platinum")).otherwise("tier").alias("tier"),
    )
    return offline, online


def _summary(report: skewcheck.SkewReport) -> list[tuple]:
    return [
        (
            f.name,
            f.verdict,
            f.reasons,
            f.kind,
            f.distribution and (f.distribution.test, f.distribution.drifted),
            f.distribution and round(f.distribution.statistic, 12),
            f.domain,
            f.histogram is None,
        )
        for f in sorted(report.features, key=lambda f: f.name)
    ]


@pytest.mark.parametrize("tests", [None, "wasserstein", "jensenshannon", "psi", "linf", "chisquare"])
def test_a_profile_judges_every_feature_as_the_raw_offline_side_does(tests):
    offline, online = _pair()
    raw = skewcheck.compare(offline, online, tests=tests)
    summarised = skewcheck.compare(skewcheck.profile(offline), online, tests=tests)

    assert _summary(summarised) == _summary(raw)
    assert summarised.passed == raw.passed


def test_a_test_for_numbers_falls_back_on_a_categorical_feature_on_both_sides():
    offline, online = _pair()
    for side in (offline, skewcheck.profile(offline)):
        tier = skewcheck.compare(side, online, tests="wasserstein")["tier"]
        assert tier.distribution.test == "chisquare"  # compare's default for 600 rows and 4 categories
        assert skewcheck.compare(side, online, tests="wasserstein")["amount"].distribution.test == "wasserstein"


def test_a_numbers_test_named_for_a_categorical_feature_is_refused_on_both_sides():
    offline, online = _pair()
    for side in (offline, skewcheck.profile(offline)):
        with pytest.raises(SkewcheckInputError, match="'wasserstein' needs a numeric feature, but 'tier'"):
            skewcheck.compare(side, online, tests={"tier": "wasserstein"})


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("asof", True),
        ("abs_tol", 0.5),
        ("rel_tol", 0.1),
        ("max_mismatch_rate", 0.2),
        ("examples", 0),
        ("diagnose", False),
    ],
)
def test_options_that_need_offline_rows_are_refused_with_a_profile(option, value):
    offline, online = _pair()
    options = {option: value}
    if option == "asof":  # (asof_tolerance goes with asof, so asof is the one named)
        options.update(keys="flag", timestamp="seen", asof_tolerance="1h")
    with pytest.raises(SkewcheckInputError, match=f"^{option} needs the offline rows") as refused:
        skewcheck.compare(skewcheck.profile(offline), online, **options)
    assert refused.value.parameter == option
    skewcheck.compare(offline, online, **options)  # the same options are fine with the rows


def test_warnings_come_once_each_in_the_same_order_on_both_sides():
    offline = pl.DataFrame(
        {"z": [None] * 4, "a": [None] * 4, "m": [1.0, 2.0, 3.0, 4.0]},
        schema={"z": pl.Float64, "a": pl.Float64, "m": pl.Float64},
    )
    online = offline.clone()
    reports = []
    for side in (offline, skewcheck.profile(offline)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            reports.append(skewcheck.compare(side, online))
        assert [str(w.message) for w in caught if w.category is skewcheck.SkewcheckWarning] == list(
            reports[-1].warnings
        )
    raw, summarised = reports
    assert raw.warnings == summarised.warnings == tuple(sorted(raw.warnings))
    assert any("'a' is null on both sides" in w for w in raw.warnings)


def test_a_missing_feature_names_its_side_on_both_sides():
    offline, online = _pair()
    online = online.drop("flag")
    for side in (offline, skewcheck.profile(offline)):
        flag = skewcheck.compare(side, online)["flag"]
        assert flag.diagnosis.cause is skewcheck.Cause.MISSING and flag.diagnosis.params == {"side": "online"}


def test_a_type_mismatch_on_a_categorical_profile_is_compared_as_text():
    offline, online = _pair()
    online = online.with_columns(pl.col("flag").cast(pl.Int8))
    raw = skewcheck.compare(offline, online)["flag"]
    summarised = skewcheck.compare(skewcheck.profile(offline), online)["flag"]
    assert raw.reasons[0] is summarised.reasons[0] is skewcheck.Reason.TYPE
    assert summarised.distribution.test == raw.distribution.test
    assert math.isclose(summarised.distribution.statistic, raw.distribution.statistic)
