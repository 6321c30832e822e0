"""Inputs as they are really stored: directories, globs, hive partitions, lists of files, gzip text,
`where` (with partition selection that never opens the other files) and the errors bad datasets get."""

import gzip
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

import skewcheck
from skewcheck import SkewcheckInputError
from skewcheck._cli import main
from skewcheck._io import estimated_bytes, file_frames, load

DAYS = [date(2026, 11, 28), date(2026, 11, 29), date(2026, 11, 30)]
ROWS_PER_DAY = 50


def day_frame(day: date) -> pl.DataFrame:
    """One day of a serving log: ids unique across days, x = id / 10, a category."""
    start = (day - DAYS[0]).days * ROWS_PER_DAY
    ids = list(range(start, start + ROWS_PER_DAY))
    return pl.DataFrame({"id": ids, "x": [i / 10 for i in ids], "segment": [f"s{i % 3}" for i in ids]})


def write_hive(root: Path, *, parts: int = 1) -> Path:
    """root/date=YYYY-MM-DD/part-K.parquet, as Spark and Feast write partitioned data."""
    for day in DAYS:
        frame = day_frame(day)
        folder = root / f"date={day.isoformat()}"
        folder.mkdir(parents=True)
        step = frame.height // parts
        for k in range(parts):
            frame.slice(k * step, step if k < parts - 1 else None).write_parquet(folder / f"part-{k}.parquet")
    return root


def everything() -> pl.DataFrame:
    return pl.concat([day_frame(day).with_columns(date=pl.lit(day)) for day in DAYS])


@pytest.fixture
def hive(tmp_path) -> Path:
    return write_hive(tmp_path / "log", parts=2)


