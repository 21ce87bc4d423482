"""Datasheet parts that only a collection of photos of people has, and the filter impact that
every collection has: consent, removals, crowdwork, privacy and coverage per filter stage."""

from __future__ import annotations

import polars as pl

from tasks import markdown as md
from tasks.spec import CollectionSpec

STAGE_TITLES = {
    "read": "as read",
    "loaded": "after quarantine",
    "after_duplicates": "after duplicates",
    "released": "released",
}
REMOVAL_TITLES = {
    "superseded": "replaced by a later batch of the same file",
    "withdrawn": "the person withdrew consent",
    "withdrawn_co_subject": "another person in the same image withdrew consent",
    "exact_duplicate": "exact duplicate of another image",
}


CONSENT_REASONS = ("withdrawn", "withdrawn_co_subject")


def filter_impact(
    measurements: dict[str, pl.DataFrame], removals: pl.DataFrame, small_cell_size: int
) -> list[str]:
    """Return the removals by reason and the share of every group after each filter.

    When fewer people than the small-cell size left for consent reasons, the shares before
    and after are not shown: their difference would describe those few people.
    """
    lines = ["", "### Records removed before release", ""]
    if removals.height == 0:
        lines.append("No record was removed between ingest and release.")
    else:
        lines.append("Counts only: who was removed is never published.")
        lines += [
            "",
            md.table(
                ["reason", "records"],
                [
                    (REMOVAL_TITLES.get(r["reason"], r["reason"]), md.count(r["count_records"]))
                    for r in removals.iter_rows(named=True)
                ],
            ),
        ]
    stages = measurements["coverage_by_stage"]
    lines += ["", "### How each filter shifted the mix", ""]
    if stages.height == 0:
        return [*lines, "No demographic values to compare."]
    withdrawn = removals.filter(pl.col("reason").is_in(CONSENT_REASONS))["count_records"].sum()
    if 0 < withdrawn < small_cell_size:
        return [
            *lines,
            f"Not shown: fewer than {small_cell_size} records (the small-cell size) left for "
            "consent reasons, and the shift in shares would describe those people. The "
            "shares of this release are in the tables above.",
        ]
    lines.append(
        "Share of each group among known values after each step (quarantine, exact-duplicate "
        "images, withdrawals). The privacy and consent gates remove nothing: they block."
    )
    # A group absent from a stage has no row there: its share at that stage is zero.
    wide = (
        stages.pivot(
            on="stage", index=["attribute", "category"], values="share", aggregate_function="first"
        )
        .fill_null(0.0)
        .sort("attribute", "category")
    )
    columns = [s for s in STAGE_TITLES if s in wide.columns]
    lines += [
        "",
        md.table(
            ["attribute", "group", *(STAGE_TITLES[s] for s in columns)],
            [
                (r["attribute"], r["category"], *(md.percent(r[s]) for s in columns))
                for r in wide.iter_rows(named=True)
            ],
        ),
    ]
    return lines


def consent_summary(spec: CollectionSpec, measurements: dict[str, pl.DataFrame]) -> list[str]:
    """Return how consent was checked for the released people, in counts."""
    status = measurements.get("consent_status")
    if status is None or spec.policies.consent is None:
        return []
    policy = spec.policies.consent
    scopes = ", ".join(policy.required_scopes) or "none"
    ages = ", ".join(f"{c} {a}" for c, a in policy.age_of_majority.items()) or "none"
    count = status.height
    people = status["subject_id"].n_unique()
    return [
        "",
        "### Consent of the people in the released images",
        "",
        f"Every person in every released image, primary or secondary, must have a consent grant "
        f"covering the scopes ({scopes}), must not have withdrawn, and must have been an adult at "
        f"capture: the age of majority of their country of residence ({ages}; "
        f"{policy.default_age_of_majority} elsewhere).",
        "",
        f"{md.count(count)} appearances of {md.count(people)} people in the released images:",
        "",
        md.table(
            ["check", "appearances checked", "passing"],
            [
                (
                    "consent grant on record",
                    md.count(count),
                    md.count(int(status["has_consent"].sum())),
                ),
                (
                    "grant covers the scopes",
                    md.count(count),
                    md.count(int(status["covers_scopes"].sum())),
                ),
                (
                    "adult at capture",
                    md.count(count),
                    md.count(int(status["is_adult_at_capture"].sum())),
                ),
                (
                    "no withdrawal on record",
                    md.count(count),
                    md.count(int((~status["has_withdrawal_event"]).sum())),
                ),
            ],
        ),
    ]


