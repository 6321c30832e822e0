"""The terminal summary: one line per feature, most skewed first (rendered with rich)."""

from __future__ import annotations

import io
import math

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ._report import FeatureResult, SkewReport, Verdict

VERDICT_TEXT = {
    Verdict.SKEW: Text("SKEW", style="bold red"),
    Verdict.DRIFT: Text("drift", style="bold yellow"),
    Verdict.OK: Text("ok", style="green"),
}


def summary_renderable(report: SkewReport) -> Group:
    """A heading, the row counts, the per-feature table and the warnings, for a rich Console."""
    heading = Text.assemble(
        "skewcheck: ", _outcome(report), f"  {counts_line(report)}  ",
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
        ("feature", "left"), ("verdict", "left"), ("cause", "left"), ("mismatched", "right"),
        ("test", "left"), ("statistic", "right"), ("nulls off/on", "right"),
    ):
        table.add_column(column, justify=justify, no_wrap=column in ("feature", "test", "statistic"))
    for feature in report.features:
        table.add_row(*_row(feature))
    parts.append(table)
    for feature in report.skewed + report.drifted:
        if feature.diagnosis is not None:
            parts.append(Text.assemble((f"{feature.name}: ", "bold"), f"{feature.diagnosis.cause.value}: ",
                                       feature.diagnosis.detail))
    for warning in report.warnings:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    return Group(*parts)


def render_summary(report: SkewReport, *, width: int | None = None) -> str:
    """The summary as plain text (no colour), e.g. for logs and `str(report)`."""
    return render_text(summary_renderable(report), width=width)


def render_text(renderable, *, width: int | None = None) -> str:
    """Any rich renderable as plain text, also inside Jupyter (where rich would print instead)."""
    buffer = io.StringIO()
    Console(file=buffer, width=width or 140, color_system=None, force_terminal=False, force_jupyter=False).print(
        renderable
    )
    return buffer.getvalue()


def _outcome(report: SkewReport) -> Text:
    if not report.passed:
        found = "SKEW FOUND" if report.skewed or not report.drifted else "DRIFT FOUND"
        return Text(found, style="bold red")
    return Text("PASSED", style="bold green")


def counts_line(report: SkewReport) -> str:
    """E.g. "2 of 7 features skewed, 1 drifted" (drift is reported, and fails only with fail_on)."""
    line = f"{len(report.skewed)} of {len(report.features)} features skewed"
    if report.drifted:
        gate = "fails the gate" if report.fail_on is Verdict.DRIFT else "does not fail the gate"
        line += f", {len(report.drifted)} drifted ({gate})"
    return line


def _named(label: str, role: str) -> str:
    return label if label.startswith(role) else f"{label} ({role})"


def _row(feature: FeatureResult) -> tuple[Text | str, ...]:
    verdict = VERDICT_TEXT[feature.verdict]
    if feature.diagnosis is not None:
        cause = feature.diagnosis.cause.value
    else:
        cause = ", ".join(r.value for r in feature.reasons) or "-"
    values = feature.values
    mismatched = f"{values.mismatched:,} ({values.mismatch_rate:.1%})" if values is not None else "-"
    test = feature.distribution
    if test is None:
        test_name, statistic = "-", "-"
    else:
        test_name = test.test + (" (differs)" if test.drifted else "")
        shown = test.p_value if test.p_value is not None else test.statistic
        label = "p=" if test.p_value is not None else ""
        statistic = "nan" if shown is None or math.isnan(shown) else f"{label}{shown:.3g}"
    nulls = f"{feature.nulls.offline_rate:.1%}/{feature.nulls.online_rate:.1%}"
    return feature.name, verdict, cause, mismatched, test_name, statistic, nulls
