"""Write a release's datasheet as one self-contained HTML page with figures.

The page needs no network to be read: its CSS is inline, its figures are inline SVG drawn by
tasks.figures, and it loads no fonts, scripts or images. Links are plain anchors: the
collection's homepage in the header and any links the Markdown datasheet itself contains.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from html import escape

import markdown
import polars as pl
from markdown.extensions.toc import slugify
from markdown.treeprocessors import Treeprocessor

from tasks import figures
from tasks import markdown as md
from tasks.datasheet import DatasheetInputs
from tasks.datasheet_people import REMOVAL_TITLES
from tasks.spec import CELL_SEPARATOR

# A heatmap with more cells than this is replaced by a note, because its labels would overlap.
MAX_HEATMAP_CELLS = 400
# Prefixed to the ids of datasheet headings so they never collide with figure ids.
HEADING_ID_PREFIX = "ds-"

PAGE_CSS = """
:root { color-scheme: light; }
body {
  margin: 0; color: #1f2328; background: #ffffff;
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
}
main { max-width: 1040px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 1.9em; line-height: 1.25; margin: 0.2em 0 0.4em; }
h2 { font-size: 1.45em; margin-top: 2em; border-bottom: 1px solid #d5dae1; padding-bottom: 4px; }
h3 { font-size: 1.2em; margin-top: 1.6em; }
h4 { font-size: 1.05em; margin-top: 1.4em; }
code { font: 0.9em ui-monospace, "DejaVu Sans Mono", monospace; background: #f2f4f7;
  padding: 1px 4px; border-radius: 3px; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; display: block;
  overflow-x: auto; }
th, td { border: 1px solid #d5dae1; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f2f4f7; }
a { color: #1f5f9e; }
.facts { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 0.6em 0 1em; padding: 0;
  list-style: none; color: #59636e; }
.facts strong { color: #1f2328; }
.outcome { display: inline-block; padding: 0 8px; border-radius: 10px; font-weight: 600; }
.outcome-passed { background: #dcf2e3; color: #14532d; }
.outcome-warned { background: #fdf0d5; color: #7a4a00; }
.outcome-blocked { background: #fbe0de; color: #7f1d1d; }
nav { background: #f6f8fa; border: 1px solid #d5dae1; border-radius: 6px; padding: 10px 16px;
  margin: 1.2em 0; font-size: 0.92em; }
nav ul { margin: 0.3em 0; padding-left: 1.2em; columns: 2; }
figure { margin: 1.6em 0; padding: 14px 16px; border: 1px solid #d5dae1; border-radius: 6px;
  break-inside: avoid; }
figure svg { display: block; max-width: 100%; height: auto; margin-top: 10px; }
figcaption { font-size: 0.92em; color: #3d444d; }
figcaption strong { display: block; font-size: 1.1em; color: #1f2328; margin-bottom: 2px; }
.note { color: #59636e; font-style: italic; }
footer { margin-top: 3em; color: #59636e; font-size: 0.85em; }
"""


@dataclass(frozen=True)
class Figure:
    """One figure of the page: its element id, its heading and its HTML."""

    figure_id: str
    title: str
    html: str


def render_datasheet_html(
    inputs: DatasheetInputs, markdown_text: str, previous_coverage: pl.DataFrame | None
) -> str:
    """Render the datasheet as one HTML page: its introduction, the figures, then its sections.

    `markdown_text` is the datasheet from tasks.datasheet.render_datasheet. `previous_coverage`
    is the parent release's coverage_by_attribute table, or None for a first release.

    Figure ids: `coverage-<attribute>`, `heatmap-<attributes joined by ->`, `diversity`,
    `filter-impact` and `shift`.
    """
    spec = inputs.spec
    title, intro_html, sections_html, headings = _convert_markdown(
        markdown_text, f"Datasheet: {spec.about['title']}"
    )
    page_figures = [
        *_coverage_figures(inputs),
        *_heatmap_figures(inputs),
        _diversity_figure(inputs),
        _filter_impact_figure(inputs),
        _shift_figure(inputs, previous_coverage),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}, release {escape(inputs.version)}</title>",
        f"<style>{PAGE_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        "<header>",
        f"<h1>{escape(title)}</h1>",
        _facts(inputs),
        "</header>",
        intro_html,
        _navigation(page_figures, headings),
        '<section id="figures">',
        "<h2>Figures</h2>",
        *(figure.html for figure in page_figures),
        "</section>",
        '<article id="datasheet">',
        sections_html,
        "</article>",
        "<footer>",
        f"<p>Written by faircurate for release {escape(inputs.version)} of "
        f"<code>{escape(spec.name)}</code>. The figures are drawn from the measurement tables "
        "in <code>measurements/</code>; this page loads no external files.</p>",
        "</footer>",
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


class _InlineImagesAsText(Treeprocessor):
    """Replace every Markdown image by its alt text, so the page never fetches a file."""

    def run(self, root: ElementTree.Element) -> None:
        for parent in root.iter():
            for child in list(parent):
                if child.tag != "img":
                    continue
                replacement = ElementTree.Element("span")
                replacement.text = f"[image: {child.get('alt') or child.get('src') or ''}]"
                replacement.tail = child.tail
                parent.insert(list(parent).index(child), replacement)
                parent.remove(child)


def _convert_markdown(
    markdown_text: str, default_title: str
) -> tuple[str, str, str, list[tuple[str, str]]]:
    """Convert the datasheet to HTML and return its title, introduction, sections and h2 links.

    Raw HTML in the Markdown is escaped, not passed through, because the datasheet's answers
    come from the spec and are plain text. A leading `# ` line becomes the page title.
    """
    lines = markdown_text.splitlines()
    title = default_title
    if lines and lines[0].startswith("# "):
        title = lines[0][2:].strip()
        lines = lines[1:]

    converter = markdown.Markdown(
        extensions=["tables", "toc"],
        extension_configs={
            "toc": {"slugify": lambda value, separator: HEADING_ID_PREFIX + slugify(value, "-")}
        },
    )
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    converter.treeprocessors.register(_InlineImagesAsText(converter), "inline_images_as_text", 0)
    body = converter.convert("\n".join(lines))
    headings = [(token["id"], token["name"]) for token in converter.toc_tokens]

    first_section = body.find("<h2")
    if first_section < 0:
        return title, body, "", headings
    return title, body[:first_section], body[first_section:], headings


def _facts(inputs: DatasheetInputs) -> str:
    gates = inputs.gates
    outcome = escape(gates.outcome)
    items = [
        f"<li>Release <strong>{escape(inputs.version)}</strong></li>",
        f"<li>Published <strong>{inputs.published_at:%Y-%m-%d %H:%M} UTC</strong></li>",
        f"<li><strong>{md.count(inputs.count_records)}</strong> records</li>",
        f'<li>Gates <span class="outcome outcome-{outcome}">{outcome}</span> '
        f"({len(gates.blocking_failures)} blocking failures, {len(gates.warnings)} warnings)</li>",
        f"<li>Previous release <strong>{escape(inputs.parent_version or 'none')}</strong></li>",
    ]
    homepage = inputs.spec.about.get("homepage")
    if homepage:
        items.append(f'<li>Homepage <a href="{escape(homepage)}">{escape(homepage)}</a></li>')
    return '<ul class="facts">' + "".join(items) + "</ul>"


def _navigation(page_figures: list[Figure], headings: list[tuple[str, str]]) -> str:
    figure_links = "".join(
        f'<li><a href="#{escape(f.figure_id)}">{escape(f.title)}</a></li>' for f in page_figures
    )
    parts = ["<nav>", "<strong>Figures</strong>", f"<ul>{figure_links}</ul>"]
    if headings:
        section_links = "".join(
            f'<li><a href="#{escape(anchor)}">{escape(name)}</a></li>' for anchor, name in headings
        )
        parts += ["<strong>Datasheet</strong>", f"<ul>{section_links}</ul>"]
    parts.append("</nav>")
    return "".join(parts)


def _figure(figure_id: str, title: str, caption: str, content: str) -> Figure:
    """Wrap a figure's SVG or note with its heading and caption; `caption` is HTML."""
    html = (
        f'<figure id="{escape(figure_id)}">'
        f"<figcaption><strong>{escape(title)}</strong>{caption}</figcaption>"
        f"{content}</figure>"
    )
    return Figure(figure_id, title, html)


def _coverage_figures(inputs: DatasheetInputs) -> list[Figure]:
    spec = inputs.spec
    coverage = inputs.measurements["coverage_by_attribute"]
    result = []
    for dimension in spec.dimensions:
        attribute = dimension.attribute
        rows = coverage.filter(pl.col("attribute") == attribute).sort("position")
        title = f"Share of each group: {attribute}"
        figure_id = f"coverage-{attribute}"
        if rows.height == 0:
            note = f'<p class="note">No group of {escape(attribute)} was measured.</p>'
            result.append(_figure(figure_id, title, "", note))
            continue
        groups = [
            figures.GroupShare(
                category=r["category"],
                count_members=r["count_members"],
                share=r["share"],
                target_share=r["target_share"],
                is_small=r["is_small"],
                is_empty=r["is_empty"],
            )
            for r in rows.iter_rows(named=True)
        ]
        count_known = rows["count_known"].max()
        has_target = any(g.target_share is not None for g in groups)
        target_sentence = (
            "A black tick marks the target share that the spec sets for a group."
            if has_target
            else f"The spec sets no target share for {escape(attribute)}."
        )
        caption = (
            f"{escape(dimension.definition)} Each bar is a group's share of the "
            f"{md.count(count_known)} records whose {escape(attribute)} is known, followed by "
            f"its record count. Orange bars and the word small mark groups with fewer than "
            f"{spec.small_cell_size} records; empty marks groups with none. {target_sentence}"
        )
        svg = figures.share_bars(groups, spec.small_cell_size, title)
        result.append(_figure(figure_id, title, f" {caption}", svg))
    return result


def _heatmap_figures(inputs: DatasheetInputs) -> list[Figure]:
    """Draw one heatmap per intersection.

    Rows are the combinations of every attribute but the last, columns the last attribute's
    categories, so an intersection of three or more attributes shows every cell.
    """
    spec = inputs.spec
    cells = inputs.measurements["coverage_by_intersection"]
    result = []
    for attributes in spec.intersections:
        name = CELL_SEPARATOR.join(attributes)
        figure_id = "heatmap-" + "-".join(attributes)
        title = f"Records per cell: {name}"
        rows = cells.filter(pl.col("intersection") == name)
        row_attributes, column_attribute = attributes[:-1], attributes[-1]
        row_labels = [
            CELL_SEPARATOR.join(values)
            for values in itertools.product(*(spec.field(a).categories for a in row_attributes))
        ]
        column_labels = list(spec.field(column_attribute).categories)
        if rows.height == 0:
            note = f'<p class="note">No cell of {escape(name)} was measured.</p>'
            result.append(_figure(figure_id, title, "", note))
            continue
        if len(row_labels) * len(column_labels) > MAX_HEATMAP_CELLS:
            note = (
                f'<p class="note">{escape(name)} has {md.count(rows.height)} cells, too many '
                "to draw legibly; every cell is in "
                "<code>measurements/coverage_by_intersection.parquet</code>.</p>"
            )
            result.append(_figure(figure_id, title, "", note))
            continue

        by_cell = {
            r["cell"]: figures.HeatmapCell(
                count_members=r["count_members"],
                share=r["share"],
                is_small=r["is_small"],
                is_empty=r["is_empty"],
            )
            for r in rows.iter_rows(named=True)
        }
        grid = {
            (row, column): by_cell[f"{row}{CELL_SEPARATOR}{column}"]
            for row in row_labels
            for column in column_labels
            if f"{row}{CELL_SEPARATOR}{column}" in by_cell
        }
        count_small = int(rows["is_small"].sum())
        count_empty = int(rows["is_empty"].sum())
        caption = (
            f" Records in each cell of {escape(name)}, among the "
            f"{md.count(rows['count_known'].max())} records whose {escape(name)} values are all "
            f"known. Rows are {escape(' × '.join(row_attributes))}, columns "
            f"{escape(column_attribute)}. Darker cells hold more records (log scale). "
            f"Orange outlines mark {_plural(count_small, 'small cell')} (1 to "
            f"{spec.small_cell_size - 1} records); grey marks {_plural(count_empty, 'empty cell')}."
        )
        svg = figures.heatmap(row_labels, column_labels, grid, spec.small_cell_size, title)
        result.append(_figure(figure_id, title, caption, svg))
    return result


def _diversity_figure(inputs: DatasheetInputs) -> Figure:
    diversity = inputs.measurements["diversity_by_attribute"]
    title = "Diversity indices per attribute"
    if diversity.height == 0:
        return _figure("diversity", title, "", '<p class="note">No attribute was measured.</p>')
    order = {d.attribute: i for i, d in enumerate(inputs.spec.dimensions)}
    rows = sorted(
        diversity.iter_rows(named=True), key=lambda r: order.get(r["attribute"], len(order))
    )
    items = [
        figures.DiversityIndices(
            attribute=r["attribute"],
            count_declared=r["count_declared"],
            evenness=r["evenness"],
            coverage_of_categories=r["coverage_of_categories"],
            effective_number_of_groups=r["effective_number_of_groups"],
        )
        for r in rows
    ]
    caption = (
        " Evenness (Shannon entropy H divided by ln k) is 1 when every declared group has the "
        "same share. Coverage of categories is the share of the k declared groups that have "
        "at least one record. The effective number of groups, exp(H), runs from 1 to k and is "
        "written beside k."
    )
    return _figure("diversity", title, caption, figures.index_bars(items, title))


def _filter_impact_figure(inputs: DatasheetInputs) -> Figure:
    batches = inputs.batches
    count_read = int(batches["count_rows_read"].sum())
    count_quarantined = int(batches["count_rows_quarantined"].sum())
    count_loaded = int(batches["count_rows_loaded"].sum())
    steps = [
        figures.WaterfallStep("read", "records read", count_read, is_total=True),
        figures.WaterfallStep("quarantined", "quarantined", count_quarantined, is_total=False),
        figures.WaterfallStep("loaded", "loaded", count_loaded, is_total=True),
    ]
    reasons = []
    for row in inputs.removals.iter_rows(named=True):
        reason = row["reason"]
        label = f"removed: {reason.replace('_', ' ')}"
        steps.append(figures.WaterfallStep(f"removed-{reason}", label, row["count_records"], False))
        if reason in REMOVAL_TITLES:
            reasons.append(f"{escape(reason.replace('_', ' '))}: {REMOVAL_TITLES[reason]}")
    steps.append(figures.WaterfallStep("released", "released", inputs.count_records, is_total=True))

    title = "From records read to records released"
    sentences = [
        f" {md.count(count_read)} records were read from {md.count(batches.height)} "
        f"{'batch' if batches.height == 1 else 'batches'}, {md.count(count_quarantined)} "
        f"were quarantined and {md.count(count_loaded)} loaded; "
        f"{md.count(inputs.count_records)} are released."
    ]
    if reasons:
        sentences.append("Removals: " + "; ".join(reasons) + ".")
    if count_read != count_loaded + count_quarantined:
        sentences.append(
            f"Rows read differ from rows loaded plus quarantined by "
            f"{md.count(count_read - count_loaded - count_quarantined)}."
        )
    removed = int(inputs.removals["count_records"].sum()) if inputs.removals.height else 0
    if count_loaded - removed != inputs.count_records:
        sentences.append(
            f"Records released differ from records loaded minus removals by "
            f"{md.count(count_loaded - removed - inputs.count_records)}."
        )
    caption = " ".join(sentences)
    return _figure("filter-impact", title, caption, figures.waterfall(steps, title))


def _shift_figure(inputs: DatasheetInputs, previous_coverage: pl.DataFrame | None) -> Figure:
    title = "Change in each group's share since the previous release"
    if previous_coverage is None:
        note = (
            f'<p class="note">This is the first release of {escape(inputs.spec.name)}, so there '
            "is no earlier release to compare shares with.</p>"
        )
        return _figure("shift", title, "", note)

    changes = _share_changes(inputs, previous_coverage)
    since = (
        f"release {escape(inputs.parent_version)}"
        if inputs.parent_version
        else "the previous release"
    )
    caption = (
        f" Each bar is the change in a group's share of known values from {since} to release "
        f"{escape(inputs.version)}, in percentage points (pp); the text gives both shares. A "
        "group missing from one of the two releases counts as a share of 0."
    )
    return _figure("shift", title, caption, figures.change_bars(changes, title))


def _share_changes(
    inputs: DatasheetInputs, previous_coverage: pl.DataFrame
) -> list[figures.ShareChange]:
    """Pair every group's share in this release with its share in the previous one."""
    current = inputs.measurements["coverage_by_attribute"].select(
        "attribute", "category", "position", "share"
    )
    previous = previous_coverage.select(
        "attribute",
        "category",
        pl.col("position").alias("previous_position"),
        pl.col("share").alias("previous_share"),
    )
    joined = current.join(previous, on=["attribute", "category"], how="full", coalesce=True)
    order = {d.attribute: i for i, d in enumerate(inputs.spec.dimensions)}
    rows = sorted(
        joined.iter_rows(named=True),
        key=lambda r: (
            order.get(r["attribute"], len(order)),
            r["attribute"],
            r["position"] if r["position"] is not None else 10_000 + r["previous_position"],
        ),
    )
    return [
        figures.ShareChange(
            attribute=r["attribute"],
            category=r["category"],
            previous_share=r["previous_share"] or 0.0,
            share=r["share"] or 0.0,
        )
        for r in rows
    ]


def _plural(count: int, noun: str) -> str:
    return f"{md.count(count)} {noun if count == 1 else noun + 's'}"
