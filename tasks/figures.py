"""Draw the datasheet's figures as inline SVG, with no plotting library.

Each function returns one `<svg>` element whose viewBox lets the page scale it to the column
width. Every text value goes through html.escape, so labels may contain any character.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

from tasks import markdown as md

FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"
FONT_SIZE = 12
# Estimated mean advance of one glyph at FONT_SIZE in a sans-serif font, in px. Label columns
# are sized from it, so a font much wider than DejaVu Sans may clip the longest labels.
CHAR_WIDTH = 7.0
ROW_HEIGHT = 24
BAR_HEIGHT = 14
PLOT_WIDTH = 400
MARGIN = 10
QUARTERS = (0.0, 0.25, 0.5, 0.75, 1.0)

COLOUR_BAR = "#3b6ea5"
COLOUR_SMALL = "#d9822b"
COLOUR_DECREASE = "#c0392b"
COLOUR_TARGET = "#111111"
COLOUR_GRID = "#d5dae1"
COLOUR_TEXT = "#1f2328"
COLOUR_MUTED = "#59636e"
COLOUR_EMPTY = "#eceff3"
# Heatmap shading runs from the first colour (fewest records) to the second (most).
HEAT_LOW = (238, 243, 248)
HEAT_HIGH = (31, 78, 121)


@dataclass(frozen=True)
class GroupShare:
    """One group of a demographic attribute, as coverage_by_attribute measures it."""

    category: str
    count_members: int
    share: float | None
    target_share: float | None
    is_small: bool
    is_empty: bool


@dataclass(frozen=True)
class HeatmapCell:
    """One cell of an intersection, as coverage_by_intersection measures it."""

    count_members: int
    share: float | None
    is_small: bool
    is_empty: bool


@dataclass(frozen=True)
class DiversityIndices:
    """The diversity indices of one attribute that the diversity figure draws."""

    attribute: str
    count_declared: int
    evenness: float | None
    coverage_of_categories: float | None
    effective_number_of_groups: float | None


@dataclass(frozen=True)
class WaterfallStep:
    """One step of the filter-impact waterfall: a running total or a decrease from it."""

    key: str
    label: str
    count: int
    is_total: bool


@dataclass(frozen=True)
class ShareChange:
    """A group's share of known values in the previous release and in this one."""

    attribute: str
    category: str
    previous_share: float
    share: float


def share_bars(groups: Sequence[GroupShare], small_cell_size: int, label: str) -> str:
    """Draw one horizontal bar per group: its share on a 0 to 100% axis.

    Small groups get an orange bar and the word "small", empty groups the word "empty", and a
    black tick marks each target share that the spec sets.
    """
    label_width = _text_width(g.category for g in groups)
    plot_left = MARGIN + label_width + 10
    value_left = plot_left + PLOT_WIDTH + 8
    width = value_left + 300
    has_target = any(g.target_share is not None for g in groups)

    legend = [
        ("swatch", COLOUR_BAR, "group"),
        ("swatch", COLOUR_SMALL, f"small (< {small_cell_size})"),
    ]
    if has_target:
        legend.append(("tick", COLOUR_TARGET, "target share"))
    legend_svg, _ = _legend(plot_left, 14, legend)
    parts = [legend_svg]
    top = 44
    parts += _axis(plot_left, top - 8, top + len(groups) * ROW_HEIGHT, QUARTERS, 1.0, _percent_tick)

    for index, group in enumerate(groups):
        y = top + index * ROW_HEIGHT
        middle = y + ROW_HEIGHT / 2
        parts.append(_text(plot_left - 8, middle, group.category, anchor="end"))
        share = group.share or 0.0
        bar_width = share * PLOT_WIDTH
        if group.count_members > 0:
            # Keep a group with a few records visible, however thin its true bar would be.
            bar_width = max(bar_width, 1.5)
            colour = COLOUR_SMALL if group.is_small else COLOUR_BAR
            parts.append(
                _rect(plot_left, middle - BAR_HEIGHT / 2, bar_width, BAR_HEIGHT, fill=colour)
            )
        values = [f"{md.percent(group.share)} ({md.count(group.count_members)})"]
        if group.target_share is not None:
            target_x = plot_left + group.target_share * PLOT_WIDTH
            parts.append(
                f'<line x1="{target_x:.1f}" y1="{middle - 9:.1f}" x2="{target_x:.1f}" '
                f'y2="{middle + 9:.1f}" stroke="{COLOUR_TARGET}" stroke-width="2.5"/>'
            )
            values.append(f"target {md.percent(group.target_share)}")
        if group.is_empty:
            values.append("empty")
        elif group.is_small:
            values.append("small")
        parts.append(_text(value_left, middle, ", ".join(values)))

    height = top + len(groups) * ROW_HEIGHT + MARGIN
    return _svg(width, height, label, parts)


