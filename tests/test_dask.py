"""The Dask engine, on a LocalCluster of 2 worker processes: the local engine's results, through
shuffles, retries after a worker dies, and spilling."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import dask
import numpy as np
import polars as pl
import pytest
from distributed import Client, LocalCluster, WorkerPlugin

import skewcheck
from skewcheck import _dask, _dask_distributions, _diagnose, _partial, _values
from skewcheck._cli import main
from skewcheck._io import load
from skewcheck._partial import ROW
from skewcheck._settings import ClusterSpec, cluster_spec
from skewcheck._stats import distribution_test, ranges


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster, set_as_default=False) as dask_client,
    ):
        yield dask_client


# Pass 2 sized as for workers of 200 KB: ranges of 173 values, one feature of a few thousand values a group.
SMALL_WORKERS = [200_000, 200_000]


@pytest.fixture
def small_pieces(monkeypatch):
    """Pieces of about 16 KB and pass 2 sized for workers of 200 KB: the small inputs of these tests are
    read in several pieces, shuffled into several buckets, their distributions tested a feature at a time
    and cut in many ranges."""
    monkeypatch.setattr(_dask, "PIECE_BYTES", 16_000)
    monkeypatch.setattr(_dask_distributions, "worker_memory", lambda client: SMALL_WORKERS)


def _shop(rows: int = 3_000, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Offline and online rows with duplicated and null keys, rows on one side only, and mismatches
    of several kinds (scale, null fill, a remapped category)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, rows, rows)  # about a third of the keys repeat
    ids_with_nulls = pl.Series("id", ids).scatter(rng.choice(rows, 20, replace=False), None)
    start = datetime(2026, 11, 1)
    offline = pl.DataFrame(
        {
            "id": ids_with_nulls,
            "spend": rng.gamma(2.0, 30.0, rows),
            "visits": rng.poisson(4, rows),
            "country": rng.choice(["de", "fr", "it", "es"], rows),
            "seen": [start + timedelta(minutes=int(m)) for m in rng.integers(0, 40_000, rows)],
        }
    )
    online = (
        offline.sample(fraction=0.9, seed=seed, shuffle=True)
        .with_columns(
            pl.when(pl.col("id") % 11 == 0).then(pl.col("spend") * 100).otherwise(pl.col("spend")).alias("spend"),
            pl.when(pl.col("id") % 13 == 0).then(None).otherwise(pl.col("visits")).alias("visits"),
            pl.when(pl.col("country") == "it").then(pl.lit("IT")).otherwise(pl.col("country")).alias("country"),
        )
        .vstack(offline.head(50).with_columns(pl.col("id") + 10 * rows))  # keys online only
    )
    return offline, online


def _history(rows: int = 2_000, seed: int = 3) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A daily feature table with history and a serving log, for as-of joins."""
    rng = np.random.default_rng(seed)
    users, day = 300, datetime(2026, 11, 1)
    offline = pl.DataFrame(
        {
            "user": np.repeat(np.arange(users), 5),
            "ts": [day + timedelta(days=int(d)) for d in np.tile(np.arange(5), users)],
            "score": rng.normal(0, 1, users * 5),
            "spend": rng.gamma(2.0, 30.0, users * 5),
        }
    )
    served = pl.DataFrame(
        {
            "user": rng.integers(0, users + 20, rows),
            "ts": [day + timedelta(hours=int(h)) for h in rng.integers(0, 24 * 6, rows)],
        }
    ).sort("ts")
    truth = served.join_asof(offline.sort("ts"), on="ts", by="user", strategy="backward", check_sortedness=False)
    online = truth.with_columns(
        pl.when(pl.col("user") % 7 == 0).then(pl.col("score") + 1).otherwise(pl.col("score")).alias("score")
    )
    return offline, online


def _write(frame: pl.DataFrame, path: Path) -> Path:
    frame.write_parquet(path, row_group_size=500)
    return path


