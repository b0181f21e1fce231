"""Server-drawn SVG charts (pygal) for the audit dashboard.

Served as images: pygal embeds a <style> element, which the page's strict CSP
would refuse inline; as an <img> the SVG runs no script whatever it holds.

Each chart is drawn at the size the dashboard shows it on a desktop (``WIDE``
spans the grid, ``HALF`` is one of its two columns), so text is drawn 1:1
there; each SVG says its size (``width``/``height``), and the templates' attributes repeat
it. The dashboard's ``<picture>`` asks for drawings made for narrower screens
(``?size=narrow``): the per-day chart at the width it scrolls at on one column
(``WIDE_NARROW``), and the two half charts with text beside their bars at a phone's width
(``NARROW``). A drawing shown wider or narrower than it was drawn scales its text with it.
Colours are the stylesheet's: categories keep their chip colours
(``--cat-1`` … ``--cat-4``), decisions their badge colours.
"""

import math
from collections import Counter

import pygal
from pygal.style import Style

from audit.reports import Summary
from governance.policy import finding_name

WIDE = (1090, 340)
#: The per-day chart on one column (up to 900px): a phone scrolls it at this width (the
#: stylesheet's min-width) and a tablet shows it about this wide; the desktop drawing
#: shrunk to it put its labels at 10 px.
WIDE_NARROW = (720, 340)
HALF = (440, 300)
#: A half chart as a phone shows it (``?size=narrow``, the dashboard's ``<picture>`` below
#: 480px): drawn at a 390px phone's card width with larger type, the labels read 12 px on a
#: 320px phone and 16 on a 390px one, where the desktop drawing shrunk to a phone's card put
#: them under 10 (and 14 px type, under 11 on a 320px phone).
NARROW = (330, 320)
NARROW_TYPE = {"label_font_size": 16, "major_label_font_size": 16, "value_font_size": 16}
#: Room right of a horizontal chart for half its last value label (1500), centred on the edge.
AXIS_END_ROOM = 22
RING = (280, 280)  # the decisions ring; its legend is HTML beside it, with the counts
INK, INK_SOFT, LINE = "#15202b", "#4a5868", "#e6eaef"
BRAND = "#2d5a8c"
UNKNOWN = "#6b7a8c"
CATEGORY_COLOURS = {1: "#1f7a4d", 2: "#2d5a8c", 3: "#9a5b00", 4: "#b42318"}
DECISION_COLOURS = {
    "allowed": "#1f7a4d",
    "pseudonymised": "#2d5a8c",
    "escalated": "#9a5b00",
    "blocked": "#b42318",
}

STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground=INK_SOFT,
    foreground_strong=INK_SOFT,  # pygal draws "major" ticks (100, 200) in it: no bold outliers
    foreground_subtle=LINE,
    guide_stroke_color=LINE,
    major_guide_stroke_color=LINE,
    guide_stroke_dasharray="0",
    major_guide_stroke_dasharray="0",
    opacity="1",
    opacity_hover="1",
    stroke_opacity="1",
    colors=(BRAND,),
    value_colors=("#ffffff",),
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif",
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=14,
    value_font_size=13,
    title_font_size=15,
    no_data_font_size=16,
)


