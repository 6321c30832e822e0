"""The HTML reports: one self-contained page (inline CSS, plots as embedded PNG).

Plots use matplotlib's object API (`Figure`), never pyplot, so rendering a report does not
touch the caller's matplotlib state.
"""

from __future__ import annotations

import base64
import io
import math
import os
from html import escape
from pathlib import Path

from .._io import write_atomically
from .._model import Cause, FeatureResult, PitReport, SkewReport, Verdict
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

VERDICT_LABEL = {Verdict.SKEW: "SKEW", Verdict.DRIFT: "drift", Verdict.OK: "ok"}

# Figures are drawn for the flagged features (skewed, then drifted), most skewed first, up to this
# many: a report of hundreds of skewed features stays a few MB. Clean features are in the table only.
MAX_PLOTTED_FEATURES = 30
OFFLINE_COLOUR, ONLINE_COLOUR = "#1f77b4", "#ff7f0e"
# Pairs spanning more than this ratio are drawn on log axes, so a scale bug shows as a parallel line.
LOG_SCALE_SPAN = 100
# Characters of a value shown in a table, of a category under the histogram and of a diagnosis: what
# a reader can take in (a tick label much longer than this squeezes the plot away).
VALUE_CHARS = 200
TICK_LABEL_CHARS = 24
DETAIL_CHARS = 1000

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222;max-width:1100px}
.skewcheck table{border-collapse:collapse;margin:.5rem 0 1rem}
.skewcheck th,.skewcheck td{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:left;vertical-align:top}
.skewcheck td.num{text-align:right;font-variant-numeric:tabular-nums}
.skewcheck .skew{color:#b00020;font-weight:600}.skewcheck .ok{color:#1b7f3b}
.skewcheck .drift{color:#a05a00;font-weight:600}
.skewcheck .verdict{font-size:1.2rem;font-weight:700}
.skewcheck .feature{border-top:2px solid #eee;margin-top:1.5rem;padding-top:.5rem}
.skewcheck .muted{color:#666}.skewcheck img{max-width:100%;height:auto}
.skewcheck .wide{overflow-x:auto;max-width:100%}
"""


def skew_report_html(report: SkewReport, path: str | os.PathLike | None = None) -> str:
    """The comparison as a whole page; written atomically to `path` when given."""
    return _written(_page(f"skewcheck report: {report.online_label}", skew_report_fragment(report)), path)


def pit_report_html(report: PitReport, path: str | os.PathLike | None = None) -> str:
    """The audit as a whole page; written atomically to `path` when given."""
    return _written(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>skewcheck pit</title></head><body>"
        f"{pit_report_fragment(report)}</body></html>\n",
        path,
    )


def _written(text: str, path: str | os.PathLike | None) -> str:
    if path is not None:
        write_atomically(Path(path), text)
    return text


def skew_report_fragment(report: SkewReport) -> str:
    """The comparison as an HTML fragment (also the notebook display)."""
    anchors = _anchors(report)
    body = "\n".join(
        [
            _heading(report),
            _rows(report),
            _summary_table(report, anchors),
            *(
                _feature_section(f, index < MAX_PLOTTED_FEATURES, anchors[id(f)])
                for index, f in enumerate(report.skewed + report.drifted)
            ),
            _settings(report),
        ]
    )
    return f'<div class="skewcheck"><style>{STYLE}</style>{body}</div>'


def _page(title: str, fragment: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head>\n<body>{fragment}</body></html>\n"
    )


def _heading(report: SkewReport) -> str:
    verdict = f'<span class="{"ok" if report.passed else "skew"}">{outcome(report)}</span>'
    return (
        f'<h2>skewcheck report</h2><p class="verdict">{verdict}: {escape(counts_line(report))}</p>'
        f'<p class="muted">offline: {escape(report.offline_label)}<br>online: {escape(report.online_label)}</p>'
        + "".join(f'<p class="skew">warning: {escape(w)}</p>' for w in report.warnings)
    )


def _rows(report: SkewReport) -> str:
    if report.rows is None:
        return '<p class="muted">No keys given: distributions, schema and null rates only.</p>'
    r = report.rows
    cells = [
        ("offline rows", r.offline),
        ("online rows", r.online),
        ("matched", r.matched),
        ("offline only", r.offline_only),
        ("online only", r.online_only),
        ("duplicate keys offline", r.duplicate_keys_offline),
        ("duplicate keys online", r.duplicate_keys_online),
        ("null keys offline", r.null_keys_offline),
        ("null keys online", r.null_keys_online),
    ]
    on = ", ".join(report.keys + ((report.timestamp,) if report.timestamp else ()))
    table = "".join(f"<tr><th>{escape(k)}</th><td class='num'>{v:,}</td></tr>" for k, v in cells)
    diagnosis = ""
    if r.diagnosis is not None:
        diagnosis = f'<p class="skew">{escape(r.diagnosis.cause.value)}: {escape(r.diagnosis.detail)}</p>'
    return f"<h3>Rows joined on {escape(on)}</h3><table>{table}</table>{diagnosis}"


def _summary_table(report: SkewReport, anchors: dict[int, str]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "feature",
            "verdict",
            "cause",
            "mismatched",
            "test",
            "statistic",
            "threshold",
            "nulls off/on",
            "dtype",
        )
    )
    rows = []
    for f in report.features:
        verdict = f'<span class="{f.verdict.value}">{VERDICT_LABEL[f.verdict]}</span>'
        name = escape(f.name)
        if id(f) in anchors:
            name = f'<a href="#{anchors[id(f)]}">{name}</a>'
        test, shown, threshold = "-", "-", "-"
        if f.distribution is not None:
            test, shown, threshold = (
                escape(f.distribution.test),
                statistic(f.distribution, 4),
                f"{f.distribution.threshold:g}",
            )
        dtype = escape(
            f"{f.dtype_offline} / {f.dtype_online}" if f.dtype_offline != f.dtype_online else str(f.dtype_offline)
        )
        rows.append(
            f"<tr><td>{name}</td><td>{verdict}</td><td>{escape(cause(f))}</td><td class='num'>{mismatched(f)}</td>"
            f"<td>{test}</td><td class='num'>{shown}</td><td class='num'>{threshold}</td>"
            f"<td class='num'>{f.nulls.offline_rate:.1%} / {f.nulls.online_rate:.1%}</td><td>{dtype}</td></tr>"
        )
    return f"<h3>Features, most skewed first</h3><div class='wide'><table><tr>{head}</tr>{''.join(rows)}</table></div>"


def _anchors(report: SkewReport) -> dict[int, str]:
    """The section id of each flagged feature (by object id): its position in the report, since
    names may hold any character."""
    return {id(f): f"feature-{i}" for i, f in enumerate(report.features) if f.verdict is not Verdict.OK}


def _feature_section(feature: FeatureResult, plotted: bool, anchor: str) -> str:
    label = "skewed" if feature.skewed else "drifted"
    parts = [
        (
            f'<div class="feature" id="{anchor}"><h3>{escape(feature.name)} '
            f'<span class="{feature.verdict.value}">{label}</span></h3>'
        )
    ]
    if feature.diagnosis is not None:
        detail = _short(feature.diagnosis.detail, DETAIL_CHARS)
        parts.append(f"<p><b>{escape(feature.diagnosis.cause.value)}</b>: {escape(detail)}</p>")
    parts.append(f"<p class='muted'>flagged by: {escape(', '.join(r.value for r in feature.reasons))}</p>")
    parts.extend(f"<p class='muted'>{escape(note)}</p>" for note in feature.notes)
    if not plotted:
        parts.append(f"<p class='muted'>no figures: only the {MAX_PLOTTED_FEATURES} most skewed features get them</p>")
    else:
        try:
            plot = _plot(feature)
        except Exception as error:  # noqa: BLE001 -- whatever matplotlib raises, a figure must not cost the report
            parts.append(
                f"<p class='skew'>the figures could not be drawn ({escape(type(error).__name__)}: "
                f"{escape(_short(str(error)))})</p>"
            )
        else:
            if plot:
                parts.append(f'<img alt="{escape(feature.name)} figures" src="data:image/png;base64,{plot}">')
    if feature.values is not None and feature.values.examples:
        head = (
            "".join(f"<th>{escape(k)}</th>" for k in feature.values.examples[0].key) + "<th>offline</th><th>online</th>"
        )
        rows = "".join(
            "<tr>"
            + "".join(f"<td>{escape(_short(str(v)))}</td>" for v in e.key.values())
            + f"<td>{escape(_short(repr(e.offline)))}</td><td>{escape(_short(repr(e.online)))}</td></tr>"
            for e in feature.values.examples
        )
        parts.append(f"<p>Mismatch examples</p><table><tr>{head}</tr>{rows}</table>")
    if feature.domain is not None:
        d = feature.domain
        parts.append(
            f"<p>Values seen offline only ({d.offline_only_count}): {escape(', '.join(_short(str(v)) for v in d.offline_only))}<br>"
            f"Values seen online only ({d.online_only_count}): {escape(', '.join(_short(str(v)) for v in d.online_only))}</p>"
        )
    parts.append("</div>")
    return "".join(parts)


def _plot(feature: FeatureResult) -> str | None:
    """Overlaid distributions, and the residuals of the joined pairs when values mismatch, as base64 PNG."""
    hist = feature.histogram
    values = feature.values
    sample = values.sample if values is not None and values.mismatched else ()
    panels = (hist is not None) + bool(sample)
    if not panels:
        return None
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2 * panels, 3.4), layout="constrained")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    if hist is not None:
        _draw_histogram(axes[0], hist)
    if sample:
        scale = feature.diagnosis is not None and feature.diagnosis.cause is Cause.SCALE
        _draw_residuals(axes[-1], sample, ratio=scale)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _draw_histogram(ax, hist) -> None:
    offline = _shares(hist.offline)
    online = _shares(hist.online)
    if hist.kind == "numeric":
        edges = list(hist.edges)
        ax.stairs(offline, edges, fill=True, alpha=0.45, color=OFFLINE_COLOUR, label="offline")
        ax.stairs(online, edges, fill=True, alpha=0.45, color=ONLINE_COLOUR, label="online")
    else:
        labels = [_short(str(c), TICK_LABEL_CHARS) for c in hist.categories]
        positions = range(len(labels))
        ax.bar([p - 0.2 for p in positions], offline, width=0.4, color=OFFLINE_COLOUR, label="offline")
        ax.bar([p + 0.2 for p in positions], online, width=0.4, color=ONLINE_COLOUR, label="online")
        ax.set_xticks(list(positions), labels, rotation=45, ha="right")
    ax.set_ylabel("share of rows")
    ax.set_title("distribution")
    ax.legend()


def _draw_residuals(ax, sample, *, ratio: bool) -> None:
    """online - offline against offline (online / offline for a scale bug): rounding shows as
    steps, an offset as a constant, a scale as a level line, agreeing pairs on zero (or one).
    Pairs with a null offline side (NaN in the sample) stand left of the others at their online
    value: a null fill is a column at the fill value."""
    filled = [y for x, y in sample if math.isnan(x)]
    pairs = [(x, y) for x, y in sample if not math.isnan(x) and (not ratio or x != 0)]
    xs = [x for x, _ in pairs]
    ys = [y / x if ratio else y - x for x, y in pairs]
    ax.axhline(1.0 if ratio else 0.0, color="#999", linewidth=1, label="online = offline")
    ax.scatter(xs, ys, s=10, color=ONLINE_COLOUR, alpha=0.7)
    positive = [x for x in xs if x > 0]
    log_x = bool(positive) and len(positive) == len(xs) and max(positive) / min(positive) > LOG_SCALE_SPAN
    if log_x:
        ax.set_xscale("log")
    if filled and not ratio:
        left = (min(xs) / 2 if log_x else min(xs) - 0.1 * ((max(xs) - min(xs)) or 1.0)) if xs else 0.0
        ax.scatter(
            [left] * len(filled),
            filled,
            s=14,
            marker="s",
            color=OFFLINE_COLOUR,
            alpha=0.7,
            label="offline null: the online value",
        )
    if ratio and ys and all(y > 0 for y in ys) and max(ys) / min(ys) > LOG_SCALE_SPAN:
        ax.set_yscale("log")
    ax.set_xlabel("offline value")
    ax.set_ylabel("online / offline" if ratio else "online - offline")
    ax.set_title("residuals of the joined pairs")
    ax.legend()


def _short(text: str, limit: int = VALUE_CHARS) -> str:
    """`text`, cut to `limit` characters (with an ellipsis): a 1 MB string must not fill the page or the plot."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shares(counts) -> list[float]:
    total = sum(counts) or 1
    return [c / total for c in counts]


def _settings(report: SkewReport) -> str:
    items = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in report.settings.items())
    return f"<h3>Settings</h3><table>{items}</table>"


def pit_report_fragment(report: PitReport) -> str:
    """The audit as an HTML fragment (also the notebook display)."""
    verdict, details = pit_heading(report)
    colour = "#1a7f37" if report.passed else "#cf222e"
    rows = "".join(
        f"<tr><td>{escape(c.column)}</td><td>{c.future:,}</td><td>{escape(duration(c.max_lead) if c.future else '-')}"
        f"</td><td>{'-' if report.ttl is None else f'{c.stale:,}'}</td><td>{c.missing:,}</td></tr>"
        for c in report.checks
    )
    html = [
        (
            f"<div class='skewcheck-pit'><p><b>skewcheck pit: <span style='color:{colour}'>{verdict}</span></b> "
            f"<span style='color:#666'>{escape(details)}</span></p>"
        ),
        (
            "<table><tr><th>feature time</th><th>from the future</th><th>max lead</th><th>older than ttl</th>"
            f"<th>missing</th></tr>{rows}</table>"
        ),
    ]
    examples = [
        f"<li>{escape(c.column)}: {escape(key_text(e))}, event {escape(str(e.event_time))}, feature "
        f"{escape(str(e.feature_time))}</li>"
        for c in report.checks
        for e in c.future_examples
    ]
    if examples:
        html.append(f"<p>From the future:</p><ul>{''.join(examples)}</ul>")
    if report.source is not None:
        values = "".join(
            f"<tr><td>{escape(f.name)}</td><td>{f.compared:,}</td><td>{f.mismatched:,}</td></tr>"
            for f in report.recomputed
        )
        html.append(
            f"<p>Point-in-time values from {escape(report.source)}: {escape(recompute_rule(report))}</p>"
            f"<table><tr><th>feature</th><th>compared</th><th>differ from point-in-time</th></tr>{values}</table>"
        )
    html.extend(f"<p style='color:#9a6700'>warning: {escape(w)}</p>" for w in report.warnings)
    html.append("</div>")
    return "".join(html)
