"""Larger than memory: the budget, the estimate, the spill to key-hash buckets on disk, its checks and
its cleanup (Ctrl-C included), and results equal to the in-memory comparison."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

import skewcheck
from skewcheck import _budget, _partial, _spill
from skewcheck._cli import main
from skewcheck._errors import SkewcheckInputError
from skewcheck._io import load
from skewcheck._settings import memory_size

REPO = Path(__file__).resolve().parents[1]


def _inputs(rows=3000, seed=0):
    """Offline with history (3 rows per key), a serving log with mismatches, a missing key and a duplicate."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(rows // 3), 3)
    ts = pl.datetime_range(pl.datetime(2026, 1, 1), pl.datetime(2026, 1, 3), "1d", eager=True, time_zone="UTC")
    offline = pl.DataFrame(
        {
            "id": ids,
            "ts": np.tile(ts.to_numpy(), rows // 3),
            "spend": rng.gamma(2.0, 20.0, rows),
            "visits": rng.poisson(5, rows),
            "country": rng.choice(["DE", "FR", "US"], rows),
        }
    ).with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    online = offline.sample(fraction=0.9, seed=seed, shuffle=True).with_columns(
        spend=pl.when(pl.col("id") % 7 == 0).then(pl.col("spend") * 100).otherwise(pl.col("spend")),
        visits=pl.when(pl.col("id") % 11 == 0).then(None).otherwise(pl.col("visits")),
    )
    online = pl.concat([online, online.head(5)])  # duplicated keys
    return offline, online


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"), [("2GB", 2 * 10**9), ("512 MiB", 512 * 2**20), ("1.5gb", 15 * 10**8), ("300", 300), (7, 7)]
)
def test_memory_sizes_in_decimal_and_binary_units(text, size):
    assert memory_size(text, "memory_limit") == size


@pytest.mark.parametrize("text", ["2 GBs", "two GB", "-1GB", "0", "1e9", 1.5, True])
def test_a_bad_memory_limit_is_refused_naming_the_option(text):
    with pytest.raises(SkewcheckInputError, match="memory_limit") as error:
        memory_size(text, "memory_limit")
    assert error.value.parameter == "memory_limit"


