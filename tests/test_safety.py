"""Nothing is ever lost, and bad input is one clear line: reports, hostile files, interrupted runs."""

import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
import time
import warnings
from datetime import datetime, timezone

import polars as pl
import pytest

import skewcheck
from skewcheck import SkewcheckInputError
from skewcheck._cli import main

TS = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _frame(scale=1.0):
    return pl.DataFrame(
        {
            "user_id": list(range(20)),
            "event_timestamp": [TS] * 20,
            "feature_timestamp": [TS] * 20,
            "spend": [i * scale for i in range(20)],
        }
    )


@pytest.fixture
def inputs(tmp_path):
    off, on = tmp_path / "off.parquet", tmp_path / "on.parquet"
    _frame().write_parquet(off)
    _frame(2.0).write_parquet(on)
    return off, on


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_error_line(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("skewcheck: error: ") and "Traceback" not in err, err
    return err


# --- a report never overwrites an input --------------------------------------------------------


def _alias(tmp_path, target, how):
    if how == "itself":
        return target
    alias = tmp_path / f"alias-{how}.parquet"
    (os.symlink if how == "symlink" else os.link)(target, alias)
    return alias


@pytest.mark.parametrize("how", ["itself", "symlink", "hard link"])
@pytest.mark.parametrize("command", ["compare --json", "compare --html", "profile --out", "pit --json", "pit --html"])
def test_a_report_path_that_is_an_input_is_refused(tmp_path, inputs, capsys, command, how):
    off, on = inputs
    victim = on if command.startswith("compare") else off
    before = _digest(victim)
    report = str(_alias(tmp_path, victim, how))
    name, option = command.split()
    args = {
        "compare": ["compare", str(off), str(on), "--key", "user_id"],
        "profile": ["profile", str(off)],
        "pit": ["pit", str(off), "--event-time", "event_timestamp", "--feature-time", "feature_timestamp"],
    }[name]
    assert main([*args, option, report]) == 2
    assert f"{option} " in _one_error_line(capsys)
    assert _digest(victim) == before


def test_two_reports_on_one_path_are_refused(tmp_path, inputs, capsys):
    off, on = inputs
    report = str(tmp_path / "r.out")
    assert main(["compare", str(off), str(on), "--key", "user_id", "--json", report, "--html", report]) == 2
    assert "--json and --html" in _one_error_line(capsys)
    assert not os.path.exists(report)


# --- how reports are written ---------------------------------------------------------------------


def test_a_symlinked_report_path_is_written_through(tmp_path, inputs):
    off, on = inputs
    target, link = tmp_path / "reports" / "r.json", tmp_path / "latest.json"
    target.parent.mkdir()
    target.write_text("old")
    link.symlink_to(target)
    assert main(["compare", str(off), str(on), "--key", "user_id", "--json", str(link), "--quiet"]) == 1
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text())["passed"] is False


def test_a_fifo_is_written_in_place(tmp_path, inputs):
    off, on = inputs
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    assert main(["compare", str(off), str(on), "--key", "user_id", "--json", str(fifo), "--quiet"]) == 1
    reader.join(timeout=30)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert json.loads(received[0])["passed"] is False


def test_a_character_device_is_written_in_place(tmp_path, inputs):
    """Reached through a link of our own, so that code which renames over the path replaces only
    the link (never the system's /dev/null, which such code, run as root, would destroy)."""
    off, on = inputs
    link = tmp_path / "null"
    link.symlink_to("/dev/null")
    assert main(["compare", str(off), str(on), "--key", "user_id", "--json", str(link), "--quiet"]) == 1
    assert link.is_symlink() and stat.S_ISCHR(os.stat(link).st_mode)


def test_a_link_to_standard_output_stays_a_link(tmp_path, inputs):
    """As root, --json /dev/stdout replaced the system's /dev/stdout symlink with a regular file.
    A link of our own to /proc/self/fd/1 stands in for it (the real one is not put at risk)."""
    off, on = inputs
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    out = tmp_path / "captured.json"
    out.write_text("kept\n")
    with open(out, "a") as stdout:  # >> must keep what is there
        code = subprocess.run(
            [
                sys.executable,
                "-m",
                "skewcheck",
                "compare",
                str(off),
                str(on),
                "--key",
                "user_id",
                "--quiet",
                "--json",
                str(link),
            ],
            stdout=stdout,
            check=False,
        ).returncode
    assert code == 1
    assert link.is_symlink()
    kept, report = out.read_text().split("\n", 1)
    assert kept == "kept" and json.loads(report)["passed"] is False