def error_of(call) -> str:
    with pytest.raises(SkewcheckInputError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- the forms -------------------------------------------------------------------------------


def test_a_hive_directory_reads_every_file_with_its_partition_column(hive):
    source = load(hive, role="online")
    assert source.rows == len(DAYS) * ROWS_PER_DAY
    assert source.schema["date"] == pl.Date
    assert len(source.files) == 6 and source.format == "parquet"
    assert source.label == f"{hive} (6 parquet files)"
    frame = source.frame.collect().sort("id")
    assert frame.equals(everything().sort("id").select(frame.columns))


def test_the_partition_column_serves_as_key_and_feature(hive, tmp_path):
    offline = everything().with_columns(x=pl.when(pl.col("date") == DAYS[1]).then(pl.col("x") * 100).otherwise("x"))
    report = skewcheck.compare(offline, hive, keys=["id", "date"])
    assert report.rows.matched == len(DAYS) * ROWS_PER_DAY
    assert report["x"].values.mismatched == ROWS_PER_DAY and report["x"].diagnosis.cause.value == "scale"
    shifted = everything().with_columns(date=pl.col("date") + pl.duration(days=1))
    assert skewcheck.compare(shifted, hive, keys="id", features=["date"])["date"].values.mismatched == 150


def test_spark_output_directory_skips_what_spark_skips(tmp_path):
    out = tmp_path / "table.parquet"  # Spark's df.write.parquet("table.parquet") makes a directory
    out.mkdir()
    day_frame(DAYS[0]).write_parquet(out / "part-00000-abc.snappy.parquet")
    day_frame(DAYS[1]).write_parquet(out / "part-00001-abc.snappy.parquet")
    for junk in ("_SUCCESS", "._SUCCESS.crc", ".part-00000-abc.snappy.parquet.crc", "part-2.parquet._COPYING_"):
        (out / junk).write_bytes(b"not data")
    (out / "_temporary" / "0").mkdir(parents=True)
    (out / "_temporary" / "0" / "part-9.parquet").write_bytes(b"half written")
    source = load(out, role="online")
    assert source.rows == 2 * ROWS_PER_DAY and [p.name for p in source.files] == [
        "part-00000-abc.snappy.parquet",
        "part-00001-abc.snappy.parquet",
    ]


def test_globs_pick_files_at_one_level_or_any(hive):
    one_level = load(f"{hive}/*/*.parquet", role="online")
    any_level = load(f"{hive}/**/*.parquet", role="online")
    only_first = load(f"{hive}/*/part-0.parquet", role="online")
    assert one_level.files == any_level.files == load(hive, role="online").files
    assert one_level.schema["date"] == pl.Date  # partitions below the glob's fixed part
    assert only_first.label == f"{hive}/*/part-0.parquet (3 parquet files)"
    assert only_first.rows == 3 * (ROWS_PER_DAY // 2)
    folders = load(f"{hive}/date=2026-11-2*", role="online")  # folders bring their files
    assert len(folders.files) == 4 and folders.frame.collect()["date"].unique().sort().to_list() == DAYS[:2]


def test_a_list_of_files_is_one_dataset(tmp_path):
    paths = []
    for day in DAYS:
        paths.append(tmp_path / f"{day}.parquet")
        day_frame(day).write_parquet(paths[-1])
    source = load(paths, role="offline")
    assert source.rows == 150 and source.files == tuple(paths)
    assert source.label == f"{paths[0]}, {paths[1]}, {paths[2]} (3 parquet files)"
    report = skewcheck.compare(tuple(map(str, paths)), paths[::-1], keys="id")
    assert report.passed and report.rows.matched == 150


@pytest.mark.parametrize("suffix", [".csv.gz", ".ndjson.gz", ".jsonl.gz"])
def test_gzip_text_files_and_directories_of_them(tmp_path, suffix):
    folder = tmp_path / "logs"
    for day in DAYS:
        frame = day_frame(day)
        (folder / f"date={day}").mkdir(parents=True)
        text = frame.write_csv() if suffix == ".csv.gz" else frame.write_ndjson()
        (folder / f"date={day}" / f"part{suffix}").write_bytes(gzip.compress(text.encode()))
    single = load(folder / f"date={DAYS[0]}" / f"part{suffix}", role="online")
    assert single.frame.collect().equals(day_frame(DAYS[0]))
    source = load(folder, role="online", where="date >= '2026-11-29'")
    assert source.rows == 2 * ROWS_PER_DAY and source.format == ("csv" if suffix == ".csv.gz" else "ndjson")
    assert source.frame.collect()["date"].unique().sort().to_list() == DAYS[1:]


def test_text_files_whose_inferred_types_differ_as_numbers_concatenate_as_floats(tmp_path):
    (tmp_path / "a.csv").write_text("id,x\n1,2\n")
    (tmp_path / "b.csv").write_text("id,x\n2,2.5\n")
    (tmp_path / "c.csv").write_text("id,x\n3,high\n")
    frame = load([tmp_path / "a.csv", tmp_path / "b.csv"], role="online").frame.collect()
    assert frame["x"].dtype == pl.Float64 and frame["x"].to_list() == [2.0, 2.5]
    message = error_of(lambda: load(tmp_path, role="online"))
    assert re.search(r"column 'x' is Int64 in .*a\.csv but String in .*c\.csv", message)


# --- where and partition selection -------------------------------------------------------------


def test_where_on_a_partition_never_opens_the_other_files(hive):
    corrupt = hive / "date=2026-12-01" / "part-0.parquet"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"PAR1 this is not parquet PAR1")
    # Without a filter the corrupt file is read, and refused by name.
    assert str(corrupt) in error_of(lambda: load(hive, role="online"))
    for where in ("date <= '2026-11-30'", pl.col("date") < date(2026, 12, 1), "date IN ('2026-11-28', '2026-11-30')"):
        source = load(hive, role="online", where=where)
        assert corrupt not in source.files
        assert source.frame.collect().height == source.rows
    picked = load(hive, role="online", where="date = '2026-11-29'")
    assert picked.rows == ROWS_PER_DAY and len(picked.files) == 2
    assert picked.label == f"{hive} (2 of 7 parquet files) where date = '2026-11-29'"
    assert picked.frame.collect()["id"].min() == ROWS_PER_DAY


def test_where_on_data_columns_filters_rows(hive):
    source = load(hive, role="online", where="x >= 10 AND segment = 's1'")
    expected = everything().filter((pl.col("x") >= 10) & (pl.col("segment") == "s1"))
    assert source.rows == expected.height
    assert sorted(source.frame.collect()["id"]) == sorted(expected["id"])


def test_where_applies_to_both_sides_and_per_side_replaces_it(hive):
    offline = everything().with_columns(x=pl.when(pl.col("date") == DAYS[0]).then(-1.0).otherwise("x"))
    clean = skewcheck.compare(offline, hive, keys="id", where="date > '2026-11-28'")
    assert clean.passed and clean.rows.offline == clean.rows.online == 100
    assert clean.online_label.endswith("where date > '2026-11-28'")
    training = offline.drop("date")  # a training table without the log's partition column
    message = error_of(lambda: skewcheck.compare(training, hive, keys="id", where="date = '2026-11-29'"))
    assert "offline (polars DataFrame): where \"date = '2026-11-29'\" names column 'date'" in message
    one_side = skewcheck.compare(training, hive, keys="id", where_online="date = '2026-11-29'")
    assert one_side.rows.online == one_side.rows.matched == ROWS_PER_DAY and one_side.rows.offline == 150


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("nope > 1", "names column 'nope', which it does not have (columns: id, x, segment, date)"),
        ("x >", "is not a SQL condition"),
        ("x > 1 ORDER BY x", "is not a SQL condition"),
        ("x > 1; DROP TABLE self", "is not a SQL condition"),
        ("x + 1", "where 'x + 1': filter predicate must be of type 'Boolean', got 'Float64'"),
        ("date = 'soon'", "fails on the partition columns (date Date)"),
        ("date = '2027-01-01'", "no partition where date = '2027-01-01'"),
        ("x > 1e9", "is empty (0 rows"),
        ("", "must be SQL text"),
    ],
)
def test_a_bad_where_is_one_line_naming_it(hive, where, message):
    assert message in error_of(lambda: load(hive, role="online", where=where))