def test_the_cli_names_its_flags(tmp_path, capsys):
    offline, online = _inputs(30)
    offline.write_parquet(tmp_path / "off.parquet")
    online.write_parquet(tmp_path / "on.parquet")
    paths = [str(tmp_path / "off.parquet"), str(tmp_path / "on.parquet"), "--key", "id"]
    assert main(["compare", *paths, "--memory-limit", "2 potatoes"]) == 2
    assert main(["compare", *paths, "--spill-dir", str(tmp_path / "nowhere")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("skewcheck: error: --memory-limit '2 potatoes' is not a size")
    assert "--spill-dir" in lines[1] and "is not a directory" in lines[1]


# --- budget and estimate -------------------------------------------------------------------------


def test_the_default_budget_is_half_of_the_available_memory():
    meminfo = dict(line.split(":") for line in Path("/proc/meminfo").read_text().splitlines())
    available = int(meminfo["MemAvailable"].split()[0]) * 1024
    assert 0 < _budget.default_budget() <= 0.5 * available * 1.05  # MemAvailable moves between the reads


@pytest.mark.parametrize(
    ("membership", "files", "rooms"),
    [
        # v2: a limit on the group, none ("max") on its parent
        (
            "0::/jobs/one\n",
            {"jobs/one/memory.max": "1000000", "jobs/one/memory.current": "400000", "jobs/memory.max": "max"},
            [600000],
        ),
        # v1 (with the v2 line of a hybrid set-up): the group's limit and its parent's; "no limit" is huge
        (
            "4:memory:/a/b\n0::/\n",
            {
                "memory/a/b/memory.limit_in_bytes": "2000",
                "memory/a/b/memory.usage_in_bytes": "500",
                "memory/a/memory.limit_in_bytes": "5000",
                "memory/a/memory.usage_in_bytes": "900",
                "memory/memory.limit_in_bytes": "9223372036854771712",
            },
            [1500, 4100],
        ),
        ("1:cpu:/x\n", {}, []),
    ],
)
def test_the_cgroup_limits_count(tmp_path, membership, files, rooms):
    (tmp_path / "cgroup").write_text(membership)
    for name, text in files.items():
        (tmp_path / "fs" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "fs" / name).write_text(text + "\n")
    assert _budget._cgroup_rooms(tmp_path / "cgroup", tmp_path / "fs") == rooms


def test_an_address_space_limit_leaves_room_for_the_mapped_inputs_or_is_named(tmp_path):
    """Under `prlimit --as` polars used to abort ("memory allocation of ... bytes failed", exit 134)."""
    offline, online = _inputs(30)
    offline.write_parquet(tmp_path / "off.parquet")
    online.write_parquet(tmp_path / "on.parquet")
    code = (
        "import resource, sys; "
        "resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), resource.getrlimit(resource.RLIMIT_AS)[1])); "
        "from skewcheck import _budget; "
        "_budget._status_bytes = lambda field: 5 * 10**8; "  # the process's own mappings, fixed here
        "print(_budget.address_space_room(10**9))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(8 * 10**9)], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert int(out.stdout) == 8 * 10**9 - 5 * 10**8 - 10**9 - _budget.ADDRESS_SPACE_RESERVE
    args = ["compare", str(tmp_path / "off.parquet"), str(tmp_path / "on.parquet"), "--key", "id"]
    code = (
        "import resource, sys; "
        "resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), resource.getrlimit(resource.RLIMIT_AS)[1])); "
        "from skewcheck._cli import main; sys.exit(main(sys.argv[2:]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(2 * 10**9), *args], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("skewcheck: error: the address-space limit (ulimit -v) of 2.0 GB leaves no room")


def test_the_estimate_reads_the_parquet_metadata(tmp_path):
    offline, _ = _inputs(3000)
    frame = offline.with_columns(note=pl.format("customer number {} of the shop", pl.col("id")))
    frame.write_parquet(tmp_path / "wide.parquet")
    source = load(str(tmp_path / "wide.parquet"), role="offline")
    memory, disk = _budget.column_bytes(source, frame.columns)
    assert 0.8 < memory / frame.estimated_size() < 1.3
    assert disk < memory  # compressed on disk
    in_memory, _ = _budget.column_bytes(load(frame, role="offline"), frame.columns)
    assert in_memory > 0


def test_the_bucket_count_keeps_every_bucket_within_the_allowance():
    rng = np.random.default_rng(1)
    slot_bytes = rng.integers(0, 1000, _spill.SLOTS).astype(float)
    for allowance in (10**6, 10**5, 3 * 10**4):
        count = _spill._bucket_count(slot_bytes, allowance)
        sizes = np.bincount(np.arange(_spill.SLOTS) % count, weights=slot_bytes, minlength=count)
        assert sizes.max() <= allowance
        if count > 1:  # and no fewer buckets would do it
            smaller = np.bincount(np.arange(_spill.SLOTS) % (count - 1), weights=slot_bytes)
            assert smaller.max() > allowance or count - 1 < slot_bytes.sum() / allowance


# --- the spill: results equal to the in-memory comparison -----------------------------------------


class Spy:
    """Records the bucket pairs `_partial.compare_bucket` gets and the specs of pass 2, and calls them."""

    def __init__(self):
        self.buckets, self.specs = [], {}
        self._compare_bucket, self._specs = _partial.compare_bucket, _partial.distribution_specs

    def compare_bucket(self, plan, offline, online):
        self.buckets.append((offline, online))
        return self._compare_bucket(plan, offline, online)

    def distribution_specs(self, plan, partials, **kwargs):
        self.specs = self._specs(plan, partials, **kwargs)
        return self.specs

    def install(self):
        _partial.compare_bucket, _partial.distribution_specs = self.compare_bucket, self.distribution_specs


@pytest.fixture
def spy(monkeypatch):
    watcher = Spy()
    monkeypatch.setattr(_partial, "compare_bucket", watcher.compare_bucket)
    monkeypatch.setattr(_partial, "distribution_specs", watcher.distribution_specs)
    return watcher


def _json(report):
    data = json.loads(report.to_json())
    data.pop("timings", None)
    return data


def _same(a, b, path="report"):
    """Equal JSON, floats to 1e-9 relative (sums over buckets may differ in the last bits)."""
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b)), (path, a, b)
        return
    assert type(a) is type(b), (path, a, b)
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), (path, a, b)
        for index, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{index}]")
    else:
        assert a == b, (path, a, b)


