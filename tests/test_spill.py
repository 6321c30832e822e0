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
from skewcheck._columns import finite_values
from skewcheck._errors import SkewcheckInputError
from skewcheck._io import load
from skewcheck._settings import memory_size
from skewcheck._stats import distribution_test, ranges

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
    memory, disk = _budget.column_bytes(str(tmp_path / "wide.parquet"), source, frame.columns)
    assert 0.8 < memory / frame.estimated_size() < 1.3
    assert disk < memory  # compressed on disk
    in_memory, _ = _budget.column_bytes(frame, load(frame, role="offline"), frame.columns)
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


# --- the spill, against a stand-in of _partial's contract ----------------------------------------
# These test this module's part (numbering, bucketing, reading back, pass 2, checks, cleanup) alone:
# the stand-in's partial of a bucket is the bucket itself, and its merge compares them re-assembled.


class StandIn:
    """_partial's contract at its simplest. Pass 2 is real (`_stats.ranges` on the bucket values)."""

    def __init__(self):
        self.buckets = []
        self.distributions = None

    def plan(self, offline, online, **kwargs):
        off, on = load(offline, role="offline"), load(online, role="online")
        keys = [kwargs["keys"]] if isinstance(kwargs["keys"], str) else list(kwargs["keys"])
        join = keys + ([kwargs["timestamp"]] if kwargs.get("timestamp") else [])
        features = [c for c in dict.fromkeys(off.schema.names() + on.schema.names()) if c not in join]
        return SimpleNamespace(keys=tuple(keys), timestamp=kwargs.get("timestamp"), features=tuple(features), kw=kwargs)

    @staticmethod
    def bucket_of(plan, side, buckets):
        return (pl.struct(list(plan.keys)).hash(7) % buckets).cast(pl.UInt32)

    def compare_bucket(self, plan, offline, online):
        self.buckets.append((offline, online))
        return SimpleNamespace(offline=offline, online=online)

    @staticmethod
    def _kind(series):
        return "numeric" if series.dtype.is_numeric() else "categorical"

    def summaries(self, plan, partials):
        partials = list(partials)
        return {
            name: tuple(
                ranges.merge_summaries(
                    ranges.summarize(finite_values(getattr(p, side)[name], self._kind(p.offline[name])), kind=kind)
                    for p in partials
                )
                for side in ("offline", "online")
            )
            for name in plan.features
            for kind in [self._kind(partials[0].offline[name])]
        }

    def distribution_specs(self, plan, partials, *, ranges=16):
        count = ranges
        summaries = self.summaries(plan, partials)
        ranges = sys.modules["skewcheck._stats.ranges"]
        kinds = {name: self._kind(next(iter(partials)).offline[name]) for name in plan.features}
        self.specs = {name: ranges.spec(kinds[name], *summaries[name], ranges=count) for name in plan.features}
        return self.specs

    def distribution_values(self, plan, offline, online):
        return {
            name: (finite_values(offline[name], self._kind(offline[name])), finite_values(online[name], "x"))
            for name in plan.features
            if name in offline.columns
        }

    def merge(self, plan, partials, distributions):
        self.distributions = distributions
        partials = list(partials)
        whole = [
            pl.concat([getattr(p, side) for p in partials]).sort(_partial.ROW).drop(_partial.ROW)
            for side in ("offline", "online")
        ]
        return skewcheck.compare(*whole, **plan.kw, memory_limit=10**15)


@pytest.fixture
def stand_in(monkeypatch):
    partial = StandIn()
    for name in ("plan", "bucket_of", "compare_bucket", "summaries", "distribution_specs", "distribution_values"):
        monkeypatch.setattr(_partial, name, getattr(partial, name))
    monkeypatch.setattr(_partial, "merge", partial.merge)
    return partial


def _json(report):
    data = json.loads(report.to_json())
    data.pop("timings", None)
    return data


@pytest.mark.parametrize("buckets", [1, 3, 8])
def test_every_row_lands_in_one_bucket_with_its_key_and_its_number(stand_in, tmp_path, buckets):
    offline, online = _inputs()
    sources = (load(offline, role="offline"), load(online, role="online"))
    report = _spill.compare_out_of_core(
        offline, online, sources, budget=10**6, spill_dir=tmp_path, buckets=buckets, keys="id", timestamp="ts"
    )
    assert len(stand_in.buckets) == buckets
    for side, frame in enumerate((offline, online)):
        parts = [pair[side] for pair in stand_in.buckets]
        keys = [set(part["id"]) for part in parts]
        assert sum(map(len, keys)) == len(set().union(*keys))  # a key's rows are all in one bucket
        back = pl.concat(parts).sort(_partial.ROW)
        assert back[_partial.ROW].to_list() == list(range(frame.height))  # numbered in input order
        assert back.drop(_partial.ROW).equals(frame)
    assert _json(report) == _json(skewcheck.compare(offline, online, keys="id", timestamp="ts"))
    assert list(tmp_path.iterdir()) == []  # the spill is gone, and nothing else was touched


