"""Datasheet part on associations between demographic attributes and labels or context."""

from __future__ import annotations

import polars as pl

from tasks import markdown as md

MAX_PAIRS_SHOWN = 15
MAX_CELLS_SHOWN = 15


def associations_summary(measurements: dict[str, pl.DataFrame]) -> list[str]:
    """Return the ranked association table, the strongest cells and the balancing weights."""
    pairs = measurements.get("associations")
    cells = measurements.get("association_cells")
    if pairs is None or cells is None or pairs.height == 0:
        return []
    ranked = (
        pairs.filter(pl.col("cramers_v_corrected").is_not_null())
        .sort(["cramers_v_corrected", "attribute", "field"], descending=[True, False, False])
        .with_row_index("rank")
    )
    # The strongest pairs, and every sensitive pair wherever it ranks.
    shown = ranked.filter(
        (pl.col("rank") < MAX_PAIRS_SHOWN) | pl.col("is_sensitive").fill_null(False)
    )
    lines = [
        "",
        "### Associations with labels and context",
        "",
        "How strongly each demographic attribute goes with each label or context field, over "
        "the records where both are known: bias-corrected Cramér's V (0 none, 1 complete) and "
        "mutual information normalised by the mean of the two entropies. A model trained on a "
        "strongly associated pair can learn the attribute as a shortcut.",
        "",
        f"Shown: the {min(MAX_PAIRS_SHOWN, ranked.height)} strongest of {ranked.height} measured "
        "pairs and every pair the spec marks sensitive; `measurements/associations.parquet` "
        "has them all.",
        "",
        md.table(
            ["attribute", "field", "records", "Cramér's V", "normalised MI", "sensitive"],
            [
                (
                    r["attribute"],
                    r["field"],
                    md.count(r["count_records"]),
                    md.number(r["cramers_v_corrected"]),
                    md.number(r["normalised_mutual_information"]),
                    "yes" if r.get("is_sensitive") else "",
                )
                for r in shown.iter_rows(named=True)
            ],
        ),
    ]
    strongest = (
        cells.filter(pl.col("count_cell") > 0).sort("association_rank").head(MAX_CELLS_SHOWN)
    )
    lines += [
        "",
        "The cells that carry the strongest associations: the share of a group with a value, "
        "the 95% Wilson interval of that share, the share in all records, and the lift (the "
        "ratio of the two). Cells are ranked by the lift that their interval still supports: "
        "the end of the interval nearest to no association, so a cell of a few records does not "
        "outrank a large one on a noisy estimate.",
        "",
        md.table(
            [
                "attribute",
                "group",
                "field",
                "value",
                "records",
                "share in group",
                "95% interval",
                "overall",
                "lift",
            ],
            [
                (
                    r["attribute"],
                    r["category"],
                    r["field"],
                    r["value"],
                    md.count(r["count_cell"]),
                    md.percent(r["share_in_category"]),
                    f"{md.percent(r['share_in_category_lower'])} to "
                    f"{md.percent(r['share_in_category_upper'])}",
                    md.percent(r["share_overall"]),
                    md.number(r["lift"], 2),
                )
                for r in strongest.iter_rows(named=True)
            ],
        ),
        "",
        "`data/balancing_weights.parquet` gives every (group, value) cell of each pair a weight "
        "of n / (non-empty cells × records in the cell), so that each cell carries equal total "
        "weight; a model builder can use it to weaken the associations above.",
    ]
    lines += bias_alignment_summary(measurements.get("bias_alignment_counts"))
    return lines


def bias_alignment_summary(counts: pl.DataFrame | None) -> list[str]:
    """Return the definition of bias-aligned and bias-conflicting records and their counts."""
    if counts is None:
        return []
    lines = [
        "",
        "### Bias-aligned and bias-conflicting records",
        "",
        "For each pair the spec marks sensitive (`measurement.sensitive_pairs`), a cell is "
        "bias-aligned when its lift is above 1 and the lower end of its 95% Wilson interval "
        "lies above the value's overall share, so the data supports the association. The "
        "group's records with an aligned value are bias-aligned; its records with any other "
        "known value are bias-conflicting: they contradict the association, and a model builder "
        "can give them more weight. `data/bias_alignment_members.parquet` lists every record "
        "of those groups once per pair, by `batch_id` and `record_id`, with its `alignment`.",
        "",
    ]
    if counts.height == 0:
        return [*lines, "No sensitive pair has a bias-aligned cell."]
    lines.append(
        md.table(
            ["attribute", "group", "field", "aligned value", "lift", "aligned", "conflicting"],
            [
                (
                    r["attribute"],
                    r["category"],
                    r["field"],
                    r["aligned_value"],
                    md.number(r["lift"], 2),
                    md.count(r["count_aligned"]),
                    f"{md.count(r['count_conflicting'])} ({md.percent(r['share_conflicting'])})",
                )
                for r in counts.iter_rows(named=True)
            ],
        )
    )
    return lines