@pytest.mark.parametrize("buckets", [1, 3, 8])
def test_every_row_lands_in_one_bucket_with_its_key_and_its_number(spy, tmp_path, buckets):
    offline, online = _inputs()
    sources = (load(offline, role="offline"), load(online, role="online"))
    report = _spill.compare_out_of_core(
        offline, online, sources, budget=10**6, spill_dir=tmp_path, buckets=buckets, keys="id", timestamp="ts"
    )
    assert len(spy.buckets) == buckets
    for side, frame in enumerate((offline, online)):
        parts = [pair[side] for pair in spy.buckets]
        keys = [set(part["id"]) for part in parts]
        assert sum(map(len, keys)) == len(set().union(*keys))  # a key's rows are all in one bucket
        back = pl.concat(parts).sort(_partial.ROW)
        assert back[_partial.ROW].to_list() == list(range(frame.height))  # numbered in input order
        assert back.drop(_partial.ROW).equals(frame)
    _same(_json(report), _json(skewcheck.compare(offline, online, keys="id", timestamp="ts")))
    assert list(tmp_path.iterdir()) == []  # the spill is gone, and nothing else was touched


@pytest.mark.parametrize(
    "options",
    [
        {"keys": "id", "timestamp": "ts"},
        {"keys": "id", "timestamp": "ts", "asof": True, "asof_tolerance": "1d"},
        {"keys": "id", "tests": "ks", "examples": 3},
        {"keys": ["id", "ts"], "tests": {"visits": "psi"}, "diagnose": False},
    ],
)
def test_a_small_memory_limit_gives_the_in_memory_report_whatever_the_bucket_count(spy, tmp_path, options):
    offline, online = _inputs()
    expected = _json(skewcheck.compare(offline, online, **options))
    counts = []
    for limit in ("2MB", "700KB"):
        spy.buckets.clear()
        report = skewcheck.compare(offline, online, **options, memory_limit=limit, spill_dir=tmp_path)
        counts.append(len(spy.buckets))
        _same(_json(report), expected)
    assert 1 < counts[0] < counts[1]  # the budget sets the bucket count
    assert list(tmp_path.iterdir()) == []
    spy.buckets.clear()
    skewcheck.compare(offline, online, **options)  # the default budget: in memory
    assert spy.buckets == []


def test_why_few_rows_joined_is_told_as_in_memory(spy, tmp_path):
    offline, online = _inputs()
    online = online.with_columns(pl.col("ts") + pl.duration(hours=5))  # the log's clock is 5 hours off
    report = skewcheck.compare(offline, online, keys="id", timestamp="ts", memory_limit="700KB", spill_dir=tmp_path)
    assert len(spy.buckets) > 1 and report.rows.diagnosis is not None
    _same(_json(report), _json(skewcheck.compare(offline, online, keys="id", timestamp="ts")))


def test_pass_two_reads_the_values_range_by_range(spy, tmp_path):
    offline, online = _inputs(6000, seed=3)
    grade = pl.col("id") % 3 + pl.col("visits").fill_null(0) % 2  # four numeric values: a count test
    offline, online = offline.with_columns(grade=grade), online.with_columns(grade=grade)
    report = skewcheck.compare(offline, online, keys="id", timestamp="ts", memory_limit="1MB", spill_dir=tmp_path)
    assert spy.specs["spend"].needs_ranges and spy.specs["spend"].ranges >= 3
    assert spy.specs["grade"].needs_counts
    _same(_json(report), _json(skewcheck.compare(offline, online, keys="id", timestamp="ts")))


