"""Stability of indices across releases: the verdict, and where there is too little data."""

from __future__ import annotations

import polars as pl

from tasks.bootstrap import DIVERSITY_INDICES
from tasks.index_stability import compare_indices


def diversity_row(attribute: str, count_known: int, entropy: float, lower: float, upper: float):
    row = {"attribute": attribute, "count_known": count_known}
    for index in DIVERSITY_INDICES:
        row |= {index: None, f"{index}_lower": None, f"{index}_upper": None}
    return row | {
        "shannon_entropy": entropy,
        "shannon_entropy_lower": lower,
        "shannon_entropy_upper": upper,
    }


def write_parent(tmp_path, rows) -> None:
    (tmp_path / "measurements").mkdir()
    pl.DataFrame(rows).write_parquet(tmp_path / "measurements" / "diversity_by_attribute.parquet")


def entropy_verdicts(stability: pl.DataFrame) -> dict[str, bool | None]:
    rows = stability.filter(pl.col("index_name") == "shannon_entropy").iter_rows(named=True)
    return {r["attribute"]: r["is_parent_inside_interval"] for r in rows}


def test_verdict_needs_enough_values(tmp_path):
    write_parent(
        tmp_path,
        [diversity_row("sex", 100, 0.60, 0.5, 0.7), diversity_row("race", 4, 1.342, 0.3, 1.3)],
    )
    current = pl.DataFrame(
        [diversity_row("sex", 100, 0.66, 0.55, 0.70), diversity_row("race", 4, 1.321, 0.325, 1.321)]
    )

    verdicts = entropy_verdicts(compare_indices(current, tmp_path, "1.0.0", min_count=5))

    assert verdicts == {"sex": True, "race": None}


def test_verdict_outside_interval(tmp_path):
    write_parent(tmp_path, [diversity_row("sex", 100, 0.40, 0.3, 0.5)])
    current = pl.DataFrame([diversity_row("sex", 100, 0.66, 0.55, 0.70)])

    verdicts = entropy_verdicts(compare_indices(current, tmp_path, "1.0.0", min_count=5))

    assert verdicts == {"sex": False}