def test_dash_is_standard_output_without_the_summary(inputs, capsys):
    off, on = inputs
    assert main(["compare", str(off), str(on), "--key", "user_id", "--json", "-"]) == 1
    assert json.loads(capsys.readouterr().out)["passed"] is False
    assert main(["profile", str(off), "--out", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 20
    assert not os.path.exists("-")
    assert main(["compare", str(off), str(on), "--key", "user_id", "--json", "-", "--html", "-"]) == 2
    assert "--json and --html both write to '-'" in _one_error_line(capsys)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_reports_get_the_permissions_of_the_umask(tmp_path, inputs, umask, mode):
    off, on = inputs
    previous = os.umask(umask)
    try:
        for option, name in (("--json", "r.json"), ("--html", "r.html")):
            main(["compare", str(off), str(on), "--key", "user_id", option, str(tmp_path / name), "--quiet"])
        main(["profile", str(off), "--out", str(tmp_path / "p.json")])
    finally:
        os.umask(previous)
    for name in ("r.json", "r.html", "p.json"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == mode, name


def test_a_replaced_report_keeps_its_mode(tmp_path, inputs):
    off, on = inputs
    report = tmp_path / "r.json"
    report.write_text("old")
    report.chmod(0o640)
    main(["compare", str(off), str(on), "--key", "user_id", "--json", str(report), "--quiet"])
    assert stat.S_IMODE(report.stat().st_mode) == 0o640 and report.read_text() != "old"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


# --- bad input: one clear line, exit 2 -----------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (["--key", "user_id", "--key", "user_id"], ["--key", "'user_id'", "more than once"]),
        (
            ["--key", "user_id", "--timestamp", "event_timestamp", "--asof", "--asof-tolerance", "3 parsecs"],
            ["--asof-tolerance", "'3 parsecs'", "not a duration"],
        ),
        (
            ["--key", "user_id", "--timestamp", "event_timestamp", "--asof-tolerance", "1d"],
            ["--asof-tolerance", "--asof"],
        ),
    ],
)
def test_option_mistakes_are_one_line(inputs, capsys, extra, needles):
    off, on = inputs
    assert main(["compare", str(off), str(on), *extra]) == 2
    err = _one_error_line(capsys)
    for needle in needles:
        assert needle in err, (needle, err)


def test_a_repeated_csv_header_is_refused_naming_the_column(tmp_path, capsys):
    path = tmp_path / "dup.csv"
    path.write_text("user_id,x,x\n1,2,3\n")
    assert main(["compare", str(path), str(path), "--key", "user_id"]) == 2
    err = _one_error_line(capsys)
    assert "dup.csv" in err and "'x'" in err


def _profile_text():
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0, None], "c": ["a", "b", "a", None]})
    return json.loads(skewcheck.profile(frame).to_json())


def _edit(change):
    data = _profile_text()
    change(data)
    return data


HAND_EDITED = {
    "nulls as text": (lambda d: d["features"][0].update(nulls="x"), "nulls"),
    "a feature of 0 rows": (lambda d: d["features"][0].update(rows=0), "rows"),
    "empty quantiles": (lambda d: d["features"][0]["quantiles"].update(values=[]), "quantiles"),
    "negative count": (lambda d: d["features"][0].update(count=-2, nulls=3), "count"),
    "a duplicated feature": (lambda d: d["features"].append(d["features"][0]), "more than once"),
    "counts that do not add up": (lambda d: d["features"][0].update(nulls=3), "add up"),
    "category counts that do not add up": (lambda d: d["features"][1].update(categories=[["a", 1]]), "add up"),
    "min above max": (lambda d: d["features"][0].update(min=9.0), "range"),
    "a histogram off the grid": (lambda d: d["features"][0]["histogram"].update(first=-5), "histogram"),
    "a feature that is a number": (lambda d: d["features"].append(3), "expected an object"),
}


