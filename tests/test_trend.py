"""skewcheck trend over real reports: a week of runs with a bug from day 4, and the contract edges."""

import json

import numpy as np
import polars as pl
import pytest

import skewcheck
from skewcheck import SkewcheckInputError, read_trend
from skewcheck._cli import main

DAYS = 7
BUG_DAY = 4


def day_frames(day: int, rng) -> tuple[pl.DataFrame, pl.DataFrame]:
    """200 users; from BUG_DAY on the served `amount` is in cents (× 100)."""
    offline = pl.DataFrame(
        {"user_id": np.arange(200), "amount": rng.uniform(1, 100, 200).round(2), "visits": rng.integers(0, 20, 200)}
    )
    online = offline.with_columns(pl.col("amount") * 100) if day >= BUG_DAY else offline
    return offline, online


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    folder = tmp_path_factory.mktemp("week")
    rng = np.random.default_rng(5)
    paths = []
    for day in range(1, DAYS + 1):
        report = skewcheck.compare(*day_frames(day, rng), keys=["user_id"])
        paths.append(folder / f"day-{day}.json")
        report.to_json(paths[-1])
    return paths


def test_the_day_the_bug_starts_is_the_first_skew(week):
    trend = read_trend(week)
    assert trend.runs == tuple(f"day-{d}" for d in range(1, DAYS + 1))
    assert trend.passed == (True,) * (BUG_DAY - 1) + (False,) * (DAYS - BUG_DAY + 1)
    assert trend.first_skew("amount") == f"day-{BUG_DAY}" and trend.first_skew("visits") is None
    frame = trend.to_polars().filter(pl.col("feature") == "amount")
    assert frame["mismatch_rate"].to_list() == [0.0] * (BUG_DAY - 1) + [1.0] * (DAYS - BUG_DAY + 1)
    assert frame["cause"].to_list()[BUG_DAY - 1 :] == ["scale"] * (DAYS - BUG_DAY + 1)
    assert not trend.warnings


def test_cli_prints_the_table_writes_the_plot_and_exits_with_the_last_verdict(week, tmp_path, capsys):
    assert main(["trend", *map(str, week), "--html", str(tmp_path / "trend.html")]) == 1
    out = capsys.readouterr().out
    lines = out.replace("┃", "│").splitlines()
    rows = {
        cells[0]: cells[1:] for line in lines if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) == 4
    }
    assert rows["run"] == ["passed", "amount", "visits"]
    assert rows["day-1"][0] == "yes" and rows["day-1"][1].startswith("ok 0.0%")
    assert rows[f"day-{BUG_DAY}"][0] == "NO" and rows[f"day-{BUG_DAY}"][1].startswith("SKEW 100.0%")
    assert rows["first skew"] == ["", f"day-{BUG_DAY}", "-"]
    html = (tmp_path / "trend.html").read_text()
    assert "data:image/png;base64," in html and html.count('class="skew"') == DAYS - BUG_DAY + 1
    assert main(["trend", *map(str, week[: BUG_DAY - 1])]) == 0


def test_schema_version_2_takes_the_verdict_and_version_1_derives_it(week, tmp_path):
    report = json.loads(week[0].read_text())
    assert report["schema_version"] == 2
    for feature in report["features"]:
        feature["verdict"] = "drift" if feature["name"] == "visits" else "ok"
    (tmp_path / "v2.json").write_text(json.dumps(report))
    old = {
        **report,
        "schema_version": 1,
        "features": [{k: v for k, v in feature.items() if k != "verdict"} for feature in report["features"]],
    }
    (tmp_path / "v1.json").write_text(json.dumps(old))
    trend = read_trend([tmp_path / "v1.json", tmp_path / "v2.json"])
    assert trend.point("v2", "visits").verdict == "drift" and trend.point("v1", "visits").verdict == "ok"
    assert any("schema versions [1, 2]" in w for w in trend.warnings)


def test_another_schema_version_or_not_a_report_is_refused_with_the_file(week, tmp_path, capsys):
    report = json.loads(week[0].read_text())
    (tmp_path / "v3.json").write_text(json.dumps({**report, "schema_version": 3}))
    with pytest.raises(SkewcheckInputError, match=r"v3.json: schema_version 3 is not supported"):
        read_trend([week[0], tmp_path / "v3.json"])
    (tmp_path / "broken.json").write_text("{")
    assert main(["trend", str(tmp_path / "broken.json")]) == 2
    err = capsys.readouterr().err
    assert "broken.json: not a JSON report" in err and err.count("\n") == 1


def test_reports_of_different_feature_sets_line_up_with_a_warning(week, tmp_path):
    report = json.loads(week[1].read_text())
    report["features"] = [f for f in report["features"] if f["name"] != "visits"]
    (tmp_path / "narrow.json").write_text(json.dumps(report))
    trend = read_trend([week[0], tmp_path / "narrow.json"])
    assert trend.point("narrow", "visits") is None and trend.features == ("amount", "visits")
    assert trend.warnings == (
        f"{tmp_path / 'narrow.json'} has no result for visits (another feature set): shown as absent",
    )


def test_the_drift_score_is_one_at_the_threshold_for_distances_and_p_values(week):
    point = read_trend(week).point("day-4", "amount")
    assert point.test == "ks" and point.p_value is not None  # 200 rows: a p-value test
    assert point.drift_score == pytest.approx(np.log(point.p_value) / np.log(point.threshold)) and point.drift_score > 1
    distance = skewcheck._trend.TrendPoint(
        "r", "f", "drift", None, statistic=0.2, threshold=0.1, p_value=None, test="wasserstein", cause=None
    )
    assert distance.drift_score == pytest.approx(2.0)