def heatmap(
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    cells: Mapping[tuple[str, str], HeatmapCell],
    small_cell_size: int,
    label: str,
) -> str:
    """Draw a grid of cells shaded by record count on a log scale, with the count in each cell.

    Small cells get an orange outline and class `cell small`. Empty cells are grey with the
    word "empty" and class `cell empty`. A pair missing from `cells` is drawn as "n/a".
    """
    cell_width, cell_height = 68, 28
    label_width = _text_width(row_labels)
    grid_left = MARGIN + label_width + 10
    longest_column = _text_width(column_labels)
    rotate = longest_column > cell_width - 8
    # Rotated headers rise at 45 degrees, so they need sin(45°) of their width above the grid
    # and the same to the right of the last column.
    header_height = longest_column * 0.71 + 18 if rotate else 24
    grid_top = 10 + header_height
    grid_width = cell_width * len(column_labels)
    width = grid_left + grid_width + (longest_column * 0.71 if rotate else 0) + MARGIN
    counts = [c.count_members for c in cells.values()]
    max_count = max(counts, default=0)

    parts = []
    for column, name in enumerate(column_labels):
        x = grid_left + (column + 0.5) * cell_width
        if rotate:
            y = grid_top - 8
            parts.append(
                f'<text x="{x:.1f}" y="{y:.1f}" transform="rotate(-45 {x:.1f} {y:.1f})" '
                f'fill="{COLOUR_TEXT}">{escape(name)}</text>'
            )
        else:
            parts.append(_text(x, grid_top - 10, name, anchor="middle"))

    for row, row_label in enumerate(row_labels):
        y = grid_top + row * cell_height
        parts.append(_text(grid_left - 8, y + cell_height / 2, row_label, anchor="end"))
        for column, column_label in enumerate(column_labels):
            x = grid_left + column * cell_width
            cell = cells.get((row_label, column_label))
            name = f"{row_label} × {column_label}" if row_label else column_label
            parts.append(_heatmap_cell(x, y, cell_width, cell_height, cell, max_count, name))

    legend_top = grid_top + len(row_labels) * cell_height + 18
    legend_svg, legend_right = _legend(
        grid_left,
        legend_top,
        [
            ("swatch", _heat_colour(0.15), "fewer records"),
            ("swatch", _heat_colour(1.0), "more records (log scale)"),
            ("outline", COLOUR_SMALL, f"small cell (1 to {small_cell_size - 1})"),
            ("swatch", COLOUR_EMPTY, "empty cell (0)"),
        ],
    )
    parts.append(legend_svg)
    height = legend_top + 16
    return _svg(max(width, legend_right + MARGIN), height, label, parts)