def crowdwork(spec: CollectionSpec, measurements: dict[str, pl.DataFrame]) -> list[str]:
    """Return the crowdwork section: who annotated, how they were paid, what they disclosed."""
    pay = measurements.get("annotator_pay")
    summary = measurements.get("crowdwork_summary")
    if pay is None or summary is None:
        return []
    lines = ["", "### Crowdwork", ""]
    if pay.height == 0:
        return [*lines, "The collection records no annotators."]
    values = dict(summary.iter_rows())
    disclosed = values.get("share_disclosing_demographics")
    floor = spec.policies.process.min_pay_ratio
    annotators = int(values.get("annotators_annotator", 0))
    reviewers = int(values.get("annotators_qa", 0))
    lines.append(
        f"{md.count(annotators)} {'annotator' if annotators == 1 else 'annotators'} and "
        f"{md.count(reviewers)} {'QA reviewer' if reviewers == 1 else 'QA reviewers'}; "
        f"{md.percent(disclosed, 0)} disclosed their demographics, which was optional. "
        f"Pay is checked against the local minimum wage in the spec, with a floor of "
        f"{floor:g} times that wage."
    )
    per_role = (
        pay.group_by("role")
        .agg(
            pl.len().alias("people"),
            pl.col("pay_ratio").min().alias("lowest"),
            pl.col("pay_ratio").median().alias("median"),
            pl.col("is_paid_enough").sum().alias("at_floor"),
        )
        .sort("role")
    )
    lines += [
        "",
        md.table(
            ["role", "people", "at or above the floor", "lowest pay / minimum wage", "median"],
            [
                (
                    r["role"],
                    md.count(r["people"]),
                    md.count(r["at_floor"]),
                    md.number(r["lowest"], 2),
                    md.number(r["median"], 2),
                )
                for r in per_role.iter_rows(named=True)
            ],
        ),
    ]
    per_label = [
        (m.split(":", 1)[1], v) for m, v in values.items() if m.startswith("annotators_per_label:")
    ]
    if per_label:
        lines += [
            "",
            md.table(
                ["label", "distinct annotators"], [(a, md.count(int(v))) for a, v in per_label]
            ),
        ]
    return lines


def privacy_summary(spec: CollectionSpec, measurements: dict[str, pl.DataFrame]) -> list[str]:
    """Return what the privacy scan looked for and found, and how time and place were coarsened."""
    findings = measurements["privacy_findings"]
    lines = ["", "### Personal data in free text", ""]
    if findings.height == 0:
        lines.append("The spec names no free-text columns to scan (`privacy.text_columns`).")
    else:
        lines.append(
            md.table(
                ["column", "kind of personal data", "rows matching"],
                [
                    (r["field"], r["kind"], md.count(r["count_rows"]))
                    for r in findings.iter_rows(named=True)
                ],
            )
        )
    exif = measurements.get("image_metadata_findings")
    if exif is not None and exif.height == 1:
        row = exif.row(0, named=True)
        lines += [
            "",
            f"Of the {md.count(row['count_images'])} released images, "
            f"{md.count(row['count_with_gps'])} carried GPS coordinates and "
            f"{md.count(row['count_with_identifying_tags'])} carried other identifying EXIF tags "
            "(such as serial numbers or the owner's name) in their source files; the released "
            "copies have both removed and keep the camera fields. Capture dates are kept as "
            "month and year only, and locations as country and region.",
        ]
    return lines