def test_row_counts_come_from_the_footers(hive, monkeypatch):
    calls = []
    real = pl.LazyFrame.collect

    def counting(self, *args, **kwargs):
        calls.append(self.explain())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pl.LazyFrame, "collect", counting)
    load(hive, role="online", where="date = '2026-11-29'")
    counts = [plan for plan in calls if "len()" in plan]
    assert counts and all(re.search(r"PROJECT 0/\d+ COLUMNS", plan) for plan in counts)  # no column read
    assert not any("FILTER" in plan or "SELECTION" in plan for plan in counts)


# --- what is refused -----------------------------------------------------------------------------


def test_files_whose_schemas_disagree_are_named_with_the_column_and_both_types(tmp_path):
    write_hive(tmp_path / "log")
    odd = tmp_path / "log" / "date=2026-11-30" / "part-0.parquet"
    day_frame(DAYS[2]).with_columns(pl.col("x").cast(pl.Float32)).write_parquet(odd)
    first = tmp_path / "log" / "date=2026-11-28" / "part-0.parquet"
    message = error_of(lambda: load(tmp_path / "log", role="online"))
    assert f"column 'x' is Float64 in {first} but Float32 in {odd}" in message
    day_frame(DAYS[2]).drop("segment").write_parquet(odd)
    assert f"column 'segment' is in {first} but not in {odd}" in error_of(lambda: load(tmp_path / "log", role="x"))
    day_frame(DAYS[2]).with_columns(extra=1).write_parquet(odd)
    assert f"column 'extra' is in {odd} but not in {first}" in error_of(lambda: load(tmp_path / "log", role="x"))


def test_a_flat_file_beside_partitions_is_read_when_it_holds_the_partition_column(tmp_path):
    """Feast writes a served-feature log flat; `skewcheck feast serve` writes __log_date= folders."""
    log = tmp_path / "log"
    for day in DAYS[:2]:
        (log / f"date={day}").mkdir(parents=True)
        day_frame(day).with_columns(date=pl.lit(day)).write_parquet(log / f"date={day}" / "part-0.parquet")
    day_frame(DAYS[2]).with_columns(date=pl.lit(DAYS[2])).write_parquet(log / "flat.parquet")
    assert load(log, role="online").rows == 150
    picked = load(log, role="online", where="date = '2026-11-30'")  # the flat file is opened: its rows decide
    assert picked.rows == 50 and [p.name for p in picked.files] == ["flat.parquet"]
    assert load(log, role="online", where="date = '2026-11-28'").rows == 50


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d.mkdir(), "a directory that holds no data files"),
        (lambda d: (d.mkdir(), (d / "_SUCCESS").touch()), "no data files (skipped as hidden, as Spark does: _SUCCESS)"),
        (
            lambda d: (
                d.mkdir(),
                day_frame(DAYS[0]).write_parquet(d / "a.parquet"),
                day_frame(DAYS[0]).write_csv(d / "b.csv"),
            ),
            "mixes formats",
        ),
        (
            lambda d: (
                d.mkdir(),
                day_frame(DAYS[0]).write_parquet(d / "a.parquet"),
                (d / "README.md").write_text("hi"),
            ),
            "README.md: unknown file type '.md'",
        ),
        (
            lambda d: (
                (d / "date=1").mkdir(parents=True),
                day_frame(DAYS[0]).write_parquet(d / "date=1" / "a.parquet"),
                day_frame(DAYS[0]).write_parquet(d / "b.parquet"),
            ),
            "is partitioned by 'date' but",
        ),
        (lambda d: (d.mkdir(), (d / "a.parquet").touch()), "a.parquet: is empty (0 bytes), not a parquet file"),
        (lambda d: (d.mkdir(), (d / "a.csv.gz").write_text("id\n1\n")), "a.csv.gz: named .gz but not gzip data"),
        (
            lambda d: (d.mkdir(), (d / "a.csv.gz").write_bytes(gzip.compress(b"id,x\n1,2\n")[:-12])),
            "a.csv.gz: cannot read it as csv.gz",
        ),
        (lambda d: (d.mkdir(), (d / "loop").symlink_to(d)), "a symlink loop (it leads back to"),
        (
            lambda d: (write_hive(d), (d / "latest").symlink_to(d / "date=2026-11-30")),
            "latest: the same directory as",
        ),
        (lambda d: (d.mkdir(), os.mkfifo(d / "a.parquet")), "a.parquet: not a regular file (a FIFO"),
        (lambda d: (d.mkdir(), (d / "a.parquet").symlink_to(d / "gone.parquet")), "a.parquet: a broken symlink"),
        (lambda d: (d.mkdir(), (d / "x.parquet").mkdir(), (d / "x.parquet" / "_SUCCESS").touch()), "no data files"),
    ],
)
def test_bad_datasets_are_refused_in_one_line(tmp_path, make, message):
    make(tmp_path / "data")
    assert message in error_of(lambda: load(tmp_path / "data", role="online"))