def index_bars(attributes: Sequence[DiversityIndices], label: str) -> str:
    """Draw evenness and coverage of categories per attribute on a 0 to 1 axis.

    The effective number of groups is written beside k, the number of declared categories,
    because it runs from 1 to k rather than 0 to 1.
    """
    names = [a.attribute for a in attributes]
    attribute_width = _text_width(names)
    index_names = ("evenness", "coverage of categories")
    index_width = _text_width(index_names)
    plot_left = MARGIN + attribute_width + 12 + index_width + 10
    value_left = plot_left + PLOT_WIDTH + 8
    note_left = value_left + 52
    width = note_left + 250
    block_height = 2 * ROW_HEIGHT + 10
    top = 24

    parts = _axis(
        plot_left, top - 8, top + len(attributes) * block_height, QUARTERS, 1.0, _fraction_tick
    )
    for index, item in enumerate(attributes):
        y = top + index * block_height
        parts.append(_text(MARGIN, y + ROW_HEIGHT, item.attribute, weight="bold", anchor="start"))
        for offset, (name, value) in enumerate(
            zip(index_names, (item.evenness, item.coverage_of_categories), strict=True)
        ):
            middle = y + offset * ROW_HEIGHT + ROW_HEIGHT / 2
            parts.append(_text(plot_left - 8, middle, name, anchor="end", muted=True))
            if value is not None:
                parts.append(
                    _rect(
                        plot_left,
                        middle - BAR_HEIGHT / 2,
                        max(value * PLOT_WIDTH, 1.5),
                        BAR_HEIGHT,
                        fill=COLOUR_BAR if offset == 0 else "#7aa6d6",
                    )
                )
            parts.append(_text(value_left, middle, md.number(value, 3)))
        effective = md.number(item.effective_number_of_groups, 2)
        parts.append(
            _text(
                note_left,
                y + ROW_HEIGHT,
                f"effective groups {effective} of k = {item.count_declared}",
            )
        )

    height = top + len(attributes) * block_height + MARGIN
    return _svg(width, height, label, parts)


def waterfall(steps: Sequence[WaterfallStep], label: str) -> str:
    """Draw the filter impact as a horizontal waterfall, one row per step from top to bottom.

    A total is a bar from zero, and a decrease floats between the running total before and after
    it. Each row is a `<g class="step">` carrying `data-step` and `data-count`.
    """
    label_width = _text_width(s.label for s in steps)
    plot_left = MARGIN + label_width + 10
    value_left = plot_left + PLOT_WIDTH + 8
    width = value_left + 120
    ticks = _round_ticks(max((s.count for s in steps if s.is_total), default=0))
    largest = ticks[-1]
    top = 24

    parts = _axis(plot_left, top - 8, top + len(steps) * ROW_HEIGHT, ticks, largest, _count_tick)
    running = 0
    previous_end: float | None = None
    for index, step in enumerate(steps):
        middle = top + index * ROW_HEIGHT + ROW_HEIGHT / 2
        if step.is_total:
            start, end = 0, step.count
            running = step.count
            colour, value = COLOUR_BAR, md.count(step.count)
        else:
            start, end = running - step.count, running
            running -= step.count
            colour = COLOUR_DECREASE
            value = f"−{md.count(step.count)}" if step.count else "0"
        x_start = plot_left + start / largest * PLOT_WIDTH
        x_end = plot_left + end / largest * PLOT_WIDTH
        bar_width = max(x_end - x_start, 1.0)
        kind = "total" if step.is_total else "decrease"
        parts.append(
            f'<g class="step step-{kind}" data-step="{escape(step.key)}" '
            f'data-count="{step.count}">'
            f"<title>{escape(step.label)}: {escape(value)}</title>"
            + _rect(x_start, middle - BAR_HEIGHT / 2, bar_width, BAR_HEIGHT, fill=colour)
            + _text(plot_left - 8, middle, step.label, anchor="end")
            + _text(value_left, middle, value)
            + "</g>"
        )
        # A dashed line joins the running total of one row to the next row.
        running_x = plot_left + running / largest * PLOT_WIDTH
        if previous_end is not None:
            parts.append(
                f'<line x1="{previous_end:.1f}" y1="{middle - ROW_HEIGHT + BAR_HEIGHT / 2:.1f}" '
                f'x2="{previous_end:.1f}" y2="{middle - BAR_HEIGHT / 2:.1f}" '
                f'stroke="{COLOUR_MUTED}" stroke-dasharray="3 2"/>'
            )
        previous_end = running_x

    height = top + len(steps) * ROW_HEIGHT + MARGIN
    return _svg(width, height, label, parts)