def _json(report: skewcheck.SkewReport) -> dict:
    return json.loads(report.to_json())


def _assert_same(dask_json, local_json, path="report"):
    """Equal, but for floats of the distribution statistics, which may differ by summation order (1e-9 relative)."""
    if isinstance(local_json, float) and isinstance(dask_json, float):
        assert math.isclose(dask_json, local_json, rel_tol=1e-9, abs_tol=1e-12), path
    elif isinstance(local_json, dict):
        assert isinstance(dask_json, dict) and dask_json.keys() == local_json.keys(), path
        for key in local_json:
            _assert_same(dask_json[key], local_json[key], f"{path}.{key}")
    elif isinstance(local_json, list):
        assert isinstance(dask_json, list) and len(dask_json) == len(local_json), path
        for index, (a, b) in enumerate(zip(dask_json, local_json)):
            _assert_same(a, b, f"{path}[{index}]")
    else:
        assert dask_json == local_json, path


# --- the plumbing: pieces, row numbers, buckets, pairs ----------------------------------------------


@pytest.mark.parametrize("kind", ["parquet", "frame"])
def test_rows_are_numbered_in_input_order_and_each_key_meets_itself_in_one_bucket(client, monkeypatch, tmp_path, kind):
    monkeypatch.setattr(_dask, "PIECE_BYTES", 4_000)
    offline, online = _shop(rows=2_000)
    inputs = (
        (_write(offline, tmp_path / "off.parquet"), _write(online, tmp_path / "on.parquet"))
        if kind == "parquet"
        else (offline, online)
    )
    sides = tuple(load(data, role=role) for data, role in zip(inputs, ("offline", "online")))
    names = (["id", "spend"],) * 2
    count = _dask.bucket_count(client, sides, names)
    buckets = (pl.col("id").hash(11) % count,) * 2
    assert count > 2 and len(_dask.pieces(sides[0], names[0], _dask.piece_count(sides[0], names[0]))) > 2

    pairs = _dask.bucket_pairs(sides, names, buckets, count)
    parts = client.gather(client.compute([dask.delayed(_dask.to_polars)(p, {}) for pair in pairs for p in pair]))

    for side, whole in ((0, offline), (1, online)):
        got = pl.concat(parts[side::2]).sort(ROW)
        assert got.get_column(ROW).to_list() == list(range(whole.height))  # every row once, numbered in order
        assert got.select("id", "spend").equals(whole.select("id", "spend"))
    bucket_of_key = {}
    for index, part in enumerate(parts):
        for key in part.get_column("id").unique().to_list():
            assert bucket_of_key.setdefault(key, index // 2) == index // 2  # one bucket, on both sides


@pytest.mark.parametrize("test", ["ks", "wasserstein", "psi", "chisquare", None])
def test_pass_two_on_the_cluster_gives_the_in_memory_statistics(client, test):
    rng = np.random.default_rng(5)
    samples = {  # ties, a shift, few distinct values, categories
        "x": (rng.normal(0, 1, 3_000).round(2), rng.normal(0.1, 1, 2_500).round(2)),
        "few": (rng.integers(0, 4, 3_000).astype(float), rng.integers(0, 5, 2_000).astype(float)),
        "country": (rng.choice(["de", "fr", "it"], 3_000), rng.choice(["de", "fr", "es"], 2_000)),
    }
    kinds = {"x": "numeric", "few": "numeric", "country": "categorical"}
    cuts = [0, 400, 401, 1_700, None]  # partitions of all sizes, an empty one too
    parts = [
        {name: tuple(pl.Series(name, side[a:b]) for side in sides) for name, sides in samples.items()}
        for a, b in itertools.pairwise(cuts)
    ]
    tests = {name: test for name in samples if not (test in ("ks", "wasserstein") and kinds[name] == "categorical")}
    summaries = {
        name: tuple(
            ranges.merge_summaries(ranges.summarize(p[name][s], kind=kinds[name]) for p in parts) for s in (0, 1)
        )
        for name in tests
    }
    specs = {name: ranges.spec(kinds[name], *summaries[name], test=tests[name], ranges=5) for name in tests}

    passes = _dask_distributions.distributions(client, specs, [dask.delayed(part) for part in parts])

    got = {
        name: ranges.combine(p.spec, *summaries[name], pieces=p.pieces, counts=p.counts) for name, p in passes.items()
    }
    for name, chosen in tests.items():
        whole = (pl.Series(samples[name][0]), pl.Series(samples[name][1]))
        expected = distribution_test(*whole, kind=kinds[name], test=chosen)
        assert got[name].test == expected.test and got[name].drifted == expected.drifted
        assert math.isclose(got[name].statistic, expected.statistic, rel_tol=1e-9, abs_tol=1e-15)
        assert (got[name].p_value is None) == (expected.p_value is None)
        if expected.p_value is not None:
            assert math.isclose(got[name].p_value, expected.p_value, rel_tol=1e-9, abs_tol=1e-300)


GB = 2**30


@pytest.mark.parametrize("rows", [10_000_000, 60_000_000])
def test_pass_two_is_sized_to_the_workers_memory_whatever_the_rows(rows):
    workers = [4 * GB, 4 * GB]  # the benchmark's cluster
    count = _dask_distributions.range_count(workers, 2 * rows)
    ranged = ranges.Spec("numeric", "wasserstein", 0.1, rows, rows, boundaries=tuple(range(count - 1)))
    counted = ranges.Spec("numeric", "psi", 0.1, rows, rows, needs_counts=True)
    categorical = ranges.Spec("categorical", "jensenshannon", 0.1, rows, rows)
    specs = {f"x{i}": ranged for i in range(18)} | {"counted": counted, "categorical": categorical}

    groups = _dask_distributions.feature_groups(specs, workers)

    assert (
        2 * rows / count * ranges.RANGE_BYTES_PER_VALUE <= 4 * GB * _dask_distributions.RANGE_SHARE
    )  # one range, sorted
    assert sorted(itertools.chain(*groups)) == sorted(set(specs) - {"categorical"})  # each once; no pass 2 needed
    for group in groups:
        long_frame = sum(2 * rows * _dask_distributions.LONG_BYTES_PER_VALUE for name in group if name != "counted")
        assert long_frame <= 8 * GB * _dask_distributions.GROUP_SHARE or len(group) == 1
    # 340 MB a feature at 10M rows, 2.04 GB at 60M, in groups of up to 2 GiB; the count test joins the last
    assert [len(group) for group in groups] == ([6, 6, 7] if rows == 10_000_000 else [1] * 17 + [2])


@pytest.mark.parametrize(
    ("join", "share", "sizes"),
    [("keys", 0.25, [1, 1, 1]), ("keys", 0.6, [2, 1]), ("as of", 0.25, [1, 1])],  # features of ~100 KB, ~70 KB
)
def test_pass_two_in_groups_of_features_and_many_ranges_gives_the_local_report(
    client, small_pieces, monkeypatch, join, share, sizes
):
    groups, distributions = [], _dask_distributions.distributions

    def recorded(client, specs, values):
        groups.append({name: spec.ranges for name, spec in specs.items() if spec.needs_ranges})
        return distributions(client, specs, values)

    monkeypatch.setattr(_dask_distributions, "distributions", recorded)
    monkeypatch.setattr(_dask_distributions, "GROUP_SHARE", share)  # of 2 x 200 KB
    if join == "keys":
        on_dask, local = _both(*_shop(), client, keys="id")
    else:
        on_dask, local = _both(*_history(), client, keys="user", timestamp="ts", asof=True, asof_tolerance="2d")

    assert [len(group) for group in groups if group] == sizes  # one graph per group
    assert all(count >= 5 for group in groups for count in group.values())  # visits: 9 (few distinct values)
    _assert_same(on_dask, local)


# --- profiles -----------------------------------------------------------------------------------


def test_a_profile_on_dask_equals_the_local_profile(client, small_pieces, tmp_path):
    offline, _ = _shop(rows=1_000)  # at most SKETCH_POINTS values per feature: quantiles merge exactly
    path = _write(offline, tmp_path / "off.parquet")

    local = json.loads(skewcheck.profile(path).to_json())
    on_dask = json.loads(skewcheck.profile(path, engine="dask", client=client).to_json())

    _assert_same(on_dask, local)


# --- arguments ----------------------------------------------------------------------------------


def test_without_a_client_the_error_says_how_to_make_one(tmp_path):
    path = _write(_shop(rows=50)[0], tmp_path / "off.parquet")
    with pytest.raises(skewcheck.SkewcheckInputError, match=r"no Dask client.*distributed\.Client\("):
        skewcheck.profile(path, engine="dask")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"engine": "spark"}, "engine must be one of 'local', 'dask'"),
        ({"client": object()}, "client is the Dask client of engine='dask'"),
        ({"engine": "dask", "client": "tcp://x:8786"}, "client must be a distributed.Client, got str"),
    ],
)
def test_bad_engine_arguments_are_refused(tmp_path, kwargs, message):
    path = _write(_shop(rows=50)[0], tmp_path / "off.parquet")
    with pytest.raises(skewcheck.SkewcheckInputError, match=message.replace("(", r"\(").replace(".", r"\.")):
        skewcheck.compare(path, path, keys="id", **kwargs)