def test_pass_two_tests_the_distributions_exactly_range_by_range(stand_in, tmp_path):
    offline, online = _inputs(6000, seed=3)
    grade = pl.col("id") % 3 + pl.col("visits").fill_null(0) % 2  # four numeric values: a count test
    offline, online = offline.with_columns(grade=grade), online.with_columns(grade=grade)
    sources = (load(offline, role="offline"), load(online, role="online"))
    # A budget of a few hundred kilobytes: several ranges per feature, each read over all buckets.
    _spill.compare_out_of_core(
        offline, online, sources, budget=200_000, spill_dir=tmp_path, buckets=5, keys="id", timestamp="ts"
    )
    assert stand_in.specs["spend"].needs_ranges and stand_in.specs["spend"].ranges >= 3
    assert stand_in.specs["grade"].needs_counts
    for name in ("spend", "visits", "country", "grade"):
        kind = StandIn._kind(offline[name])
        expected = distribution_test(finite_values(offline[name], kind), finite_values(online[name], kind), kind=kind)
        got = stand_in.distributions[name]
        assert got.test == expected.test
        assert math.isclose(got.statistic, expected.statistic, rel_tol=1e-9, abs_tol=1e-12)
        assert (got.p_value is None) == (expected.p_value is None)
        if got.p_value is not None:
            assert math.isclose(got.p_value, expected.p_value, rel_tol=1e-9, abs_tol=1e-12)


def test_a_small_memory_limit_takes_the_spill_path_with_buckets_sized_to_it(stand_in, tmp_path):
    offline, online = _inputs()
    counts = []
    for limit in ("400KB", "100KB", "40KB"):
        stand_in.buckets.clear()
        report = skewcheck.compare(offline, online, keys="id", timestamp="ts", memory_limit=limit, spill_dir=tmp_path)
        counts.append(len(stand_in.buckets))
        assert not report.passed and report["spend"].values.mismatched > 0
    assert 1 < counts[0] < counts[1] < counts[2]
    stand_in.buckets.clear()
    skewcheck.compare(offline, online, keys="id", timestamp="ts")  # the default budget: in memory
    assert stand_in.buckets == []


def install(partial):
    """Put the stand-in's functions in place of _partial's (for a subprocess, where there is no monkeypatch)."""
    for name in ("plan", "bucket_of", "compare_bucket", "summaries", "distribution_specs", "distribution_values"):
        setattr(_partial, name, getattr(partial, name))
    _partial.merge = partial.merge


# --- failure is our message, and the spill is removed --------------------------------------------


def test_too_little_disk_is_said_before_the_spill(stand_in, tmp_path, monkeypatch, capsys):
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
    assert stand_in.buckets == [] and list(spill.iterdir()) == []


def test_a_key_with_more_rows_than_a_bucket_may_hold_is_named(stand_in, tmp_path):
    offline, online = _inputs()
    heavy = offline.head(1).select(pl.all().repeat_by(4000).explode())  # key 0: 4,000 rows
    offline = pl.concat([offline, heavy.with_columns(ts=pl.col("ts") + pl.duration(seconds=pl.int_range(4000)))])
    with pytest.raises(SkewcheckInputError, match=r"key id=0 has 4,003 rows .* memory budget of 100.0 KB; raise"):
        skewcheck.compare(offline, online, keys="id", timestamp="ts", memory_limit="100KB", spill_dir=tmp_path)
    assert stand_in.buckets == [] and list(tmp_path.iterdir()) == []


def test_the_spill_is_removed_on_error_and_only_the_spill(stand_in, tmp_path, monkeypatch):
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
import sys, time
sys.path.insert(0, {tests!r})
import test_spill
from skewcheck._cli import main
partial = test_spill.StandIn()
compare_bucket = partial.compare_bucket
def slow(plan, offline, online):
    time.sleep(0.5)
    return compare_bucket(plan, offline, online)
partial.compare_bucket = slow
test_spill.install(partial)
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_removes_the_spill(tmp_path):
    offline, online = _inputs()
    offline.write_parquet(tmp_path / "off.parquet")
    online.write_parquet(tmp_path / "on.parquet")
    spill = tmp_path / "spill"
    spill.mkdir()
    args = [str(tmp_path / "off.parquet"), str(tmp_path / "on.parquet"), "--key", "id", "--quiet"]
    run = subprocess.Popen(
        [sys.executable, "-c", _SLOW_RUN.format(tests=str(Path(__file__).parent)), "compare", *args]
        + ["--memory-limit", "50KB", "--spill-dir", str(spill)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    deadline = time.monotonic() + 60
    while not list(spill.glob("*/online/*/*/*.parquet")) and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    assert run.poll() is None, run.stderr.read()
    run.send_signal(signal.SIGINT)  # comparing buckets, half a second each
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130 and err.strip().endswith("skewcheck: interrupted")
    assert spill.is_dir() and list(spill.iterdir()) == []
