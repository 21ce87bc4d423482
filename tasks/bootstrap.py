"""Bootstrap confidence intervals for coverage shares and diversity indices.

Subjects are resampled, not records: a person with several photos is drawn with all of them.
Subjects with the same profile (records per group) are interchangeable, so drawing n subjects
with replacement is a multinomial draw of n over the profiles with their subject counts as
weights. Each replicate's group counts are then that draw times the profile matrix, so one
matrix product per attribute gives every replicate. For Adult every profile is one record in
one group, and the draw reduces to a multinomial over the group counts.
"""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from tasks.spec import CollectionSpec
from tasks.spec_measurement import BootstrapSettings

DIVERSITY_INDICES = (
    "richness",
    "coverage_of_categories",
    "shannon_entropy",
    "evenness",
    "simpson_index",
    "inverse_simpson",
    "inverse_simpson_rescaled",
    "effective_number_of_groups",
    "js_divergence_from_target",
)


@dataclass(frozen=True)
class Replicates:
    """Group counts of every bootstrap replicate of one attribute or intersection."""

    groups: tuple[str, ...]
    counts: np.ndarray  # replicates × groups


def draw_replicates(
    profiles: list[tuple[list[dict], int]],
    groups: tuple[str, ...],
    settings: BootstrapSettings,
    name: str,
) -> Replicates:
    """Draw the group counts of `settings.replicates` resamples of the subjects.

    `profiles` pairs each profile (a list of {group_name, count_records}) with its subject
    count. The generator is seeded with the spec's seed and a checksum of `name`, so one
    attribute's intervals do not change when another attribute is added.
    """
    position = {group: i for i, group in enumerate(groups)}
    matrix = np.zeros((len(profiles), len(groups)))
    for row, (profile, _) in enumerate(profiles):
        for entry in profile:
            matrix[row, position[entry["group_name"]]] += entry["count_records"]
    subjects = np.array([count for _, count in profiles], dtype=np.int64)
    total = int(subjects.sum())
    rng = np.random.default_rng([settings.seed, zlib.crc32(name.encode())])
    if total == 0:
        return Replicates(groups, np.zeros((settings.replicates, len(groups))))
    draws = rng.multinomial(total, subjects / total, size=settings.replicates)
    return Replicates(groups, draws @ matrix)


def replicate_shares(replicates: Replicates) -> np.ndarray:
    """Return each replicate's group shares of the known values, NaN where none is known."""
    known = replicates.counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(known > 0, replicates.counts / known, np.nan)


