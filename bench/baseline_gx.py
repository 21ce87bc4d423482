"""The stock Great Expectations baseline: the same checks on the raw rows in one pandas frame.

It uses only expectations that ship with GX 1.x: values in a set, between bounds, not null,
unique, and distinct values that contain every declared group. Stock GX has no expectation for
a minimum count or share per group, so "every group is present" replaces the coverage
gates.
"""

from __future__ import annotations

import logging
from pathlib import Path

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig

from bench.baseline_duckdb import NAMED_PRONOUNS
from bench.composition import Composition


def read_rows(files: list[Path]) -> pd.DataFrame:
    """Read every appearance file into one frame, as pandas infers the column types."""
    return pd.concat([pd.read_csv(path) for path in files], ignore_index=True)


def build_suite(composition: Composition) -> gx.ExpectationSuite:
    """Return the stock expectations that mirror the pipeline's row checks and coverage gates.

    GX requires an active data context, so call this after `gx.get_context`.
    """
    regions = [r for group in composition.ancestry_groups.values() for r in group]
    spellings = [s for c in composition.countries for s in (c.name, *c.misspellings)]
    expectations = gx.expectations
    suite = gx.ExpectationSuite(name="stock_baseline")
    for column in ("record_id", "age", "pronoun"):
        suite.add_expectation(expectations.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(expectations.ExpectColumnValuesToBeUnique(column="record_id"))
    suite.add_expectation(
        expectations.ExpectColumnValuesToBeBetween(
            column="age", min_value=min(low for low, _ in composition.age_ranges), max_value=130
        )
    )
    value_sets = {
        "pronoun": list(composition.pronouns.values),
        "ancestry": regions,
        "natural_skin_color": list(composition.skin_colors.values),
        "location_country": spellings,
        "user_hour_captured": list(composition.hour_windows.values),
    }
    for column, values in value_sets.items():
        suite.add_expectation(
            expectations.ExpectColumnValuesToBeInSet(column=column, value_set=values)
        )
    for column, values in (
        ("pronoun", NAMED_PRONOUNS),
        ("natural_skin_color", list(composition.skin_colors.values)),
        ("ancestry", regions),
    ):
        suite.add_expectation(
            expectations.ExpectColumnDistinctValuesToContainSet(column=column, value_set=values)
        )
    return suite


def validate_rows(frame: pd.DataFrame, composition: Composition) -> tuple[int, int]:
    """Validate `frame` in an ephemeral GX context; return (expectations, successes)."""
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    suite = build_suite(composition)
    source = context.data_sources.add_pandas("raw_rows")
    asset = source.add_dataframe_asset("appearances")
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
        batch_parameters={"dataframe": frame}
    )
    result = batch.validate(suite, result_format="SUMMARY")
    successes = sum(1 for item in result.results if item.success)
    return len(result.results), successes
