"""Server-drawn SVG charts (pygal) for the audit dashboard.

Served as images: pygal embeds a <style> element, which the page's strict CSP
would refuse inline; as an <img> the SVG runs no script whatever it holds.
"""

from collections import Counter

import pygal
from pygal.style import Style

from audit.reports import Summary

STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#15202b",
    foreground_strong="#15202b",
    foreground_subtle="#dde3ea",
    opacity="0.9",
    opacity_hover="1",
    colors=("#1f7a4d", "#2d5a8c", "#9a5b00", "#b42318", "#6b7a8c", "#3b82c4", "#7a4d9a"),
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif",
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    value_font_size=12,
    title_font_size=15,
)
DECISION_COLOURS = {
    "allowed": "#1f7a4d",
    "pseudonymised": "#2d5a8c",
    "escalated": "#9a5b00",
    "blocked": "#b42318",
}


def _config(**overrides) -> pygal.Config:
    config = pygal.Config(
        js=[],  # no tooltips script: it would be fetched from a CDN
        disable_xml_declaration=True,
        style=STYLE,
        width=760,
        height=320,
        legend_at_bottom=True,
        legend_at_bottom_columns=4,
        print_values=False,
        show_y_guides=True,
        no_data_text="No requests in this period",
        margin=16,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def requests_per_day(summary: Summary) -> str:
    chart = pygal.StackedBar(_config(x_label_rotation=0, show_minor_x_labels=False))
    days = summary.period.days
    chart.x_labels = [day.strftime("%d %b") for day in days]
    chart.x_labels_major = chart.x_labels[:: max(1, len(days) // 8)]
    for category in summary.categories:
        chart.add(category, [summary.per_day_by_category.get(day, Counter())[category] or None
                             for day in days])  # fmt: skip
    return chart.render(is_unicode=True)


def decisions(summary: Summary) -> str:
    order = [d for d in DECISION_COLOURS if summary.decisions.get(d)]
    style = Style(**{**STYLE.to_dict(), "colors": tuple(DECISION_COLOURS[d] for d in order)})
    chart = pygal.Pie(_config(inner_radius=0.55, style=style, height=300))
    for decision in order:
        chart.add(decision.capitalize(), summary.decisions[decision])
    return chart.render(is_unicode=True)


def _horizontal(counter: Counter, limit: int = 8) -> str:
    chart = pygal.HorizontalBar(_config(show_legend=False, height=300, print_values=True))
    top = counter.most_common(limit)[::-1]
    chart.x_labels = [name for name, _ in top]
    chart.add("", [count for _, count in top])
    return chart.render(is_unicode=True)


def top_backends(summary: Summary) -> str:
    return _horizontal(summary.backends)


def findings_by_type(summary: Summary) -> str:
    return _horizontal(summary.findings)


CHARTS = {
    "requests-per-day": requests_per_day,
    "decisions": decisions,
    "top-backends": top_backends,
    "findings": findings_by_type,
}