def _config(size: tuple[int, int], colours: tuple[str, ...] = (BRAND,), **overrides):
    config = pygal.Config(
        js=[],  # no tooltips script: it would be fetched from a CDN
        disable_xml_declaration=True,
        style=Style(**{**STYLE.to_dict(), "colors": colours or (BRAND,)}),
        width=size[0],
        height=size[1],
        legend_at_bottom=True,
        legend_box_size=13,
        truncate_label=-1,
        truncate_legend=-1,
        print_values=False,
        show_y_guides=True,
        show_x_guides=False,
        no_data_text="No requests in this period",
        margin=8,
        spacing=14,
        explicit_size=True,  # the SVG's own size: a page may show it at that, never larger
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def _slim_bars(chart, bars: int, plot_height: int = 230, thickest: int = 40) -> None:
    """Keep a few bars from swelling to fill the plot (pygal sizes them to their slot)."""
    slot = plot_height / max(1, bars)
    chart._series_margin = max(0.06, (1 - thickest / slot) / 2)


def _ticks(maximum: int, count: int = 4) -> dict:
    """A value axis of round, whole steps that reaches past the longest bar."""
    if maximum <= 0:
        return {}
    raw = maximum / count
    magnitude = 10 ** max(0, math.floor(math.log10(raw)))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    top = math.ceil(maximum / step) * step
    return {"y_labels": list(range(0, top + 1, step)), "range": (0, top)}


def _category_numbers(names: list[str]) -> dict[str, int]:
    from governance.models import Category

    return dict(Category.objects.filter(name__in=names).values_list("name", "number"))


def category_key(summary: Summary) -> list[tuple[str, str, int]]:
    """The per-day chart's series in its order: each category's name, label and number (0: a
    category no longer in the policy). The key is HTML under the chart (``swatch-cat-N``),
    which wraps on a narrow screen where the chart scrolls sideways."""
    numbers = _category_numbers(summary.categories)
    categories = sorted(summary.categories, key=lambda name: (numbers.get(name, 99), name))
    return [
        (name, f"{numbers[name]} · {name}" if name in numbers else name, numbers.get(name, 0))
        for name in categories
    ]


def requests_per_day(summary: Summary, *, narrow: bool = False) -> str:
    """Stacked bars, one series per category in policy order, coloured like its chip
    (``narrow``: drawn at :data:`WIDE_NARROW`)."""
    key = category_key(summary)
    colours = tuple(CATEGORY_COLOURS.get(number, UNKNOWN) for _, _, number in key)
    days = summary.period.days
    # Drawn 1,090 wide and shown down to 900 on a desktop: a size larger, to read 13 px there.
    size = 13 if narrow else 16
    type_sizes = {"label_font_size": size, "major_label_font_size": size}
    chart = pygal.StackedBar(
        _config(
            WIDE_NARROW if narrow else WIDE,
            colours,
            style=Style(**{**STYLE.to_dict(), "colors": colours or (BRAND,), **type_sizes}),
            show_legend=False,
            show_minor_x_labels=False,
            **_ticks(
                max((sum(c.values()) for c in summary.per_day_by_category.values()), default=0)
            ),  # fmt: skip
        )
    )
    chart.x_labels = [day.strftime("%-d %b") for day in days]
    # Every day fits on a fortnight; longer periods label Mondays, then the first of each month.
    if len(days) <= 16:
        chart.x_labels_major = chart.x_labels
    else:
        weekly = len(days) <= 120
        chart.x_labels_major = [day.strftime("%-d %b") for day in days
                                if (day.weekday() == 0 if weekly else day.day == 1)]  # fmt: skip
    for category, label, _ in key:
        chart.add(label, [summary.per_day_by_category.get(day, Counter())[category] or None
                          for day in days])  # fmt: skip
    return chart.render(is_unicode=True)


def decisions(summary: Summary) -> str:
    """A ring of decisions. No legend: the dashboard lists them beside it, with counts."""
    order = [d for d in DECISION_COLOURS if summary.decisions.get(d)]
    chart = pygal.Pie(
        _config(
            RING,
            tuple(DECISION_COLOURS[d] for d in order),
            inner_radius=0.6,
            show_legend=False,
            margin=4,
        )
    )
    for decision in order:
        chart.add(decision.capitalize(), summary.decisions[decision])
    return chart.render(is_unicode=True)


def _half(narrow: bool, colours: tuple[str, ...] = (BRAND,)) -> dict:
    """The size (and, narrow, the type) of a chart in one column of the grid."""
    if not narrow:
        return {"size": HALF, "colours": colours}
    style = Style(**{**STYLE.to_dict(), "colors": colours or (BRAND,), **NARROW_TYPE})
    return {"size": NARROW, "colours": colours, "style": style}


def _labels(names: list[str], narrow: bool, longest: int = 20) -> list[str]:
    """A bar's names; narrow, each cut to ``longest`` characters: "Rule “Health information”"
    left the bars a third of a phone's chart (pygal cuts no label on this axis). Each is
    whole in the chart's table of numbers."""
    if not narrow:
        return names
    return [name if len(name) <= longest else name[: longest - 1].rstrip() + "…" for name in names]


def top_backends(summary: Summary, limit: int = 8, *, narrow: bool = False) -> str:
    """Requests delivered per backend, most used on top."""
    top = summary.backends.most_common(limit)[::-1]  # pygal draws the first label lowest
    chart = pygal.HorizontalBar(
        _config(
            **_half(narrow),
            show_legend=False,
            print_values=True,
            print_values_position="center",
            **_ticks(max(summary.backends.values(), default=0)),
            no_data_text="Nothing delivered in this period",
            margin_right=AXIS_END_ROOM,
        )
    )
    _slim_bars(chart, len(top))
    chart.x_labels = _labels([name for name, _ in top], narrow)
    chart.add("Requests", [count for _, count in top])
    return chart.render(is_unicode=True)


def findings_key(summary: Summary) -> list[str]:
    """The findings chart's series in its order: the decisions taken on findings. The key
    is HTML under the chart (``swatch-<decision>``): drawn in the picture, pygal gave each
    label a fixed share of the row, and "Pseudonymised" ran into its neighbours."""
    order = [d for d in DECISION_COLOURS if summary.findings_by_decision.get(d)]
    return order + sorted(d for d in summary.findings_by_decision if d not in DECISION_COLOURS)


def findings_by_type(summary: Summary, limit: int = 8, *, narrow: bool = False) -> str:
    """Personal data and secrets found, by type, split by what Steward then did."""
    kinds = [kind for kind, _ in summary.findings.most_common(limit)][::-1]
    order = findings_key(summary)
    chart = pygal.HorizontalStackedBar(
        _config(
            **_half(narrow, tuple(DECISION_COLOURS.get(d, UNKNOWN) for d in order)),
            show_legend=False,
            **_ticks(max(summary.findings.values(), default=0)),
            no_data_text="Nothing found in this period",
            margin_right=AXIS_END_ROOM,
        )
    )
    _slim_bars(chart, len(kinds), plot_height=200)
    chart.x_labels = _labels([finding_name(kind) for kind in kinds], narrow)
    for decision in order:
        counts = summary.findings_by_decision[decision]
        chart.add(decision.capitalize(), [counts.get(kind) or None for kind in kinds])
    return chart.render(is_unicode=True)


#: The charts also drawn for narrow screens (``narrow=True``).
NARROW_CHARTS = {"requests-per-day", "top-backends", "findings"}

CHARTS = {
    "requests-per-day": requests_per_day,
    "decisions": decisions,
    "top-backends": top_backends,
    "findings": findings_by_type,
}
