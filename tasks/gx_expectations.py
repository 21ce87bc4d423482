"""Custom Great Expectations classes for coverage gates, on faircurate's measurement tables.

Defining a class registers it with GX under its snake-case name, so suite files can use
`expect_groups_to_have_min_count` and the others once this module is imported. Each reports
the failing groups with their observed values, so a gate message can name them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import BatchExpectation
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.table_metric_provider import TableMetricProvider


def _group_rows(execution_engine, domain_kwargs, key_column, key, group_column) -> dict:
    frame, _, _ = execution_engine.get_compute_domain(
        domain_kwargs=domain_kwargs, domain_type=MetricDomainTypes.TABLE
    )
    rows = frame[frame[key_column] == key]
    return {
        str(row[group_column]): {
            "count": int(row["count_members"]),
            "share": _number(row["share"]),
            "share_lower": _number(row.get("share_lower")),
        }
        for _, row in rows.iterrows()
    }


def _number(value: Any) -> float | None:
    """Return `value` as a float, or None for a missing value or NaN."""
    if value is None or value != value:
        return None
    return float(value)


class AttributeGroups(TableMetricProvider):
    """Count and share of every category of one attribute, from `coverage_by_attribute`."""

    metric_name = "faircurate.attribute_groups"
    value_keys = ("attribute",)

    @metric_value(engine=PandasExecutionEngine)
    def _pandas(
        cls,
        execution_engine,
        metric_domain_kwargs,
        metric_value_kwargs,
        metrics,
        runtime_configuration,
    ):  # noqa: E501
        return _group_rows(
            execution_engine,
            metric_domain_kwargs,
            "attribute",
            metric_value_kwargs["attribute"],
            "category",
        )


class IntersectionCells(TableMetricProvider):
    """Count and share of every cell of one intersection, from `coverage_by_intersection`."""

    metric_name = "faircurate.intersection_cells"
    value_keys = ("intersection",)

    @metric_value(engine=PandasExecutionEngine)
    def _pandas(
        cls,
        execution_engine,
        metric_domain_kwargs,
        metric_value_kwargs,
        metrics,
        runtime_configuration,
    ):  # noqa: E501
        return _group_rows(
            execution_engine,
            metric_domain_kwargs,
            "intersection",
            metric_value_kwargs["intersection"],
            "cell",
        )


def _groups_result(groups: dict, failing: dict, what: str) -> dict[str, Any]:
    return {
        "success": bool(groups) and not failing,
        "result": {
            "observed_value": {
                "groups_checked": len(groups),
                "failing_groups": failing,
                "note": None if groups else f"no rows for this {what} in the table",
            }
        },
    }


class ExpectGroupsToHaveMinCount(BatchExpectation):
    """Every declared category of `attribute` has at least `min_count` records."""

    attribute: str
    min_count: int

    metric_dependencies: ClassVar[tuple[str, ...]] = ("faircurate.attribute_groups",)
    success_keys: ClassVar[tuple[str, ...]] = ("attribute", "min_count")
    domain_keys: ClassVar[tuple[str, ...]] = ()

    def _validate(self, metrics, runtime_configuration=None, execution_engine=None):
        groups = metrics["faircurate.attribute_groups"]
        failing = {g: v["count"] for g, v in groups.items() if v["count"] < self.min_count}
        return _groups_result(groups, failing, "attribute")


class ExpectGroupsToHaveMinShare(BatchExpectation):
    """Every declared category of `attribute` has at least `min_share` of the known values.

    With `use_lower_bound`, the lower end of the share's bootstrap interval (`share_lower`) is
    tested instead, so a group passes only when the data rule out a share below the floor.
    """

    attribute: str
    min_share: float
    use_lower_bound: bool = False

    metric_dependencies: ClassVar[tuple[str, ...]] = ("faircurate.attribute_groups",)
    success_keys: ClassVar[tuple[str, ...]] = ("attribute", "min_share", "use_lower_bound")
    domain_keys: ClassVar[tuple[str, ...]] = ()

    def _validate(self, metrics, runtime_configuration=None, execution_engine=None):
        groups = metrics["faircurate.attribute_groups"]
        tested = "share_lower" if self.use_lower_bound else "share"
        failing = {
            g: v[tested]
            for g, v in groups.items()
            if v[tested] is None or v[tested] < self.min_share
        }
        return _groups_result(groups, failing, "attribute")


class ExpectIntersectionCellsToHaveMinCount(BatchExpectation):
    """Every declared cell of `intersection` has at least `min_count` records."""

    intersection: str
    min_count: int

    metric_dependencies: ClassVar[tuple[str, ...]] = ("faircurate.intersection_cells",)
    success_keys: ClassVar[tuple[str, ...]] = ("intersection", "min_count")
    domain_keys: ClassVar[tuple[str, ...]] = ()

    def _validate(self, metrics, runtime_configuration=None, execution_engine=None):
        cells = metrics["faircurate.intersection_cells"]
        failing = {c: v["count"] for c, v in cells.items() if v["count"] < self.min_count}
        return _groups_result(cells, failing, "intersection")


class SensitiveAssociations(TableMetricProvider):
    """Cramér's V of every pair marked sensitive, from `associations`, keyed `attribute × field`."""

    metric_name = "faircurate.sensitive_associations"

    @metric_value(engine=PandasExecutionEngine)
    def _pandas(
        cls,
        execution_engine,
        metric_domain_kwargs,
        metric_value_kwargs,
        metrics,
        runtime_configuration,
    ):  # noqa: E501
        frame, _, _ = execution_engine.get_compute_domain(
            domain_kwargs=metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE
        )
        rows = frame[frame["is_sensitive"].astype(bool)]
        return {
            f"{row['attribute']} × {row['field']}": (
                None
                if row["cramers_v_corrected"] != row["cramers_v_corrected"]
                else float(row["cramers_v_corrected"])
            )
            for _, row in rows.iterrows()
        }


class ExpectSensitiveAssociationsToHaveMaxCramersV(BatchExpectation):
    """Every pair the spec marks sensitive has a bias-corrected Cramér's V of at most
    `max_cramers_v`. A pair whose V is undefined (one category or value) passes."""

    max_cramers_v: float

    metric_dependencies: ClassVar[tuple[str, ...]] = ("faircurate.sensitive_associations",)
    success_keys: ClassVar[tuple[str, ...]] = ("max_cramers_v",)
    domain_keys: ClassVar[tuple[str, ...]] = ()

    def _validate(self, metrics, runtime_configuration=None, execution_engine=None):
        pairs = metrics["faircurate.sensitive_associations"]
        failing = {
            pair: value
            for pair, value in pairs.items()
            if value is not None and value > self.max_cramers_v
        }
        result = _groups_result(pairs, failing, "check")
        if not pairs:
            result["result"]["observed_value"]["note"] = (
                "no pair is marked sensitive; list pairs under measurement.sensitive_pairs in "
                "the collection spec"
            )
        return result