def change_bars(changes: Sequence[ShareChange], label: str) -> str:
    """Draw each group's change in share, in percentage points, as bars either side of zero.

    Groups are listed under a heading row per attribute, in the order given.
    """
    rows: list[tuple[str, ShareChange | None]] = []
    for change in changes:
        if not rows or rows[-1][0] != change.attribute:
            rows.append((change.attribute, None))
        rows.append((change.attribute, change))
    label_width = _text_width([c.category for c in changes] + [c.attribute for c in changes])
    plot_left = MARGIN + label_width + 10
    centre = plot_left + PLOT_WIDTH / 2
    value_left = plot_left + PLOT_WIDTH + 8
    width = value_left + 260
    # The axis spans at least one percentage point either side so tiny changes stay tiny.
    largest = max([abs(c.share - c.previous_share) * 100 for c in changes] + [1.0])
    top = 24
    bottom = top + len(rows) * ROW_HEIGHT

    parts = [
        f'<line x1="{plot_left + x:.1f}" y1="{top - 8}" x2="{plot_left + x:.1f}" y2="{bottom}" '
        f'stroke="{COLOUR_GRID}"/>'
        for x in (0, PLOT_WIDTH)
    ]
    parts.append(
        f'<line x1="{centre:.1f}" y1="{top - 8}" x2="{centre:.1f}" y2="{bottom}" '
        f'stroke="{COLOUR_MUTED}"/>'
    )
    for x, tick in ((plot_left, -largest), (centre, 0.0), (plot_left + PLOT_WIDTH, largest)):
        parts.append(
            _text(x, top - 14, format_points(tick) if tick else "0", anchor="middle", muted=True)
        )

    for index, (attribute, change) in enumerate(rows):
        middle = top + index * ROW_HEIGHT + ROW_HEIGHT / 2
        if change is None:
            parts.append(_text(MARGIN, middle, attribute, weight="bold"))
            continue
        points = (change.share - change.previous_share) * 100
        bar_width = abs(points) / largest * (PLOT_WIDTH / 2)
        x = centre if points >= 0 else centre - bar_width
        colour = COLOUR_BAR if points >= 0 else COLOUR_DECREASE
        parts.append(_text(plot_left - 8, middle, change.category, anchor="end"))
        parts.append(_rect(x, middle - BAR_HEIGHT / 2, max(bar_width, 1.0), BAR_HEIGHT, colour))
        parts.append(
            _text(
                value_left,
                middle,
                f"{md.percent(change.previous_share)} → {md.percent(change.share)} "
                f"({format_points(points)})",
            )
        )

    height = bottom + MARGIN
    return _svg(width, height, label, parts)


def format_points(points: float) -> str:
    """Format a change in percentage points with its sign, such as "+1.25 pp" or "−0.40 pp"."""
    if round(points, 2) == 0:
        return "0.00 pp"
    sign = "+" if points > 0 else "−"
    return f"{sign}{abs(points):.2f} pp"


def _heatmap_cell(
    x: float,
    y: float,
    width: float,
    height: float,
    cell: HeatmapCell | None,
    max_count: int,
    name: str,
) -> str:
    if cell is None:
        return (
            f'<g class="cell missing"><title>{escape(name)}: not measured</title>'
            + _rect(x, y, width, height, fill="#ffffff", stroke=COLOUR_GRID)
            + _text(x + width / 2, y + height / 2, "n/a", anchor="middle", muted=True)
            + "</g>"
        )
    if cell.is_empty:
        return (
            f'<g class="cell empty"><title>{escape(name)}: 0 records (empty)</title>'
            + _rect(x, y, width, height, fill=COLOUR_EMPTY, stroke="#ffffff")
            + _text(x + width / 2, y + height / 2, "empty", anchor="middle", muted=True)
            + "</g>"
        )
    intensity = math.log1p(cell.count_members) / math.log1p(max_count) if max_count > 0 else 0.0
    text_colour = "#ffffff" if intensity > 0.6 else COLOUR_TEXT
    records = md.count(cell.count_members)
    if cell.is_small:
        return (
            f'<g class="cell small"><title>{escape(name)}: {records} records (small)</title>'
            + _rect(x, y, width, height, fill=_heat_colour(intensity), stroke="#ffffff")
            + _rect(
                x + 2,
                y + 2,
                width - 4,
                height - 4,
                fill="none",
                stroke=COLOUR_SMALL,
                stroke_width=3,
            )
            + _text(x + width / 2, y + height / 2, records, anchor="middle", weight="bold")
            + "</g>"
        )
    return (
        f'<g class="cell"><title>{escape(name)}: {records} records</title>'
        + _rect(x, y, width, height, fill=_heat_colour(intensity), stroke="#ffffff")
        + f'<text x="{x + width / 2:.1f}" y="{y + height / 2:.1f}" text-anchor="middle" '
        f'dominant-baseline="central" fill="{text_colour}">{records}</text>' + "</g>"
    )