def test_pass_two_takes_as_many_features_at_a_time_as_the_disk_holds(spy, tmp_path, monkeypatch):
    """Each range's values wait in files until tested; with room on the disk for one feature's files only,
    the features are read from the buckets one at a time, and the report is the same."""
    offline, online = _inputs(6000, seed=4)
    values = offline.height + online.height
    one_feature = _spill.VALUE_BYTES * values * 1.5 / _spill.PASS_TWO_DISK_SHARE
    room = iter([10**12])  # the first look, before the spill, finds room for it
    monkeypatch.setattr(
        _spill.shutil, "disk_usage", lambda path: SimpleNamespace(total=0, used=0, free=next(room, one_feature))
    )
    groups, distribution_values = [], _partial.distribution_values
    monkeypatch.setattr(
        _partial,
        "distribution_values",
        lambda plan, off, on, names=None: groups.append(tuple(names)) or distribution_values(plan, off, on, names),
    )
    report = skewcheck.compare(offline, online, keys="id", timestamp="ts", memory_limit="1MB", spill_dir=tmp_path)
    assert len(spy.buckets) > 1 and spy.specs["spend"].ranges >= 3
    assert sorted(set(groups)) == [("country",), ("spend",), ("visits",)]
    assert len(groups) == 3 * len(spy.buckets)  # each feature's columns read once from every bucket pair
    _same(_json(report), _json(skewcheck.compare(offline, online, keys="id", timestamp="ts")))
    assert list(tmp_path.iterdir()) == []


def test_the_cli_report_is_the_same_with_a_memory_limit(tmp_path, capsys):
    offline, online = _inputs()
    offline.write_parquet(tmp_path / "off.parquet")
    online.write_parquet(tmp_path / "on.parquet")
    args = ["compare", str(tmp_path / "off.parquet"), str(tmp_path / "on.parquet"), "--key", "id", "--quiet"]
    assert main([*args, "--json", str(tmp_path / "memory.json")]) == 1
    assert main([*args, "--json", str(tmp_path / "spill.json"), "--memory-limit", "700KB"]) == 1
    memory, spill = (json.loads((tmp_path / name).read_text()) for name in ("memory.json", "spill.json"))
    for data in (memory, spill):
        data.pop("timings", None)
    _same(memory, spill)


# --- failure is our message, and the spill is removed --------------------------------------------


