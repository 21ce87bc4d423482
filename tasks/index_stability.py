"""Stability of the diversity indices across releases: each index of this release beside the
same index in the parent release."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tasks import markdown as md
from tasks.bootstrap import DIVERSITY_INDICES

# The indices the datasheet lists. The table contains every index of DIVERSITY_INDICES.
SHOWN_INDICES = ("shannon_entropy", "evenness", "inverse_simpson", "js_divergence_from_target")

STABILITY_SCHEMA = {
    "attribute": pl.String,
    "index_name": pl.String,
    "value": pl.Float64,
    "value_lower": pl.Float64,
    "value_upper": pl.Float64,
    "parent_version": pl.String,
    "parent_value": pl.Float64,
    "change": pl.Float64,
    "is_parent_inside_interval": pl.Boolean,
}


def compare_indices(
    current: pl.DataFrame,
    parent_folder: Path | None,
    parent_version: str | None,
    min_count: int,
) -> pl.DataFrame:
    """Return one row per attribute and index with its value now and in the parent release.

    `is_parent_inside_interval` is true when the parent's value lies inside this release's
    bootstrap interval, so the change is within the sampling uncertainty. It is null where
    fewer than `min_count` values of the attribute are known: resampling so few records gives
    an interval that often ends at the value itself, so it cannot tell change from noise.
    Parent columns are null for a first release, for an attribute the parent did not measure,
    and for an index the parent's table lacks.
    """
    parent_rows: dict[str, dict] = {}
    parent_file = (
        parent_folder / "measurements" / "diversity_by_attribute.parquet"
        if parent_folder is not None
        else None
    )
    if parent_file is not None and parent_file.is_file():
        parent_rows = {row["attribute"]: row for row in pl.read_parquet(parent_file).to_dicts()}
    rows = []
    for row in current.iter_rows(named=True):
        parent = parent_rows.get(row["attribute"], {})
        for index in DIVERSITY_INDICES:
            value = _number(row.get(index))
            lower = _number(row.get(f"{index}_lower"))
            upper = _number(row.get(f"{index}_upper"))
            parent_value = _number(parent.get(index))
            is_inside = None
            if None not in (parent_value, lower, upper) and row["count_known"] >= min_count:
                is_inside = lower <= parent_value <= upper
            rows.append(
                {
                    "attribute": row["attribute"],
                    "index_name": index,
                    "value": value,
                    "value_lower": lower,
                    "value_upper": upper,
                    "parent_version": parent_version if parent_rows else None,
                    "parent_value": parent_value,
                    "change": None if None in (value, parent_value) else value - parent_value,
                    "is_parent_inside_interval": is_inside,
                }
            )
    return pl.DataFrame(rows, schema=STABILITY_SCHEMA)


def _number(value: object) -> float | None:
    return None if value is None else float(value)


def stability_summary(stability: pl.DataFrame | None) -> list[str]:
    """Return the datasheet lines comparing the main indices with the parent release."""
    if stability is None:
        return []
    lines = ["", "### Stability since the previous release", ""]
    compared = stability.filter(
        pl.col("parent_value").is_not_null() & pl.col("index_name").is_in(SHOWN_INDICES)
    )
    if compared.height == 0:
        return [*lines, "There is no earlier release to compare with."]
    version = compared["parent_version"][0]
    lines += [
        f"Each index of this release beside its value in release {version}. A change is within "
        "the sampling uncertainty when the earlier value lies inside this release's bootstrap "
        "interval. The verdict is n/a for an attribute with fewer known values than the "
        "small-cell size, whose interval is too coarse to judge. Every index is in "
        "`measurements/index_stability.parquet`.",
        "",
        md.table(
            ["attribute", "index", "now", f"in {version}", "change", "within the interval"],
            [
                (
                    r["attribute"],
                    r["index_name"],
                    md.number(r["value"]),
                    md.number(r["parent_value"]),
                    md.number(r["change"]),
                    _yes_no(r["is_parent_inside_interval"]),
                )
                for r in compared.iter_rows(named=True)
            ],
        ),
    ]
    return lines


def _yes_no(value: bool | None) -> str:
    if value is None:
        return "n/a"
    return "yes" if value else "no"
