"""The command line's arguments: every command, option and help text (`_cli` runs them)."""

from __future__ import annotations

import argparse

from ._version import __version__

EXIT_INPUT = 2
INPUT_FORMS = "a .parquet, .csv, .ndjson (or .csv.gz, .ndjson.gz) file, a directory of them, or a quoted glob"
WHERE_HELP = "a SQL condition, e.g. \"date >= '2026-11-01'\": %s; on partition columns it skips the other files"


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if message.startswith("unrecognized arguments"):
            message += "; a glob the shell expanded? quote it: 'logs/*.parquet'"
        self.exit(EXIT_INPUT, f"skewcheck: error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="skewcheck", description="Catch training/serving skew in feature data.")
    parser.add_argument("--version", action="version", version=f"skewcheck {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    cmp = commands.add_parser(
        "compare",
        help="compare offline feature values with logged online values",
        description="Compare OFFLINE (training) feature values with ONLINE (served) ones. "
        "Exit 0: no skew; 1: skew found (or drift, with --fail-on drift); 2: usage or input error.",
    )
    cmp.add_argument("offline", help=f"offline features: {INPUT_FORMS}")
    cmp.add_argument("online", help=f"online (served) features: {INPUT_FORMS}")
    cmp.add_argument("--where", metavar="SQL", help=WHERE_HELP % "compare only the rows where it holds, on both sides")
    cmp.add_argument("--where-offline", metavar="SQL", help="a condition for OFFLINE only, instead of --where")
    cmp.add_argument("--where-online", metavar="SQL", help="a condition for ONLINE only, instead of --where")
    cmp.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="COL",
        help="entity key column to join on (repeat for several); without it only distributions are compared",
    )
    cmp.add_argument("--timestamp", metavar="COL", help="event timestamp column, joined exactly with the keys")
    cmp.add_argument(
        "--asof",
        action="store_true",
        help="join each online row to the latest offline row of its key at or before its timestamp "
        "(OFFLINE is then a feature table with history)",
    )
    cmp.add_argument(
        "--asof-tolerance",
        metavar="DURATION",
        help="with --asof: the oldest offline row that may serve a request, e.g. 1d or 12h (a TTL)",
    )
    cmp.add_argument(
        "--features", metavar="A,B", type=_names, help="comma-separated features to compare (default: all)"
    )
    cmp.add_argument("--abs-tol", type=_non_negative, default=None, metavar="X", help="absolute tolerance (default 0)")
    cmp.add_argument(
        "--rel-tol", type=_non_negative, default=None, metavar="X", help="relative tolerance (default 1e-9)"
    )
    cmp.add_argument(
        "--max-mismatch-rate",
        type=_rate,
        default=None,
        metavar="R",
        help="share of matched rows that may disagree before a feature is skewed (default 0)",
    )
    cmp.add_argument(
        "--test",
        metavar="NAME",
        help="one distribution test for every feature: ks, wasserstein, jensenshannon, chisquare, psi, linf",
    )
    cmp.add_argument("--no-diagnosis", action="store_true", help="skip naming the causes (a little faster)")
    cmp.add_argument(
        "--fail-on",
        choices=("skew", "drift"),
        default="skew",
        help="skew (default): exit 1 on skew only; drift: also when matched pairs agree but the populations differ",
    )
    cmp.add_argument(
        "--memory-limit",
        metavar="SIZE",
        help="memory to stay within, e.g. 2GB or 512MiB (default: half the available memory); "
        "larger comparisons are split into key-hash buckets on disk",
    )
    cmp.add_argument("--spill-dir", metavar="DIR", help="where the buckets go (default: the temporary directory)")
    _report_options(cmp)
    cmp.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    cmp.add_argument("--dask", metavar="ADDRESS|local[:N]", help="run on a Dask scheduler (tcp://host:8786) or local:N")

    demo = commands.add_parser(
        "demo",
        help="see skewcheck find planted skews in generated data",
        description="Generate a small offline table and a serving log with planted skews, "
        "compare them, print the table and write an HTML report. Exits 0.",
    )
    demo.add_argument("--html", metavar="PATH", default="demo-report.html", help="where to write the report")
    demo.add_argument("--data-dir", metavar="DIR", help="also keep the generated parquet files here")

    pit = commands.add_parser(
        "pit",
        help="audit a training set for features from the future (point-in-time leakage)",
        description="Check TRAINING for feature values computed after each row's event time. "
        "Exit 0: no leakage; 1: a feature time is after its event time, or (with --features-source) a training "
        "value differs from the point-in-time correct one; 2: usage or input error. Rows older than --ttl are "
        "reported but do not fail on their own (staleness is not leakage); with --features-source the as-of "
        "join honours --ttl, so such values differ from the correct one (null) and do fail.",
    )
    pit.add_argument("training", help=f"the training set: {INPUT_FORMS}")
    pit.add_argument("--where", metavar="SQL", help=WHERE_HELP % "audit only the training rows where it holds")
    pit.add_argument("--event-time", required=True, metavar="COL", help="the prediction moment of each row")
    pit.add_argument(
        "--feature-time",
        required=True,
        type=_names,
        metavar="COL[,COL...]",
        help="columns holding when each row's features were valid from (one per feature view)",
    )
    pit.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="COL",
        help="entity key column (repeat for several): shown in examples, needed by --features-source",
    )
    pit.add_argument("--ttl", metavar="DURATION", help="oldest feature allowed, e.g. 7d or 12h (units us..w; d = 24 h)")
    pit.add_argument(
        "--features-source",
        metavar="PATH",
        help="the raw feature table: recompute each shared feature with a backward as-of join and "
        "count the training values that differ",
    )
    pit.add_argument(
        "--source-time",
        metavar="COL",
        help="the features source's timestamp column (default: the --feature-time column's name)",
    )
    _report_options(pit)

    prof = commands.add_parser(
        "profile",
        help="compute a reusable, mergeable profile of a dataset",
        description="Compute per-feature statistics of DATA once (counts, nulls, min/max, moments, a fixed-grid "
        "histogram, a quantile summary, category counts) and write them as JSON: compare serving logs against "
        "it later without the training data, or merge the profiles of partitions. Exit 0; 2: usage or input error.",
    )
    prof.add_argument("data", help=f"the data to profile: {INPUT_FORMS}")
    prof.add_argument("--where", metavar="SQL", help=WHERE_HELP % "profile only the rows where it holds")
    prof.add_argument(
        "--out", required=True, metavar="PATH", help="where to write the profile (JSON; - for standard output)"
    )
    prof.add_argument(
        "--features", metavar="A,B", type=_names, help="comma-separated columns to profile (default: all)"
    )

    feast = commands.add_parser(
        "feast",
        help="serve a Feast repository with logging; compare what it served",
        description="Feast commands (need the feast extra).",
    )
    feast_commands = feast.add_subparsers(dest="feast_command", required=True, parser_class=_Parser)
    serve = feast_commands.add_parser(
        "serve",
        help="run Feast's HTTP feature server and log every response it sends",
        description="Run Feast's own feature server (the app of `feast serve`) on REPO and log each "
        "/get-online-features response of a feature service in Feast's logged-features format. Files are written "
        "whole (temp file, then rename) every --flush-rows rows or --flush-seconds seconds, and on SIGTERM or "
        "Ctrl-C; after kill -9 at most that last batch is lost. A failed write never fails a response: lost rows "
        "are counted in GET /health and on stderr.",
    )
    serve.add_argument("repo", help="the feature repository (the folder of feature_store.yaml)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=6566, help="port (default 6566, as feast serve; 0 picks a free one)")
    serve.add_argument(
        "--log-dir",
        metavar="DIR",
        help="log each feature service to DIR/<service>/ (default: its FileLoggingDestination)",
    )
    serve.add_argument(
        "--flush-rows", type=int, default=1000, metavar="N", help="write a file every N rows (default 1000)"
    )
    serve.add_argument(
        "--flush-seconds",
        type=float,
        default=5.0,
        metavar="S",
        help="... or when the oldest buffered row is S seconds old (default 5)",
    )
    serve.add_argument(
        "--sample-rate",
        type=_rate,
        metavar="R",
        help="share of requests logged (default: the service's logging_config.sample_rate, else 1)",
    )
    logged = feast_commands.add_parser(
        "compare-logged",
        help="compare served-feature logs with the point-in-time correct offline values",
        description="Recompute, with Feast's get_historical_features, the offline values of exactly the logged "
        "(entity, log timestamp) rows of LOGS and compare them with what was served. "
        "Exit 0: no skew; 1: skew found; 2: usage or input error.",
    )
    logged.add_argument("repo", help="the feature repository (the folder of feature_store.yaml)")
    logged.add_argument("logs", nargs="+", help="served-feature log: parquet files, directories or quoted globs")
    logged.add_argument("--where", metavar="SQL", help=WHERE_HELP % "compare only the logged requests where it holds")
    logged.add_argument("--feature-service", required=True, metavar="NAME", help="the feature service that was logged")
    _report_options(logged)

    trend = commands.add_parser(
        "trend",
        help="skew over time: one row per report (e.g. one per day of logs)",
        description="Read the JSON reports of repeated runs, in the order given, and show each feature's verdict, "
        "mismatch rate and drift statistic per run, as a table and (--html) a plot. "
        "Exit 0: the last run passed; 1: it found skew; 2: usage or input error.",
    )
    trend.add_argument("reports", nargs="+", help="JSON reports written by compare or compare-logged --json")
    trend.add_argument("--html", metavar="PATH", help="write the table and plots here")
    return parser


def _report_options(parser: argparse.ArgumentParser) -> None:
    """--json, --html and --quiet, the same for every command that writes a report."""
    parser.add_argument("--json", metavar="PATH", help="write the JSON report here (- for standard output)")
    parser.add_argument("--html", metavar="PATH", help="write the HTML report here (- for standard output)")
    parser.add_argument("--quiet", action="store_true", help="print nothing; use the exit code")


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated column names")
    return names


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _rate(text: str) -> float:
    value = _non_negative(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a rate between 0 and 1, got {text!r}")
    return value