def test_too_little_disk_is_said_before_the_spill(spy, tmp_path, monkeypatch, capsys):
    offline, online = _inputs()
    offline.write_parquet(tmp_path / "off.parquet")
    online.write_parquet(tmp_path / "on.parquet")
    spill = tmp_path / "spill"
    spill.mkdir()
    monkeypatch.setattr(_spill.shutil, "disk_usage", lambda path: SimpleNamespace(total=10**6, used=10**6, free=2000))
    args = ["compare", str(tmp_path / "off.parquet"), str(tmp_path / "on.parquet"), "--key", "id"]
    assert main([*args, "--memory-limit", "50KB", "--spill-dir", str(spill)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"skewcheck: error: the spill directory {str(spill)!r} has 2.0 KB free")
    assert err[0].endswith("choose a larger disk with --spill-dir")
    assert spy.buckets == [] and list(spill.iterdir()) == []


def test_a_key_with_more_rows_than_a_bucket_may_hold_is_named(spy, tmp_path):
    offline, online = _inputs()
    heavy = offline.head(1).select(pl.all().repeat_by(4000).explode())  # key 0: 4,000 rows
    offline = pl.concat([offline, heavy.with_columns(ts=pl.col("ts") + pl.duration(seconds=pl.int_range(4000)))])
    with pytest.raises(SkewcheckInputError, match=r"key id=0 has 4,003 rows .* memory budget of 100.0 KB; raise"):
        skewcheck.compare(offline, online, keys="id", timestamp="ts", memory_limit="100KB", spill_dir=tmp_path)
    assert spy.buckets == [] and list(tmp_path.iterdir()) == []


def test_the_spill_is_removed_on_error_and_only_the_spill(spy, tmp_path, monkeypatch):
    offline, online = _inputs()
    (tmp_path / "mine.txt").write_text("the user's")

    def fail(plan, offline, online):
        assert len(list(tmp_path.glob("skewcheck-spill-*/offline/*/*/*.parquet"))) > 0  # spilled in a subfolder
        raise RuntimeError("a bucket failed")

    monkeypatch.setattr(_partial, "compare_bucket", fail)
    with pytest.raises(RuntimeError, match="a bucket failed"):
        skewcheck.compare(offline, online, keys="id", memory_limit="100KB", spill_dir=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


_SLOW_RUN = """
import os, sys, time
from pathlib import Path
from skewcheck import _partial
from skewcheck._cli import main
compare_bucket = _partial.compare_bucket
def slow(plan, offline, online):
    Path(os.environ["COMPARING"]).touch()
    time.sleep(0.5)
    return compare_bucket(plan, offline, online)
_partial.compare_bucket = slow
sys.exit(main(sys.argv[1:]))
"""


def _interrupted_run(tmp_path, signum, when):
    """A CLI run with a spill, sent `signum` once `when(spill)` holds; its exit code and stderr."""
    offline, online = _inputs()
    offline.write_parquet(tmp_path / "off.parquet")
    online.write_parquet(tmp_path / "on.parquet")
    spill = tmp_path / "spill"
    spill.mkdir()
    args = [str(tmp_path / "off.parquet"), str(tmp_path / "on.parquet"), "--key", "id", "--quiet"]
    run = subprocess.Popen(
        [sys.executable, "-c", _SLOW_RUN, "compare", *args] + ["--memory-limit", "50KB", "--spill-dir", str(spill)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "COMPARING": str(tmp_path / "comparing")},
    )
    deadline = time.monotonic() + 60
    while not when(tmp_path) and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.01)
    assert run.poll() is None, run.stderr.read()
    run.send_signal(signum)
    _, err = run.communicate(timeout=60)
    return run.returncode, err, spill


@pytest.mark.parametrize(
    ("signum", "code", "said"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_ctrl_c_or_a_kill_removes_the_spill(tmp_path, signum, code, said):
    returncode, err, spill = _interrupted_run(tmp_path, signum, lambda tmp: (tmp / "comparing").exists())
    assert returncode == code and err.strip().endswith(f"skewcheck: {said}")
    assert spill.is_dir() and list(spill.iterdir()) == []


def _splitting(tmp_path):
    return bool(list((tmp_path / "spill").glob("*/online/*/*/*.parquet")))


def test_ctrl_c_while_the_inputs_are_split_removes_the_spill(tmp_path):
    """Ctrl-C cancels polars' sink, whose writer tasks went on creating folders and files after it
    returned: the spill came back after it was removed (one run in five to ten, here)."""
    for attempt in range(5):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        returncode, err, spill = _interrupted_run(folder, signal.SIGINT, _splitting)
        assert returncode == 130 and "skewcheck: interrupted" in err.splitlines()
        assert spill.is_dir() and list(spill.iterdir()) == [], sorted(map(str, spill.rglob("*")))


def test_the_diagnosis_samples_fold_bucket_by_bucket(tmp_path, monkeypatch):
    """Each bucket keeps up to FIT_SAMPLE mismatching pairs per feature; held for every bucket they
    would grow with the bucket count (33 MB a bucket of 400,000 rows): they are folded as they come."""
    from skewcheck import _diagnose, _values

    monkeypatch.setattr(_values, "FIT_SAMPLE", 20)
    monkeypatch.setattr(_diagnose, "FIT_SAMPLE", 20)
    merged = []
    merge = _partial.merge
    monkeypatch.setattr(
        _partial, "merge", lambda plan, partials, *a, **k: merge(plan, merged.extend(partials) or merged, *a, **k)
    )
    offline, online = _inputs()
    report = skewcheck.compare(offline, online, keys="id", timestamp="ts", memory_limit="700KB", spill_dir=tmp_path)
    assert len(merged) > 2
    for name in ("spend", "visits"):
        held = [p.features[name].sample for p in merged if p.features[name].sample is not None]
        assert sum(frame.height for frame in held) <= 2 * 20  # two groups: a null on one side, two values
    _same(_json(report), _json(skewcheck.compare(offline, online, keys="id", timestamp="ts")))
