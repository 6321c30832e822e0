"""The command line: parse arguments, call the library, print, exit 0 (no skew), 1 (skew) or 2 (bad input)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

from ._cli_parser import EXIT_INPUT, build_parser
from ._errors import SkewcheckInputError, SkewcheckWarning
from ._io import check_report_paths

EXIT_OK, EXIT_SKEW = 0, 1
SUMMARY_WIDTH = 140


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `skewcheck` console script."""
    args = build_parser().parse_args(argv)
    # SIGTERM (kill, a CI timeout) unwinds like Ctrl-C, so that what the run made (a spill) is removed;
    # only the main thread may set a handler, and the caller's comes back afterwards
    previous = (
        signal.signal(signal.SIGTERM, _terminated) if threading.current_thread() is threading.main_thread() else None
    )
    try:
        return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    try:
        if args.command == "compare":
            return _compare(args)
        if args.command == "pit":
            return _pit(args)
        if args.command == "profile":
            return _profile(args)
        if args.command == "feast":
            return _feast(args)
        if args.command == "trend":
            return _trend(args)
        return _demo(args)
    except SkewcheckInputError as exc:
        print(f"skewcheck: error: {exc.worded(_flag)}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("skewcheck: interrupted", file=sys.stderr)
        return 130


def _terminated(signum: int, frame) -> None:
    print("skewcheck: terminated", file=sys.stderr)
    raise SystemExit(128 + signum)


def _compare(args: argparse.Namespace) -> int:
    from . import _cluster, compare

    reports = {"--json": args.json, "--html": args.html}
    check_report_paths(reports, [args.offline, args.online])
    options = {
        name: value
        for name, value in (
            ("abs_tol", args.abs_tol),
            ("rel_tol", args.rel_tol),
            ("max_mismatch_rate", args.max_mismatch_rate),
            ("memory_limit", args.memory_limit),
            ("spill_dir", args.spill_dir),
        )
        if value is not None
    }
    with warnings.catch_warnings(), _cluster.dask_client(args.dask) as client:
        warnings.simplefilter("ignore", SkewcheckWarning)  # they are in the report's warnings
        report = compare(
            args.offline,
            args.online,
            keys=args.key,
            timestamp=args.timestamp,
            features=args.features,
            asof=args.asof,
            asof_tolerance=args.asof_tolerance,
            diagnose=not args.no_diagnosis,
            tests=args.test,
            fail_on=args.fail_on,
            progress=False if (args.no_progress or args.quiet) else None,
            **{name: getattr(args, name) for name in ("where", "where_offline", "where_online")},
            **({} if client is None else {"engine": "dask", "client": client}),
            **options,
        )
    _write_reports(report, reports)
    if not (args.quiet or _to_stdout(reports)):
        _print_report(report)
    return EXIT_OK if report.passed else EXIT_SKEW


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    report = run_demo(data_dir=args.data_dir)
    _write_reports(report, {"--html": args.html})
    _print_report(report)
    print(f"\nHTML report: {args.html}")
    print("Your turn: skewcheck compare OFFLINE ONLINE --key ID --timestamp TS --html report.html")
    return EXIT_OK


def _pit(args: argparse.Namespace) -> int:
    from ._pit import audit_point_in_time
    from ._render.text import pit_summary

    reports = {"--json": args.json, "--html": args.html}
    check_report_paths(reports, [args.training, args.features_source])
    report = audit_point_in_time(
        args.training,
        event_time=args.event_time,
        feature_time=args.feature_time,
        keys=args.key,
        ttl=args.ttl,
        features_source=args.features_source,
        source_time=args.source_time,
        where=args.where,
    )
    _write_reports(report, reports)
    if not (args.quiet or _to_stdout(reports)):
        _print(pit_summary(report))
    return EXIT_OK if report.passed else EXIT_SKEW


def _profile(args: argparse.Namespace) -> int:
    from ._profile import profile

    check_report_paths({"--out": args.out}, [args.data])
    result = profile(args.data, features=args.features, where=args.where)
    _write(args.out, result.to_json)
    if args.out != "-":
        print(f"profile of {result.source}: {result.rows:,} rows, {len(result.features)} features -> {args.out}")
    return EXIT_OK


def _feast(args: argparse.Namespace) -> int:
    try:
        from . import feast as adapter
    except ImportError as exc:
        raise SkewcheckInputError(f"skewcheck feast needs Feast ({exc}): pip install 'skewcheck[feast]'") from None
    reports = {"--json": getattr(args, "json", None), "--html": getattr(args, "html", None)}
    check_report_paths(reports, getattr(args, "logs", []))
    if args.feast_command == "serve":
        adapter.serve(
            args.repo,
            host=args.host,
            port=args.port,
            log_dir=args.log_dir,
            flush_rows=args.flush_rows,
            flush_seconds=args.flush_seconds,
            sample_rate=args.sample_rate,
        )
        return EXIT_OK
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkewcheckWarning)
        store = adapter.open_store(args.repo)
        report = adapter.compare_logged(store, args.logs, feature_service=args.feature_service, where=args.where)
    _write_reports(report, reports)
    if not (args.quiet or _to_stdout(reports)):
        _print_report(report)
    return EXIT_OK if report.passed else EXIT_SKEW


def _trend(args: argparse.Namespace) -> int:
    from ._trend import read_trend

    check_report_paths({"--html": args.html}, args.reports)
    trend = read_trend(args.reports)
    if args.html:
        _write(args.html, trend.to_html)
    _print(trend.renderable())
    return EXIT_OK if trend.last_passed else EXIT_SKEW


def _write_reports(report, reports: dict[str, str | None]) -> None:
    for option, path in reports.items():
        if path is not None:
            _write(path, report.to_json if option == "--json" else report.to_html)


def _write(path: str, render) -> None:
    """Write what `render` makes to `path` ("-": standard output)."""
    if path == "-":
        sys.stdout.write(render())
        sys.stdout.flush()
        return
    try:
        render(path)
    except OSError as exc:
        raise SkewcheckInputError(f"{path}: cannot write the report ({exc.strerror or exc})") from None


def _to_stdout(reports: dict[str, str | None]) -> bool:
    """Whether a report goes to standard output (then the summary does not)."""
    return "-" in reports.values()


def _flag(parameter: str) -> str:
    """How the command line spells a Python parameter named in a library message."""
    return _FLAGS.get(parameter, "--" + parameter.replace("_", "-"))


# The parameters whose flag is not their name with dashes.
_FLAGS = {
    "keys": "--key",
    "tests": "--test",
    "diagnose": "--no-diagnosis",
    "offline": "OFFLINE",
    "online": "ONLINE",
    "training": "TRAINING",
    "data": "DATA",
    "progress": "--no-progress",
}


def _print(renderable) -> None:
    from rich.console import Console

    # Logs and pipes (even when FORCE_COLOR makes rich think otherwise): one line per feature.
    console = Console() if sys.stdout.isatty() else Console(width=SUMMARY_WIDTH)
    console.print(renderable)


def _print_report(report) -> None:
    from ._render.text import skew_summary

    _print(skew_summary(report))
