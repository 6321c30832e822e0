"""The terminal renderings (rich): the comparison's summary table and the audit's summary."""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from .._model import FeatureResult, PitReport, SkewReport, Verdict
from .cells import (
    cause,
    counts_line,
    duration,
    key_text,
    mismatched,
    outcome,
    pit_heading,
    recompute_rule,
    statistic,
)

VERDICT_TEXT = {
    Verdict.SKEW: Text("SKEW", style="bold red"),
    Verdict.DRIFT: Text("drift", style="bold yellow"),
    Verdict.OK: Text("ok", style="green"),
}


def skew_summary(report: SkewReport) -> Group:
    """A heading, the row counts, the per-feature table and the warnings, for a rich Console."""
    heading = Text.assemble(
        "skewcheck: ",
        Text(outcome(report), style="bold green" if report.passed else "bold red"),
        f"  {counts_line(report)}  ",
        (f"{_named(report.offline_label, 'offline')} vs {_named(report.online_label, 'online')}", "dim"),
    )
    parts: list = [heading]
    if report.rows is not None:
        r = report.rows
        line = (
            f"rows: offline {r.offline:,}, online {r.online:,}, matched {r.matched:,} on "
            f"{', '.join(report.keys + ((report.timestamp,) if report.timestamp else ()))}; "
            f"offline only {r.offline_only:,}, online only {r.online_only:,}"
        )
        if r.duplicate_keys_offline or r.duplicate_keys_online:
            line += f"; duplicate keys {r.duplicate_keys_offline:,} offline, {r.duplicate_keys_online:,} online"
        if r.null_keys_offline or r.null_keys_online:
            line += f"; null keys {r.null_keys_offline:,} offline, {r.null_keys_online:,} online (never joined)"
        parts.append(Text(line))
        if r.diagnosis is not None:
            parts.append(Text(f"rows: {r.diagnosis.cause.value}: {r.diagnosis.detail}", style="yellow"))
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for column, justify in (
        ("feature", "left"),
        ("verdict", "left"),
        ("cause", "left"),
        ("mismatched", "right"),
        ("test", "left"),
        ("statistic", "right"),
        ("nulls off/on", "right"),
    ):
        table.add_column(column, justify=justify, no_wrap=column in ("feature", "test", "statistic"))
    for feature in report.features:
        table.add_row(*_row(feature))
    parts.append(table)
    for feature in report.skewed + report.drifted:
        if feature.diagnosis is not None:
            parts.append(
                Text.assemble(
                    (f"{feature.name}: ", "bold"), f"{feature.diagnosis.cause.value}: ", feature.diagnosis.detail
                )
            )
    for warning in report.warnings:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    return Group(*parts)


def pit_summary(report: PitReport) -> Group:
    """A heading, a table per check and the examples, for a rich Console."""
    verdict, details = pit_heading(report)
    parts: list = [
        Text.assemble(
            "skewcheck pit: ", (verdict, "bold green" if report.passed else "bold red"), "  ", (details, "dim")
        )
    ]
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for column in ("feature time", "from the future", "max lead", "older than ttl", "missing"):
        table.add_column(column, justify="left" if column == "feature time" else "right", no_wrap=True)
    for check in report.checks:
        future = Text(
            f"{check.future:,} ({check.future / max(check.rows, 1):.1%})", style="bold red" if check.future else "green"
        )
        stale = "-" if report.ttl is None else f"{check.stale:,}"
        table.add_row(
            check.column, future, duration(check.max_lead) if check.future else "-", stale, f"{check.missing:,}"
        )
    parts.append(table)
    for check in report.checks:
        for label, rows in (("from the future", check.future_examples), ("older than ttl", check.stale_examples)):
            for e in rows:
                parts.append(
                    Text(
                        f"  {check.column} {label}: {key_text(e)}, event {e.event_time}, "
                        f"feature {e.feature_time} ({duration(e.feature_time - e.event_time)})",
                        style="red" if label == "from the future" else "yellow",
                    )
                )
    if report.source is not None:
        parts.append(Text(f"point-in-time values from {report.source}:\n  {recompute_rule(report)}"))
        values = Table(show_edge=False, pad_edge=False, header_style="bold")
        for column in ("feature", "compared", "differ from point-in-time"):
            values.add_column(column, justify="left" if column == "feature" else "right", no_wrap=True)
        for f in report.recomputed:
            differ = Text(
                f"{f.mismatched:,} ({f.mismatched / max(f.compared, 1):.1%})",
                style="bold red" if f.mismatched else "green",
            )
            values.add_row(f.name, f"{f.compared:,}", differ)
        parts.append(values)
        for f in report.recomputed:
            for e in f.examples:
                parts.append(
                    Text(
                        f"  {f.name}: {key_text(e)}, event {e.event_time}: training {e.training!r}, "
                        f"point-in-time {e.correct!r}",
                        style="red",
                    )
                )
    for warning in report.warnings:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    return Group(*parts)


def render_text(renderable, *, width: int | None = None) -> str:
    """Any rich renderable as plain text, also inside Jupyter (where rich would print instead)."""
    buffer = io.StringIO()
    Console(file=buffer, width=width or 140, color_system=None, force_terminal=False, force_jupyter=False).print(
        renderable
    )
    return buffer.getvalue()


def _named(label: str, role: str) -> str:
    return label if label.startswith(role) else f"{label} ({role})"


def _row(feature: FeatureResult) -> tuple[Text | str, ...]:
    test = feature.distribution
    if test is None:
        test_name, shown = "-", "-"
    else:
        test_name, shown = test.test + (" (differs)" if test.drifted else ""), statistic(test)
    nulls = f"{feature.nulls.offline_rate:.1%}/{feature.nulls.online_rate:.1%}"
    return feature.name, VERDICT_TEXT[feature.verdict], cause(feature), mismatched(feature), test_name, shown, nulls