@pytest.mark.parametrize("case", list(HAND_EDITED))
def test_a_hand_edited_profile_is_one_clear_line(tmp_path, capsys, case):
    change, needle = HAND_EDITED[case]
    path, online = tmp_path / "offline.json", tmp_path / "online.parquet"
    path.write_text(json.dumps(_edit(change)))
    pl.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"]}).write_parquet(online)
    with pytest.raises(SkewcheckInputError, match=needle):
        skewcheck.Profile.from_json(path)
    assert main(["compare", str(path), str(online)]) == 2
    err = _one_error_line(capsys)
    assert "offline.json: malformed profile" in err and needle in err


def test_a_built_profile_passes_its_own_checks():
    frame = pl.DataFrame(
        {
            "b": [True, None, False],
            "n": [None, None, None],
            "t": [TS, None, TS],
            "x": [float("nan"), float("inf"), 1.0],
            "s": ["a", "b", None],
            "l": [[1], [2], None],
        }
    )
    parts = [skewcheck.profile(frame), skewcheck.profile(frame.with_columns(pl.col("x") * 1e6))]
    for profile in (*parts, skewcheck.merge_profiles(parts)):
        assert skewcheck.Profile.from_json(profile.to_json()).features == profile.features


def test_api_inputs_that_crashed_are_one_clear_error(tmp_path):
    pa = pytest.importorskip("pyarrow")
    frame = _frame()
    bad = {
        "a LazyFrame whose scan fails": (pl.scan_parquet(tmp_path / "gone.parquet"), "gone.parquet"),
        "a pyarrow ChunkedArray": (pa.chunked_array([[1, 2]]), "ChunkedArray"),
        "a polars Series": (pl.Series([1, 2]), "Series"),
        "a pl.Object column": (frame.with_columns(spend=pl.Series([object()] * 20, dtype=pl.Object)), "'spend'"),
    }
    for case, (data, needle) in bad.items():
        with pytest.raises(SkewcheckInputError, match=needle):
            skewcheck.compare(data, frame, keys="user_id")
        assert case


@pytest.mark.filterwarnings("ignore::skewcheck.SkewcheckWarning")
def test_a_pandas_index_holding_the_keys_is_used():
    pd = pytest.importorskip("pandas")
    offline = _frame().to_pandas().set_index("user_id")
    online = _frame().with_columns(pl.when(pl.col("user_id") == 3).then(-1.0).otherwise(pl.col("spend")).alias("spend"))
    report = skewcheck.compare(offline, online, keys="user_id", timestamp="event_timestamp")
    assert report.rows.matched == 20
    assert [e.key for e in report["spend"].values.examples] == [{"user_id": 3, "event_timestamp": TS}]
    assert isinstance(offline.index, pd.Index)


def test_html_of_huge_strings_is_fast_bounded_and_quiet():
    """20 KB labels took 4 s (1 MB: over 150 s) in matplotlib's tick layout, with a raw UserWarning."""
    labels = [letter * 20_000 for letter in "abcdefghij"]
    offline = pl.DataFrame({"k": range(100), "s": [labels[i % 10] for i in range(100)]})
    online = offline.with_columns(
        pl.when(pl.col("k") % 3 > 0).then(pl.col("s").shift(-1, fill_value=labels[0])).otherwise(pl.col("s"))
    )
    report = skewcheck.compare(offline, online, keys="k")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        html = report.to_html()
    assert time.perf_counter() - start < 10
    assert len(html) < 500_000 and "a" * 300 not in html


@pytest.mark.filterwarnings("ignore::skewcheck.SkewcheckWarning")
def test_ctrl_c_cancels_the_queued_features(monkeypatch):
    """Ctrl-C exited only once every queued feature had been compared (14 s on a wide input)."""
    from skewcheck import _compare, _run

    calls = []

    def slow_feature(name, *args, **kwargs):
        calls.append(name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        time.sleep(0.02)
        return real(name, *args, **kwargs)

    real = _compare.judge
    monkeypatch.setattr(_compare, "judge", slow_feature)
    wide = pl.DataFrame({"k": range(10), **{f"f{i}": [float(i)] * 10 for i in range(300)}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(KeyboardInterrupt):
            skewcheck.compare(wide, wide, keys="k", diagnose=False)
    time.sleep(0.2)  # let the threads that were running finish
    assert len(calls) < 3 + 2 * _run.WORKERS, len(calls)