def test_a_profile_is_compared_in_process(tmp_path):
    path = _write(_shop(rows=50)[0], tmp_path / "off.parquet")
    with pytest.raises(skewcheck.SkewcheckInputError, match="a profile is compared in this process"):
        skewcheck.compare(skewcheck.profile(path), path, engine="dask")


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("local:3", ClusterSpec(None, 3)),
        ("local", ClusterSpec(None, os.cpu_count() or 1)),
        ("tcp://10.0.0.5:8786", ClusterSpec("tcp://10.0.0.5:8786")),
        ("scheduler:8786", ClusterSpec("scheduler:8786")),
    ],
)
def test_the_dask_option_reads_a_local_cluster_or_a_scheduler_address(text, spec):
    assert cluster_spec(text) == spec


@pytest.mark.parametrize("text", ["local:0", "local:two", "localhost 8786", "tcp://a b"])
def test_a_bad_dask_option_is_one_line_and_exit_2(tmp_path, capsys, text):
    path = _write(_shop(rows=50)[0], tmp_path / "off.parquet")
    assert main(["compare", str(path), str(path), "--key", "id", "--dask", text]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skewcheck: error: --dask") and err.count("\n") == 1


def test_an_unreachable_scheduler_is_one_line_and_exit_2(tmp_path, capsys):
    path = _write(_shop(rows=50)[0], tmp_path / "off.parquet")
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(["compare", str(path), str(path), "--key", "id", "--dask", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in err and err.count("\n") == 1


def test_without_dask_the_engine_names_the_extra(tmp_path):
    path = _write(_shop(rows=50)[0], tmp_path / "off.parquet")
    code = (
        "import sys; sys.modules['distributed'] = None\n"
        "from skewcheck._cli import main\n"
        f"sys.exit(main(['compare', {str(path)!r}, {str(path)!r}, '--key', 'id', '--dask', 'local:1']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr == (
        "skewcheck: error: --dask: the Dask engine needs dask and distributed, which are not installed: "
        'pip install "skewcheck[dask]"\n'
    )


# --- the comparison: the local engine's report --------------------------------------------------


def _both(offline, online, client, **kwargs) -> tuple[dict, dict]:
    return _json(skewcheck.compare(offline, online, engine="dask", client=client, **kwargs)), _json(
        skewcheck.compare(offline, online, **kwargs)
    )


def test_duplicates_null_keys_and_mismatches_give_the_local_report(client, small_pieces, tmp_path):
    offline, online = _shop()
    paths = _write(offline, tmp_path / "off.parquet"), _write(online, tmp_path / "on.parquet")

    on_dask, local = _both(*paths, client, keys="id")

    assert local["rows"]["duplicate_keys_offline"] > 0 and local["rows"]["null_keys_offline"] > 0
    assert {f["name"]: f["verdict"] for f in local["features"]}["spend"] == "skew"
    _assert_same(on_dask, local)


def test_a_directory_of_files_with_a_filter_gives_the_local_report(client, small_pieces, tmp_path):
    offline, online = _shop(rows=2_000)
    logs = tmp_path / "logs"
    logs.mkdir()
    for index, part in enumerate((online.head(900), online.slice(900))):  # the second file's rows come after
        _write(part, logs / f"part-{index}.parquet")
    path = _write(offline, tmp_path / "off.parquet")

    on_dask, local = _both(path, logs, client, keys="id", where="visits > 2")

    assert local["rows"]["online"] < online.height
    _assert_same(on_dask, local)


def test_an_as_of_join_gives_the_local_report(client, small_pieces):
    offline, online = _history()

    on_dask, local = _both(offline, online, client, keys="user", timestamp="ts", asof=True, asof_tolerance="2d")

    assert local["rows"]["matched"] > 0 and local["features"][0]["values"]["mismatched"] > 0
    _assert_same(on_dask, local)


def test_when_nothing_joins_the_timestamp_shift_is_named_as_locally(client, small_pieces):
    offline, _ = _shop(rows=1_500)
    online = offline.with_columns(pl.col("seen") + timedelta(hours=5))  # a logger in another zone

    on_dask, local = _both(offline, online, client, keys="id", timestamp="seen")

    assert local["rows"]["matched"] == 0 and local["rows"]["diagnosis"]["cause"] == "timestamp_shift"
    _assert_same(on_dask, local)


def test_without_keys_the_distributions_are_the_local_ones(client, small_pieces):
    offline, online = _shop(rows=1_500)

    on_dask, local = _both(offline.drop("id"), online.drop("id"), client, tests={"spend": "ks"})

    _assert_same(on_dask, local)


def _set_fit_sample(pairs: int) -> None:
    from skewcheck import _diagnose, _values

    _diagnose.FIT_SAMPLE = _values.FIT_SAMPLE = pairs


def test_the_buckets_diagnosis_samples_fold_into_one_on_the_workers_as_the_local_sample(
    client, small_pieces, monkeypatch
):
    rng = np.random.default_rng(1)
    offline = pl.DataFrame({"id": np.arange(3_000), "spend": rng.gamma(2.0, 30.0, 3_000)})
    noise = pl.Series(rng.normal(0, 50, 3_000))
    online = offline.with_columns(  # two mismatches in seven: one scaled, one noisy
        pl.when(pl.col("id") % 7 == 0)
        .then(pl.col("spend") * 100)
        .when(pl.col("id") % 7 == 1)
        .then(pl.col("spend") + noise)
        .otherwise(pl.col("spend"))
        .alias("spend")
    ).sample(fraction=1.0, shuffle=True, seed=2)
    gathered, pass_one = [], _dask.pass_one
    monkeypatch.setattr(_dask, "pass_one", lambda *args: gathered.extend(pass_one(*args)) or gathered)
    monkeypatch.setattr(_dask, "PIECE_BYTES", 4_000)  # a dozen buckets
    monkeypatch.setattr(_dask, "FOLD", 2)  # a tree of folds several levels deep
    fit_sample = _diagnose.FIT_SAMPLE
    monkeypatch.setattr(_diagnose, "FIT_SAMPLE", 10)  # the diagnosis fitted on 10 of the 858 mismatches
    monkeypatch.setattr(_values, "FIT_SAMPLE", 10)
    client.run(_set_fit_sample, 10)
    try:
        on_dask, local = _both(offline, online, client, keys="id")
    finally:
        client.run(_set_fit_sample, fit_sample)  # the workers are the module's

    assert len(gathered) >= 8
    assert all(part.sample is None for partial in gathered[1:] for part in partial.features.values())
    plan = _partial.plan(offline, online, keys="id")
    whole = (
        frame.select(plan.columns(side)).with_row_index(ROW)
        for frame, side in ((offline, "offline"), (online, "online"))
    )
    expected = _partial.compare_bucket(plan, *whole).features["spend"].sample  # all rows in one bucket
    assert expected.height == 10 and gathered[0].features["spend"].sample.equals(expected)
    assert local["features"][0]["diagnosis"]["secondary"]["share"] == 0.6002331002331003  # 6 of the 10 scaled
    _assert_same(on_dask, local)


def _cli_reports(tmp_path, *dask_option) -> tuple[int, dict, int, dict]:
    offline, online = _shop(rows=300)
    paths = [str(_write(offline, tmp_path / "off.parquet")), str(_write(online, tmp_path / "on.parquet"))]
    codes, reports = [], []
    for name, extra in (("local", []), ("dask", list(dask_option))):
        codes.append(main(["compare", *paths, "--key", "id", "--json", str(tmp_path / name), "--quiet", *extra]))
        reports.append(json.loads((tmp_path / name).read_text()))
    return codes[0], reports[0], codes[1], reports[1]


def test_the_command_line_runs_on_a_local_cluster_it_starts(tmp_path):
    local_code, local, dask_code, on_dask = _cli_reports(tmp_path, "--dask", "local:2")

    assert local_code == dask_code == 1
    _assert_same(on_dask, local)


def test_the_command_line_runs_on_a_scheduler_at_an_address(client, tmp_path):
    local_code, local, dask_code, on_dask = _cli_reports(tmp_path, "--dask", client.scheduler.address)

    assert local_code == dask_code == 1
    _assert_same(on_dask, local)


# --- failures: a worker dies, a worker runs out of memory --------------------------------------


class _KillOnce(WorkerPlugin):
    """Kills its worker's process when a task whose key starts with `task` starts, once in the whole
    cluster (a marker file)."""

    def __init__(self, task: str, marker: str) -> None:
        self.task, self.marker = task, marker

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and str(key).startswith(self.task) and not os.path.exists(self.marker):
            Path(self.marker).touch()
            os._exit(1)


def test_a_worker_killed_mid_run_is_replaced_and_the_report_is_the_same(client, small_pieces, tmp_path):
    offline, online = _shop(rows=1_000)
    local = _json(skewcheck.compare(offline, online, keys="id"))
    marker = tmp_path / "killed"
    client.register_plugin(_KillOnce("_compare_pair-", str(marker)), name="kill-once")
    try:
        on_dask = _json(skewcheck.compare(offline, online, keys="id", engine="dask", client=client))
    finally:
        client.unregister_worker_plugin("kill-once")

    assert marker.exists()  # a worker did die, in the middle of the comparison
    _assert_same(on_dask, local)


def test_a_worker_over_its_memory_target_spills_to_disk_and_lives(tmp_path):
    offline, online = _shop(rows=40_000)
    local = _json(skewcheck.compare(offline, online, keys="id"))
    # Workers that keep 2 MB of results in memory and spill the rest (the values of pass 2 are ~4 MB).
    with (
        dask.config.set({"distributed.worker.memory.target": 0.005}),  # the workers read it when they start
        LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            memory_limit="400MB",
            local_directory=str(tmp_path),
        ) as cluster,
        Client(cluster, set_as_default=False) as small,
    ):
        pids = small.run(os.getpid)
        on_dask = _json(skewcheck.compare(offline, online, keys="id", engine="dask", client=small))
        spilled = small.run(lambda dask_worker: dask_worker.data.cumulative_metrics[("disk-write", "bytes")])
        assert small.run(os.getpid) == pids  # the same worker processes: none died, none was restarted

    assert sum(spilled.values()) > 0
    _assert_same(on_dask, local)