def _heat_colour(intensity: float) -> str:
    channels = (
        round(low + (high - low) * intensity) for low, high in zip(HEAT_LOW, HEAT_HIGH, strict=True)
    )
    return "#" + "".join(f"{c:02x}" for c in channels)


def _axis(
    left: float, top: float, bottom: float, ticks: Sequence[float], scale_max: float, format_tick
) -> list[str]:
    """Return a vertical gridline and a label above the plot for every tick."""
    parts = []
    for tick in ticks:
        x = left + tick / scale_max * PLOT_WIDTH
        parts.append(
            f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" '
            f'stroke="{COLOUR_GRID}"/>'
        )
        parts.append(_text(x, top - 6, format_tick(tick), anchor="middle", muted=True))
    return parts


def _round_ticks(largest: float) -> list[float]:
    """Return ticks from 0 in steps of 1, 2 or 5 times a power of ten, reaching `largest`."""
    if largest <= 0:
        return [0.0, 1.0]
    rough_step = largest / 5
    magnitude = 10 ** math.floor(math.log10(rough_step))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough_step)
    return [i * step for i in range(math.ceil(largest / step) + 1)]


def _percent_tick(value: float) -> str:
    return f"{value * 100:.0f}%"


def _fraction_tick(value: float) -> str:
    return f"{value:g}"


def _count_tick(value: float) -> str:
    return md.count(round(value))


def _legend(left: float, y: float, entries: Sequence[tuple[str, str, str]]) -> tuple[str, float]:
    """Return a one-line legend and its right edge.

    Each entry is (kind, colour, text), where kind is tick, outline or swatch.
    """
    parts = []
    x = left
    for kind, colour, text in entries:
        if kind == "tick":
            parts.append(
                f'<line x1="{x + 6}" y1="{y - 7}" x2="{x + 6}" y2="{y + 7}" '
                f'stroke="{colour}" stroke-width="2.5"/>'
            )
        elif kind == "outline":
            parts.append(_rect(x, y - 6, 14, 12, fill="#ffffff", stroke=colour, stroke_width=3))
        else:
            parts.append(_rect(x, y - 6, 14, 12, fill=colour, stroke=COLOUR_GRID))
        parts.append(_text(x + 20, y, text, muted=True))
        x += 20 + len(text) * CHAR_WIDTH + 18
    return "".join(parts), x


def _text_width(labels: Iterable[str]) -> float:
    return max((len(label) for label in labels), default=0) * CHAR_WIDTH


def _text(
    x: float,
    y: float,
    content: str,
    *,
    anchor: str = "start",
    weight: str | None = None,
    muted: bool = False,
) -> str:
    attributes = [
        f'x="{x:.1f}"',
        f'y="{y:.1f}"',
        f'text-anchor="{anchor}"',
        'dominant-baseline="central"',
        f'fill="{COLOUR_MUTED if muted else COLOUR_TEXT}"',
    ]
    if weight:
        attributes.append(f'font-weight="{weight}"')
    return f"<text {' '.join(attributes)}>{escape(content)}</text>"


def _rect(
    x: float,
    y: float,
    width: float,
    height: float,
    fill: str,
    stroke: str | None = None,
    stroke_width: float = 1.0,
) -> str:
    outline = f' stroke="{stroke}" stroke-width="{stroke_width:g}"' if stroke else ""
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
        f'fill="{fill}"{outline}/>'
    )


def _svg(width: float, height: float, label: str, parts: Sequence[str]) -> str:
    return (
        f'<svg viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img" aria-label="{escape(label)}" '
        f'font-family="{escape(FONT_FAMILY)}" font-size="{FONT_SIZE}">'
        f"<title>{escape(label)}</title>" + "".join(parts) + "</svg>"
    )
