"""Datasheet part on the reliability of labels: self-reports against annotators, and
annotators against each other."""

from __future__ import annotations

import polars as pl

from tasks import markdown as md


def reliability_summary(measurements: dict[str, pl.DataFrame]) -> list[str]:
    """Return Cohen's kappa per self-reported field and Krippendorff's alpha per attribute."""
    self_report = measurements.get("self_report_agreement")
    annotators = measurements.get("annotator_agreement")
    if self_report is None or annotators is None:
        return []
    lines = [
        "",
        "### Reliability of labels",
        "",
        "Where annotators labelled a field that people also reported about themselves, Cohen's "
        "kappa compares the two on the same person in the same image (1 full agreement, 0 no "
        "better than chance).",
        "",
    ]
    if self_report.height == 0:
        lines.append("No self-reported field was also labelled by annotators.")
    else:
        lines.append(
            md.table(
                ["field", "pairs", "agreement", "chance agreement", "Cohen's kappa"],
                [
                    (
                        r["attribute"],
                        md.count(r["count_pairs"]),
                        md.percent(r["observed_agreement"]),
                        md.percent(r["expected_agreement"]),
                        md.number(r["cohens_kappa"]),
                    )
                    for r in self_report.iter_rows(named=True)
                ],
            )
        )
    lines += [
        "",
        "Where two or more annotators labelled the same person in the same image on a field "
        "with declared categories, Krippendorff's alpha (nominal) measures how far they agree "
        "(1 full agreement, 0 no better than chance).",
        "",
    ]
    if annotators.height == 0:
        lines.append("No person was labelled by two or more annotators on such a field.")
    else:
        lines.append(
            md.table(
                ["field", "people labelled", "labels", "Krippendorff's alpha"],
                [
                    (
                        r["attribute"],
                        md.count(r["count_units"]),
                        md.count(r["count_labels"]),
                        md.number(r["krippendorffs_alpha"]),
                    )
                    for r in annotators.iter_rows(named=True)
                ],
            )
        )
    return lines
