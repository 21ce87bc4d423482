"""Write a release's datasheet: the seven sections of "Datasheets for Datasets", filled from the
collection spec and from the measurements of the release.

A question the spec does not answer is written as not provided; no answer is invented.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from tasks import markdown as md
from tasks.datasheet_associations import associations_summary
from tasks.datasheet_people import consent_summary, crowdwork, filter_impact, privacy_summary
from tasks.datasheet_questions import SECTIONS
from tasks.datasheet_reliability import reliability_summary
from tasks.gates import GateReport
from tasks.index_stability import stability_summary
from tasks.spec import CollectionSpec

NOT_PROVIDED = "Not provided in the collection spec."


@dataclass(frozen=True)
class DatasheetInputs:
    """Everything the datasheet quotes: the spec, the gate run and the measurement tables."""

    spec: CollectionSpec
    version: str
    parent_version: str | None
    published_at: datetime
    gates: GateReport
    measurements: dict[str, pl.DataFrame]
    batches: pl.DataFrame
    data_files: list[tuple[str, int]]
    removals: pl.DataFrame
    count_records: int


def render_datasheet(inputs: DatasheetInputs) -> str:
    """Return the datasheet as Markdown."""
    spec = inputs.spec
    count_records = inputs.count_records
    parts = [
        f"# Datasheet: {spec.about['title']}",
        "",
        f"Release **{inputs.version}** of collection `{spec.name}`, published "
        f"{inputs.published_at:%Y-%m-%d %H:%M} UTC from the collection spec "
        f"`{spec.path.name}` (sha256 `{spec.sha256[:16]}`). It holds "
        f"**{md.count(count_records)} records**. Gate outcome: **{inputs.gates.outcome}** "
        f"(blocking failures: {len(inputs.gates.blocking_failures)}, "
        f"warnings: {len(inputs.gates.warnings)}).",
        "",
        "Answers come from the collection spec; figures are measured on this release. "
        f'A question the spec does not answer reads "{NOT_PROVIDED}"',
    ]
    parts += _motivation(inputs)
    parts += _composition(inputs)
    parts += _collection_process(inputs)
    parts += _preprocessing(inputs)
    parts += _uses(inputs)
    parts += _distribution(inputs)
    parts += _maintenance(inputs)
    return "\n".join(parts) + "\n"


def _answers(spec: CollectionSpec, section: str, number: int, **fallbacks: str | None) -> list[str]:
    title, questions = SECTIONS[section]
    lines = ["", f"## {number}. {title}", ""]
    for key, question in questions.items():
        answer = spec.datasheet.get(section, {}).get(key) or fallbacks.get(key) or NOT_PROVIDED
        lines += [f"**{question}**", "", answer, ""]
    return lines


def _motivation(inputs: DatasheetInputs) -> list[str]:
    return _answers(inputs.spec, "motivation", 1, purpose=inputs.spec.about["purpose"])


def _composition(inputs: DatasheetInputs) -> list[str]:
    spec = inputs.spec
    lines = _answers(spec, "composition", 2)
    lines += ["### Source batches", ""]
    lines.append(
        md.table(
            ["source file", "batch (sha256)", "rows read", "loaded", "quarantined"],
            [
                (
                    row["source_file"],
                    f"`{row['batch_id'][:16]}`",
                    md.count(row["count_rows_read"]),
                    md.count(row["count_rows_loaded"]),
                    md.count(row["count_rows_quarantined"]),
                )
                for row in inputs.batches.iter_rows(named=True)
            ],
        )
    )
    lines += ["", "### Shares per group", ""]
    lines.append(
        "Shares are of the records whose value is known. A group is marked small when it has "
        f"fewer than {spec.small_cell_size} records (`measurement.small_cell_size` in the spec). "
        + _bootstrap_note(spec)
    )
    coverage = inputs.measurements["coverage_by_attribute"]
    for dimension in spec.dimensions:
        field = spec.field(dimension.attribute)
        rows = coverage.filter(pl.col("attribute") == dimension.attribute).sort("position")
        supplied = field.supplied_by
        if field.derived_from:
            supplied = f"derived from `{field.derived_from}`"
        lines += [
            "",
            f"#### {dimension.attribute}",
            "",
            f"*Definition:* {dimension.definition}",
            "",
            f"*Why it matters:* {dimension.rationale}",
            "",
            f"*Supplied by:* {supplied}.",
            "",
            md.table(
                ["group", "records", "share", _interval_header(spec), "target share", "flag"],
                [
                    (
                        r["category"],
                        md.count(r["count_members"]),
                        md.percent(r["share"]),
                        _interval(r, "share", md.percent),
                        md.percent(r["target_share"])
                        if r["target_share"] is not None
                        else "not set",
                        _size_flag(r),
                    )
                    for r in rows.iter_rows(named=True)
                ],
            ),
        ]
        lines += _validity(inputs, dimension.attribute)
    lines += _intersections(inputs)
    lines += _diversity(inputs)
    lines += stability_summary(inputs.measurements.get("index_stability"))
    lines += _missingness(inputs)
    lines += associations_summary(inputs.measurements)
    lines += privacy_summary(spec, inputs.measurements)
    lines += _gate_outcomes(inputs)
    return lines


def _validity(inputs: DatasheetInputs, attribute: str) -> list[str]:
    """Return the coverage of the declared categories and the divergence from the targets."""
    diversity = inputs.measurements["diversity_by_attribute"]
    rows = diversity.filter(pl.col("attribute") == attribute)
    if rows.height == 0:
        return []
    row = rows.row(0, named=True)
    lines = [
        "",
        f"*Declared categories present:* {row['richness']} of {row['count_declared']} "
        f"({md.percent(row['coverage_of_categories'], 0)}).",
        "",
    ]
    divergence = row.get("js_divergence_from_target")
    if divergence is None:
        lines.append(
            "*Divergence from the target shares:* not measured, because the spec does not "
            "set a target share for every category."
        )
    else:
        lines.append(
            f"*Jensen-Shannon divergence from the target shares:* {md.number(divergence)} bits "
            f"({_interval(row, 'js_divergence_from_target', md.number)}), where 0 means the "
            "shares equal the targets and 1 means they share no category."
        )
    return lines


def _bootstrap_note(spec: CollectionSpec) -> str:
    settings = spec.bootstrap
    return (
        f"The {_interval_header(spec)}s come from {settings.replicates} bootstrap "
        f"replicates that resample subjects (people), not records, with seed {settings.seed} "
        "(`measurement.bootstrap` in the spec)."
    )


def _interval_header(spec: CollectionSpec) -> str:
    return f"{spec.bootstrap.confidence * 100:g}% interval"


def _interval(row: dict, column: str, formatter) -> str:
    """Format the bootstrap bounds of `column` in `row`, or n/a when they are missing."""
    lower = row.get(f"{column}_lower")
    upper = row.get(f"{column}_upper")
    if lower is None or upper is None:
        return "n/a"
    return f"{formatter(lower)} to {formatter(upper)}"


def _size_flag(row: dict) -> str:
    if row["is_empty"]:
        return "empty"
    if row["is_small"]:
        return "small"
    return ""


def _intersections(inputs: DatasheetInputs) -> list[str]:
    cells = inputs.measurements["coverage_by_intersection"]
    lines = ["", "### Intersections", ""]
    if cells.height == 0:
        return [*lines, "The spec declares no intersections."]
    lines.append(
        "Every declared cell is in `measurements/coverage_by_intersection.parquet`; this table "
        "lists per intersection the smallest cell and the empty and small cells."
    )
    summary = []
    for (name,), group in cells.group_by("intersection", maintain_order=True):
        smallest = group.sort("count_members").row(0, named=True)
        flagged = group.filter(pl.col("is_empty") | pl.col("is_small")).sort("count_members")
        listed = ", ".join(
            f"{r['cell']} ({r['count_members']})" for r in flagged.iter_rows(named=True)
        )
        summary.append(
            (
                name,
                md.count(group.height),
                f"{smallest['cell']} ({md.count(smallest['count_members'])})",
                md.count(int(group["is_empty"].sum())),
                md.count(int(group["is_small"].sum())),
                listed or "none",
            )
        )
    lines += [
        "",
        md.table(
            ["intersection", "cells", "smallest cell", "empty", "small", "empty and small cells"],
            summary,
        ),
    ]
    return lines


def _diversity(inputs: DatasheetInputs) -> list[str]:
    diversity = inputs.measurements["diversity_by_attribute"]
    return [
        "",
        "### Diversity indices",
        "",
        "Computed over the known values of each attribute, with k the number of declared "
        "categories: richness (groups present), coverage (richness / k), Shannon entropy H "
        "(natural log), Pielou evenness H / ln k, inverse Simpson 1 / sum of squared shares, "
        "and the effective number of groups exp(H). The last four are followed by their "
        f"{_interval_header(inputs.spec)} in brackets. {_bootstrap_note(inputs.spec)} "
        "`measurements/diversity_by_attribute.parquet` holds the bounds of every index, and "
        "two indices not shown here: `simpson_index`, the sum of squared shares (the chance "
        "that two records drawn with replacement share a group), and "
        "`inverse_simpson_rescaled`, (inverse Simpson - 1) / (k - 1), from 0 for one group to 1 "
        "for k equal groups. A "
        "resample cannot hold more groups than the data, so the richness and coverage bounds "
        "only show how easily a rare group could be missed.",
        "",
        md.table(
            [
                "attribute",
                "records",
                "k",
                "richness",
                "coverage",
                "Shannon H",
                "evenness",
                "inverse Simpson",
                "effective groups",
            ],
            [
                (
                    r["attribute"],
                    md.count(r["count_known"]),
                    r["count_declared"],
                    r["richness"],
                    md.percent(r["coverage_of_categories"], 0),
                    _with_interval(r, "shannon_entropy"),
                    _with_interval(r, "evenness"),
                    _with_interval(r, "inverse_simpson"),
                    _with_interval(r, "effective_number_of_groups"),
                )
                for r in diversity.iter_rows(named=True)
            ],
        ),
    ]


def _with_interval(row: dict, column: str) -> str:
    return f"{md.number(row[column])} ({_interval(row, column, md.number)})"


def _missingness(inputs: DatasheetInputs) -> list[str]:
    missing = inputs.measurements["missingness"]
    return [
        "",
        "### Missing values",
        "",
        md.table(
            ["field", "role", "supplied by", "missing", "share missing"],
            [
                (
                    r["field"],
                    r["role"],
                    r["supplied_by"],
                    md.count(r["count_missing"]),
                    md.percent(r["share_missing"]),
                )
                for r in missing.iter_rows(named=True)
            ],
        ),
    ]


def _gate_outcomes(inputs: DatasheetInputs) -> list[str]:
    gates = inputs.gates
    outcome_word = {True: "passed", False: "failed"}
    return [
        "",
        "### Gate outcomes",
        "",
        f"Gate run `{gates.gate_run_id}`: **{gates.outcome}**. Blocking expectations stop a "
        "release when they fail; warnings are published here. The GX validation results are "
        "in `validation/`.",
        "",
        md.table(
            ["severity", "outcome", "expectation and observed values"],
            [(r.severity, outcome_word[r.is_success], r.summary) for r in gates.results],
        ),
    ]


def _collection_process(inputs: DatasheetInputs) -> list[str]:
    spec = inputs.spec
    lines = _answers(spec, "collection_process", 3)
    lines += ["### Who supplied each field", ""]
    lines.append(
        md.table(
            ["field", "role", "supplied by", "description"],
            [
                (
                    f.name,
                    f.role,
                    f"derived from `{f.derived_from}`" if f.derived_from else f.supplied_by,
                    f.description or "",
                )
                for f in spec.fields
            ],
        )
    )
    lines += consent_summary(spec, inputs.measurements)
    lines += crowdwork(spec, inputs.measurements)
    return lines


def _preprocessing(inputs: DatasheetInputs) -> list[str]:
    spec = inputs.spec
    lines = _answers(spec, "preprocessing", 4)
    lines += ["### What faircurate did", ""]
    tokens = "".join(f", `{v}`" for v in spec.missing_values)
    lines.append(f"- Trimmed every value; read empty values{tokens} as missing.")
    for f in spec.fields:
        if f.aliases:
            mapped = ", ".join(f"`{k}` to `{v}`" for k, v in f.aliases.items())
            lines.append(f"- `{f.name}`: mapped {mapped}.")
        if f.bins:
            labels = ", ".join(b.label for b in f.bins)
            lines.append(f"- `{f.name}`: binned `{f.derived_from}` into {labels}.")
        if f.groups:
            lines.append(
                f"- `{f.name}`: grouped the values of `{f.derived_from}` into "
                f"{', '.join(f.categories)}."
            )
        for value, reason in f.unassigned.items():
            lines.append(
                f"- `{f.name}`: left `{value}` without a group, so it counts as missing: {reason}"
            )
    lines.append(
        "- Quarantined every row that failed a check (malformed line, unknown category, value "
        "out of range, missing required value, duplicate id), with its reasons and raw text."
    )
    quarantine = inputs.measurements["quarantine_by_reason"]
    lines += ["", "### Quarantined rows by reason", ""]
    quarantined = int(inputs.batches["count_rows_quarantined"].sum())
    if quarantine.height == 0:
        lines.append("No row was quarantined.")
    else:
        lines.append(
            f"Rows quarantined in all: {md.count(quarantined)}. A row that failed several "
            "checks counts once under each of its reasons."
        )
        lines.append("")
        lines.append(
            md.table(
                ["source file", "reason", "rows with this reason"],
                [
                    (r["source_file"], r["reason_code"], md.count(r["count_rows"]))
                    for r in quarantine.iter_rows(named=True)
                ],
            )
        )
    lines += filter_impact(inputs.measurements, inputs.removals, spec.small_cell_size)
    lines += reliability_summary(inputs.measurements)
    return lines


def _uses(inputs: DatasheetInputs) -> list[str]:
    about = inputs.spec.about
    lines = _answers(inputs.spec, "uses", 5)
    for title, key in (("Allowed uses", "allowed_uses"), ("Uses to avoid", "prohibited_uses")):
        lines += [f"### {title}", ""]
        lines += [f"- {use}" for use in about[key]] or [NOT_PROVIDED]
        lines.append("")
    return lines


def _distribution(inputs: DatasheetInputs) -> list[str]:
    about = inputs.spec.about
    lines = _answers(inputs.spec, "distribution", 6)
    lines += [
        f"- Licence: {about['licence'] or NOT_PROVIDED}",
        f"- Citation: {about['citation'] or NOT_PROVIDED}",
        f"- Homepage: {about['homepage'] or NOT_PROVIDED}",
        "",
        "### Data files in this release",
        "",
        "Checksums and sizes of every file are in `manifest.json`.",
        "",
        md.table(
            ["file", "rows"], [(f"`{path}`", md.count(rows)) for path, rows in inputs.data_files]
        ),
    ]
    return lines


def _maintenance(inputs: DatasheetInputs) -> list[str]:
    lines = _answers(inputs.spec, "maintenance", 7)
    parent = inputs.parent_version or "none (first release)"
    lines.append(f"This release: {inputs.version}. Previous release: {parent}.")
    return lines