def replicate_indices(
    replicates: Replicates, targets: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Return each diversity index per replicate, defined as in diversity_by_attribute.sql.

    `targets` are the target shares of the groups, or None when a group has no target, which
    leaves the Jensen-Shannon divergence NaN.
    """
    shares = replicate_shares(replicates)
    declared = len(replicates.groups)
    richness = (replicates.counts > 0).sum(axis=1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        logs = np.where(shares > 0, np.log(np.where(shares > 0, shares, 1.0)), 0.0)
        entropy = -(shares * logs).sum(axis=1)
        simpson = (shares * shares).sum(axis=1)
        inverse = np.where(simpson > 0, 1 / simpson, np.nan)
        nothing = np.full(richness.shape, np.nan)
        return {
            "richness": richness,
            "coverage_of_categories": richness / declared,
            "shannon_entropy": entropy,
            "evenness": entropy / np.log(declared) if declared > 1 else nothing,
            "simpson_index": simpson,
            "inverse_simpson": inverse,
            "inverse_simpson_rescaled": (inverse - 1) / (declared - 1) if declared > 1 else nothing,
            "effective_number_of_groups": np.exp(entropy),
            "js_divergence_from_target": _js_divergence(shares, targets)
            if targets is not None
            else nothing,
        }


def _js_divergence(shares: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Return the Jensen-Shannon divergence in bits of each row of `shares` from `targets`."""
    reference = np.broadcast_to(targets / targets.sum(), shares.shape)
    middle = (shares + reference) / 2

    def half_kl(first: np.ndarray) -> np.ndarray:
        ratio = np.where(first > 0, first / np.where(middle > 0, middle, 1.0), 1.0)
        return (first / 2 * np.log2(ratio)).sum(axis=1)

    return half_kl(shares) + half_kl(reference)


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the lower and upper percentile bounds along the first axis, ignoring NaN."""
    tail = (1 - confidence) / 2
    # A group of an attribute with no known value is NaN in every replicate, so its bounds
    # are NaN too. numpy warns about that slice, which is expected here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lower = np.nanquantile(values, tail, axis=0)
        upper = np.nanquantile(values, 1 - tail, axis=0)
    return lower, upper


def add_bootstrap_intervals(connection: duckdb.DuckDBPyConnection, spec: CollectionSpec) -> None:
    """Add lower and upper bootstrap bounds to the coverage and diversity tables.

    Reads `subject_profiles` and the built coverage_by_attribute, coverage_by_intersection and
    diversity_by_attribute tables, and replaces each with the same rows plus `<column>_lower`
    and `<column>_upper` for every share and index.
    """
    settings = spec.bootstrap
    profiles = _profiles_by_measure(connection)
    share_rows: list[dict] = []
    index_rows: list[dict] = []
    for kind, table, key in (
        ("attribute", "coverage_by_attribute", "category"),
        ("intersection", "coverage_by_intersection", "cell"),
    ):
        name_column = "attribute" if kind == "attribute" else "intersection"
        target = "target_share" if kind == "attribute" else "null"
        declared = connection.execute(
            f"select {name_column}, {key}, {target} from {table} order by {name_column}, position"
        ).fetchall()
        groups_by_measure: dict[str, list[str]] = {}
        targets_by_measure: dict[str, list[float | None]] = {}
        for measure, group, target_share in declared:
            groups_by_measure.setdefault(measure, []).append(group)
            targets_by_measure.setdefault(measure, []).append(target_share)
        for measure, groups in groups_by_measure.items():
            replicates = draw_replicates(
                profiles.get((kind, measure), []), tuple(groups), settings, f"{kind}:{measure}"
            )
            lower, upper = percentile_interval(replicate_shares(replicates), settings.confidence)
            share_rows += [
                {
                    "measure_kind": kind,
                    "measure": measure,
                    "group_name": group,
                    "share_lower": _finite(lower[i]),
                    "share_upper": _finite(upper[i]),
                }
                for i, group in enumerate(groups)
            ]
            if kind == "attribute":
                targets = targets_by_measure[measure]
                complete = None not in targets and sum(targets) > 0
                index_rows.append(
                    _index_bounds(
                        measure,
                        replicates,
                        settings.confidence,
                        np.array(targets, dtype=float) if complete else None,
                    )
                )

    shares = pl.DataFrame(
        share_rows,
        schema={
            "measure_kind": pl.String,
            "measure": pl.String,
            "group_name": pl.String,
            "share_lower": pl.Float64,
            "share_upper": pl.Float64,
        },
    )
    index_schema = {"attribute": pl.String} | {
        f"{index}_{bound}": pl.Float64
        for index in DIVERSITY_INDICES
        for bound in ("lower", "upper")
    }
    indices = pl.DataFrame(index_rows, schema=index_schema)
    _join_bounds(connection, shares, indices)


def _profiles_by_measure(
    connection: duckdb.DuckDBPyConnection,
) -> dict[tuple[str, str], list[tuple[list[dict], int]]]:
    rows = connection.execute(
        "select measure_kind, measure, profile, count_subjects from subject_profiles "
        "order by measure_kind, measure, count_subjects desc, cast(profile as varchar)"
    ).fetchall()
    profiles: dict[tuple[str, str], list[tuple[list[dict], int]]] = {}
    for kind, measure, profile, count in rows:
        profiles.setdefault((kind, measure), []).append((profile, count))
    return profiles


def _index_bounds(
    attribute: str, replicates: Replicates, confidence: float, targets: np.ndarray | None
) -> dict:
    row: dict = {"attribute": attribute}
    for index, values in replicate_indices(replicates, targets).items():
        lower, upper = percentile_interval(values, confidence)
        row[f"{index}_lower"] = _finite(lower)
        row[f"{index}_upper"] = _finite(upper)
    return row


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _join_bounds(
    connection: duckdb.DuckDBPyConnection, shares: pl.DataFrame, indices: pl.DataFrame
) -> None:
    """Replace the three measurement tables with their rows joined to the bounds."""
    bounds = ", ".join(
        f"diversity_bounds.{index}_{bound}"
        for index in DIVERSITY_INDICES
        for bound in ("lower", "upper")
    )
    connection.register("share_bounds", shares)
    connection.register("diversity_bounds", indices)
    try:
        for table, name_column, key in (
            ("coverage_by_attribute", "attribute", "category"),
            ("coverage_by_intersection", "intersection", "cell"),
        ):
            kind = "attribute" if table == "coverage_by_attribute" else "intersection"
            connection.execute(
                f"""
                create or replace table {table} as
                select {table}.*, share_bounds.share_lower, share_bounds.share_upper
                from {table}
                left join share_bounds
                    on share_bounds.measure_kind = '{kind}'
                    and {table}.{name_column} = share_bounds.measure
                    and {table}.{key} = share_bounds.group_name
                order by {table}.{name_column}, {table}.position
                """
            )
        connection.execute(
            f"""
            create or replace table diversity_by_attribute as
            select diversity_by_attribute.*, {bounds}
            from diversity_by_attribute
            left join diversity_bounds using (attribute)
            order by attribute
            """
        )
    finally:
        connection.unregister("share_bounds")
        connection.unregister("diversity_bounds")