def test_a_glob_that_matches_nothing_and_a_broken_link_are_named(tmp_path):
    assert f"{tmp_path}/*.parquet: the pattern matches no data files" in error_of(
        lambda: load(f"{tmp_path}/*.parquet", role="online")
    )
    (tmp_path / "a.parquet").symlink_to(tmp_path / "gone.parquet")
    assert "a.parquet: a broken symlink" in error_of(lambda: load(tmp_path / "a.parquet", role="online"))
    day_frame(DAYS[0]).write_parquet(tmp_path / "b.parquet")  # the broken link is no file the glob picks
    assert load(f"{tmp_path}/b*.parquet", role="online").rows == ROWS_PER_DAY


def _unprivileged() -> list[str]:
    """A command prefix under which permissions apply, to root too (setpriv drops root's override)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("root reads every file, and setpriv (util-linux) is missing")
    capabilities = "-dac_override,-dac_read_search"
    return ["setpriv", "--bounding-set", capabilities, "--inh-caps", capabilities]


@pytest.mark.parametrize(
    ("locked", "message"),
    [("date=2026-11-29/part-1.parquet", "cannot read it as parquet"), ("date=2026-11-29", "cannot list it")],
)
def test_an_unreadable_file_or_directory_is_named(hive, locked, message):
    target = hive / locked
    target.chmod(0)
    try:
        run = subprocess.run(
            [*_unprivileged(), sys.executable, "-m", "skewcheck", "profile", str(hive), "--out", os.devnull],
            check=False,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(skewcheck.__file__).parents[1])},
        )
    finally:
        target.chmod(0o755)
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert f"{target}: {message} (" in run.stderr and "Permission denied" in run.stderr


# --- estimated_bytes, for the out-of-core engines ------------------------------------------------


def test_estimated_bytes_from_the_footers(hive):
    source = load(hive, role="online")
    frame = source.frame.collect()
    assert estimated_bytes(source, ["id", "x"]) == frame.select("id", "x").estimated_size() == 150 * 16
    assert estimated_bytes(source, ["segment"]) >= frame.select("segment").estimated_size()
    assert estimated_bytes(load(hive, role="online", where="date = '2026-11-29'"), ["x", "date"]) == 50 * 12
    assert estimated_bytes(load(frame, role="online")) == frame.estimated_size()
    lazy = load(frame.lazy(), role="online")  # unknown sizes: the type widths, 16 bytes for text
    assert lazy.format == "lazy" and estimated_bytes(lazy) == 150 * (8 + 8 + 16 + 4)


# --- profile, pit, the command line ---------------------------------------------------------------


def test_profile_and_pit_take_a_dataset_and_where(hive, tmp_path):
    whole = skewcheck.profile(hive)
    day = skewcheck.profile(hive, where="date = '2026-11-30'")
    assert whole.rows == 150 and day.rows == 50 and day["x"].min == 10.0
    assert day.source == f"{hive} (2 of 6 parquet files) where date = '2026-11-30'"
    training = tmp_path / "training"
    for day_ in DAYS:
        (training / f"date={day_}").mkdir(parents=True)
        day_frame(day_).with_columns(
            event=pl.lit(day_).cast(pl.Datetime), feature_time=pl.lit(day_).cast(pl.Datetime) + pl.duration(hours=1)
        ).write_parquet(training / f"date={day_}" / "part-0.parquet")
    report = skewcheck.audit_point_in_time(training, event_time="event", feature_time="feature_time", where="id < 60")
    assert report.rows == 60 and report["feature_time"].future == 60


def test_cli_reads_datasets_with_where(hive, tmp_path, capsys):
    out = tmp_path / "report.json"
    code = main(
        [
            "compare",
            f"{hive}/**/*.parquet",
            str(hive),
            "--key",
            "id",
            "--where",
            "date = '2026-11-29'",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert report["rows"]["matched"] == 50
    assert report["online"] == f"{hive} (2 of 6 parquet files) where date = '2026-11-29'"
    offline = tmp_path / "offline.parquet"
    everything().drop("date").with_columns(x=pl.col("x") + 1).write_parquet(offline)
    assert main(["compare", str(offline), str(hive), "--key", "id", "--where-online", "date = '2026-11-29'"]) == 1
    assert main(["profile", str(hive), "--where", "x < 1", "--out", str(tmp_path / "p.json")]) == 0
    assert json.loads((tmp_path / "p.json").read_text())["rows"] == 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--where", "nope = 1"], "--where 'nope = 1' names column 'nope'"),
        (["--where", "x >"], "--where 'x >' is not a SQL condition"),
        (["--where", "x + 1"], "--where 'x + 1': filter predicate must be of type 'Boolean', got 'Float64'"),
        (["--where-online", "date = 'x'"], "--where-online \"date = 'x'\" fails on the partition columns"),
    ],
)
def test_cli_bad_where_exits_2_in_one_line(hive, capsys, args, message):
    code = main(["compare", str(hive), str(hive), "--key", "id", *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err


def test_cli_hints_at_a_glob_the_shell_expanded(hive, capsys):
    files = [str(p) for p in sorted(hive.rglob("*.parquet"))]
    with pytest.raises(SystemExit) as exit_:
        main(["compare", *files, "--key", "id"])
    assert exit_.value.code == 2
    assert "quote it: 'logs/*.parquet'" in capsys.readouterr().err


def test_cli_refuses_a_report_a_glob_input_matches(hive, tmp_path, capsys):
    day_frame(DAYS[0]).write_parquet(tmp_path / "a.parquet")
    code = main(["compare", f"{tmp_path}/*.parquet", str(hive), "--json", str(tmp_path / "b.parquet")])
    assert code == 2 and "is the input" in capsys.readouterr().err


def test_names_with_glob_characters_are_files_not_patterns(tmp_path):
    for name in ("we*ird[1].parquet", "we*ird[1].csv", "we*ird[1].csv.gz"):
        path = tmp_path / name
        if name.endswith(".parquet"):
            day_frame(DAYS[0]).write_parquet(path)
        else:
            text = day_frame(DAYS[0]).write_csv().encode()
            path.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
        assert load(path, role="online").rows == ROWS_PER_DAY


def test_a_report_is_not_written_into_a_dataset_it_read(hive):
    report = skewcheck.compare(hive, hive, keys="id", features=["x"], where="date = '2026-11-29'")
    for write in (report.to_json, report.to_html):
        assert "is the input" in error_of(lambda write=write: write(hive / "report.json"))
    assert not (hive / "report.json").exists()


def test_file_frames_are_the_source_file_by_file(tmp_path):
    """The pieces an engine reads in parallel: partition columns, where and casts as `load` gives them."""
    root = tmp_path / "log"
    for k, day in enumerate(DAYS):
        (root / f"date={day}").mkdir(parents=True)
        frame = day_frame(day).with_columns(pl.col("segment").cast(pl.Categorical))
        frame = frame.select(reversed(frame.columns)) if k == 1 else frame  # another column order
        frame.write_parquet(root / f"date={day}" / "part-0.parquet")
    for where in (None, "date >= '2026-11-29'", "x > 9 AND segment = 's1'"):
        source = load(root, role="online", where=where)
        pieces = file_frames(source)
        assert len(pieces) == len(source.files)
        whole = pl.concat([pickle.loads(pickle.dumps(piece)).collect() for piece in pieces])
        assert whole.equals(source.frame.collect()) and whole.schema == source.schema
        assert source.schema["segment"] == pl.String and source.schema["date"] == pl.Date
    assert file_frames(load(day_frame(DAYS[0]), role="online"))[0].collect().equals(day_frame(DAYS[0]))
