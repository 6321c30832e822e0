"""Properties that must hold for any data: a frame agrees with itself; row order is irrelevant."""

import math

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import skewcheck

floats = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=64))
labels = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"]))


@st.composite
def feature_frames(draw, min_rows=1, max_rows=60):
    rows = draw(st.integers(min_rows, max_rows))
    return pl.DataFrame(
        {
            "k": list(range(rows)),
            "x": draw(st.lists(floats, min_size=rows, max_size=rows)),
            "n": draw(st.lists(st.one_of(st.none(), st.integers(-1000, 1000)), min_size=rows, max_size=rows)),
            "c": draw(st.lists(labels, min_size=rows, max_size=rows)),
        },
        schema={"k": pl.Int64, "x": pl.Float64, "n": pl.Int64, "c": pl.String},
    )


def _comparable(report: skewcheck.SkewReport) -> dict:
    """The report without the labels and with statistics rounded (sums may differ in the last bit)."""
    data = report.to_dict()
    data.pop("offline"), data.pop("online")
    for feature in data["features"]:
        test = feature["distribution"]
        if test and isinstance(test["statistic"], float):
            test["statistic"] = round(test["statistic"], 9)
        if test and test["p_value"] is not None:
            test["p_value"] = round(test["p_value"], 9)
    data["features"].sort(key=lambda f: f["name"])
    return data


quiet = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@quiet
@given(feature_frames())
def test_a_frame_compared_with_itself_passes(frame):
    for keys in ("k", None):
        report = skewcheck.compare(frame, frame.clone(), keys=keys)
        for feature in report.features:
            assert not feature.skewed, (feature.name, feature.reasons)
            if feature.values is not None:
                assert feature.values.mismatched == 0
            if feature.distribution is not None and not math.isnan(feature.distribution.statistic):
                assert not feature.distribution.drifted
        assert report.passed


@quiet
@given(feature_frames(min_rows=2), feature_frames(min_rows=2), st.randoms(use_true_random=False))
def test_row_order_does_not_change_the_result(offline, online, random):
    order = list(range(online.height))
    random.shuffle(order)
    shuffled = online[order]
    for keys in ("k", None):
        assert _comparable(skewcheck.compare(offline, online, keys=keys)) == _comparable(
            skewcheck.compare(offline, shuffled, keys=keys)
        )
