"""Bootstrap intervals: the spec key, subject profiles, the resampling, the tables and the gate.

Expected widths come from the normal approximation of a proportion, sqrt(p (1 - p) / n), and
expected profiles are written out by hand.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pytest

from tasks.bootstrap import (
    Replicates,
    add_bootstrap_intervals,
    draw_replicates,
    percentile_interval,
    replicate_indices,
)
from tasks.errors import SpecError
from tasks.gates import evaluate_gates
from tasks.load import ingest_batch
from tasks.measure import (
    MEASUREMENT_TABLES,
    create_value_views,
    measure_collection,
    run_measurement,
    write_spec_tables,
)
from tasks.spec import load_spec
from tasks.spec_measurement import BootstrapSettings
from tasks.warehouse import connect, ensure_records_table
from tests.conftest import ADULT_SPEC, SMALL_SPEC

Z_95 = 1.959964


def with_bootstrap(settings: str) -> str:
    return SMALL_SPEC.replace(
        "  small_cell_size: 2\n", f"  small_cell_size: 2\n  bootstrap: {settings}\n"
    )


def fetch_rows(connection, query: str) -> list[dict]:
    relation = connection.sql(query)
    columns = relation.columns
    return [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]


# The spec key


def test_bootstrap_settings_load(make_collection):
    spec = load_spec(
        make_collection(spec=with_bootstrap("{replicates: 500, seed: 7, confidence: 0.9}"))
    )

    assert spec.bootstrap == BootstrapSettings(replicates=500, seed=7, confidence=0.9)


def test_bootstrap_defaults(make_collection):
    assert load_spec(make_collection()).bootstrap == BootstrapSettings()


@pytest.mark.parametrize(
    ("settings", "key", "problem"),
    [
        pytest.param("[200]", "measurement.bootstrap", "expected a mapping", id="not_a_mapping"),
        pytest.param(
            "{draws: 200}",
            "measurement.bootstrap.draws",
            "unknown key; expected one of: replicates, seed, confidence",
            id="unknown_key",
        ),
        pytest.param(
            "{replicates: 5}",
            "measurement.bootstrap.replicates",
            "got 5; expected from 20 to 100,000",
            id="too_few_replicates",
        ),
        pytest.param(
            "{replicates: many}",
            "measurement.bootstrap.replicates",
            "expected an integer, got 'many'",
            id="replicates_not_integer",
        ),
        pytest.param(
            "{seed: -1}",
            "measurement.bootstrap.seed",
            "got -1; expected an integer of 0 or more",
            id="negative_seed",
        ),
        pytest.param(
            "{confidence: 95}",
            "measurement.bootstrap.confidence",
            "got 95; expected a level from 0.5 to below 1",
            id="confidence_as_percent",
        ),
        pytest.param(
            "{confidence: high}",
            "measurement.bootstrap.confidence",
            "expected a number, got 'high'",
            id="confidence_not_number",
        ),
    ],
)
def test_invalid_bootstrap_raises(make_collection, settings, key, problem):
    with pytest.raises(SpecError, match=re.escape(f"key `{key}`: {problem}")):
        load_spec(make_collection(spec=with_bootstrap(settings)))


# Subject profiles

# (record_id, subject_id, sex, race, age, age_group, income). Subject s1 has three records,
# s3 two, one of them without a race.
SUBJECT_RECORDS = [
    ("r1", "s1", "Female", "A", 30, "18-39", "low"),
    ("r2", "s1", "Female", "A", 30, "18-39", "low"),
    ("r3", "s1", "Female", "A", 31, "18-39", "low"),
    ("r4", "s2", "Female", "B", 45, "40+", "high"),
    ("r5", "s3", "Male", "A", 50, "40+", "high"),
    ("r6", "s3", "Male", None, 50, "40+", "high"),
]


@pytest.fixture
def profiles(tmp_path, make_collection) -> dict[tuple[str, str], Counter]:
    """Build subject_profiles over SUBJECT_RECORDS with their subject ids."""
    spec = load_spec(make_collection())
    with connect(tmp_path / "w.duckdb") as connection:
        ensure_records_table(connection, spec)
        for line, (record_id, _, *values) in enumerate(SUBJECT_RECORDS, start=2):
            connection.execute(
                "insert into records values (?, ?, ?, ?, ?, ?, ?, ?)",
                [record_id, "batch-1", line, *values],
            )
        write_spec_tables(connection, spec)
        create_value_views(connection, spec)
        # A table without images has no subject ids, so the test supplies them.
        subjects = ", ".join(f"('{r[0]}', '{r[1]}')" for r in SUBJECT_RECORDS)
        connection.execute(
            "create or replace view record_keys as select record_id, 'batch-1' as batch_id, "
            "null as image_id, subject_id from (values "
            + subjects
            + ") as subjects(record_id, subject_id)"
        )
        run_measurement(connection, "subject_profiles", spec)
        rows = fetch_rows(connection, "select * from subject_profiles")
    result: dict[tuple[str, str], Counter] = {}
    for row in rows:
        profile = tuple((e["group_name"], e["count_records"]) for e in row["profile"])
        result.setdefault((row["measure_kind"], row["measure"]), Counter())[profile] = row[
            "count_subjects"
        ]
    return result


def test_profiles_group_records_by_subject(profiles):
    assert profiles[("attribute", "sex")] == {
        (("Female", 3),): 1,
        (("Female", 1),): 1,
        (("Male", 2),): 1,
    }


def test_profiles_skip_missing_values(profiles):
    assert profiles[("attribute", "race")] == {
        (("A", 3),): 1,
        (("B", 1),): 1,
        (("A", 1),): 1,
    }


def test_profiles_of_intersections(profiles):
    assert profiles[("intersection", "sex × race")] == {
        (("Female × A", 3),): 1,
        (("Female × B", 1),): 1,
        (("Male × A", 1),): 1,
    }


# Resampling


def test_subjects_resampled_whole():
    # One subject with 10 records in group a, ten subjects with 1 record in group b.
    profiles = [([{"group_name": "a", "count_records": 10}], 1)]
    profiles.append(([{"group_name": "b", "count_records": 1}], 10))
    replicates = draw_replicates(profiles, ("a", "b"), BootstrapSettings(replicates=500), "x")

    assert replicates.counts.shape == (500, 2)
    assert np.all(replicates.counts[:, 0] % 10 == 0)
    assert np.all(replicates.counts[:, 0] / 10 + replicates.counts[:, 1] == 11)


def test_seed_fixes_replicates():
    profiles = [([{"group_name": "a", "count_records": 1}], 40)]
    profiles.append(([{"group_name": "b", "count_records": 1}], 60))
    first = draw_replicates(profiles, ("a", "b"), BootstrapSettings(seed=1), "sex")
    again = draw_replicates(profiles, ("a", "b"), BootstrapSettings(seed=1), "sex")
    other = draw_replicates(profiles, ("a", "b"), BootstrapSettings(seed=2), "sex")

    assert np.array_equal(first.counts, again.counts)
    assert not np.array_equal(first.counts, other.counts)


def test_indices_of_one_replicate():
    # Shares 1/2, 1/4, 1/4 and 0 over k = 4 declared groups.
    replicates = Replicates(("a", "b", "c", "d"), np.array([[2.0, 1.0, 1.0, 0.0]]))
    indices = {name: values[0] for name, values in replicate_indices(replicates).items()}
    entropy = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    simpson = 0.25 + 2 * 0.0625

    assert indices["richness"] == 3
    assert indices["coverage_of_categories"] == pytest.approx(0.75)
    assert indices["shannon_entropy"] == pytest.approx(entropy)
    assert indices["evenness"] == pytest.approx(entropy / math.log(4))
    assert indices["simpson_index"] == pytest.approx(simpson)
    assert indices["inverse_simpson"] == pytest.approx(1 / simpson)
    assert indices["inverse_simpson_rescaled"] == pytest.approx((1 / simpson - 1) / 3)
    assert indices["effective_number_of_groups"] == pytest.approx(math.exp(entropy))


def test_percentile_interval_ignores_nan():
    values = np.array([[np.nan], [1.0], [2.0], [3.0], [4.0], [5.0]])
    lower, upper = percentile_interval(values, 0.5)

    assert lower[0] == pytest.approx(2.0)
    assert upper[0] == pytest.approx(4.0)


# The measurement tables, on the bundled Adult collection


@pytest.fixture(scope="module")
def adult_tables(tmp_path_factory) -> dict[str, list[dict]]:
    warehouse = tmp_path_factory.mktemp("adult") / "adult.duckdb"
    spec = load_spec(ADULT_SPEC)
    for path in spec.source.files:
        ingest_batch.fn(spec, path, warehouse)
    measure_collection.fn(spec, warehouse)
    with connect(warehouse) as connection:
        return {
            table: fetch_rows(connection, f"select * from {table}")
            for table in (
                "coverage_by_attribute",
                "coverage_by_intersection",
                "diversity_by_attribute",
            )
        }


def test_adult_share_interval_width(adult_tables):
    for row in adult_tables["coverage_by_attribute"]:
        share, count = row["share"], row["count_known"]
        normal_width = 2 * Z_95 * math.sqrt(share * (1 - share) / count)

        assert row["share_lower"] <= share <= row["share_upper"], row["category"]
        # The 25% tolerance covers the sampling noise of percentiles from 200 replicates.
        assert row["share_upper"] - row["share_lower"] == pytest.approx(normal_width, rel=0.25), (
            row["category"]
        )


def test_adult_intersection_intervals(adult_tables):
    rows = adult_tables["coverage_by_intersection"]

    assert rows
    for row in rows:
        assert row["share_lower"] <= row["share"] <= row["share_upper"], row["cell"]


def test_adult_diversity_intervals(adult_tables):
    rows = {row["attribute"]: row for row in adult_tables["diversity_by_attribute"]}

    assert set(rows) == {"sex", "race", "age_group", "region"}
    for attribute, row in rows.items():
        for index in (
            "shannon_entropy",
            "evenness",
            "inverse_simpson",
            "effective_number_of_groups",
        ):
            assert row[f"{index}_lower"] < row[index] < row[f"{index}_upper"], (attribute, index)
        assert row["richness_lower"] == row["richness_upper"] == row["richness"], attribute


def test_adult_sex_evenness_by_hand(adult_tables):
    row = next(r for r in adult_tables["diversity_by_attribute"] if r["attribute"] == "sex")
    # Evenness of two groups is the binary entropy over ln 2. Its delta-method standard error
    # is |ln(p / (1 - p))| * sqrt(p (1 - p) / n) / ln 2.
    p, n = 16_192 / 48_842, 48_842
    evenness = -(p * math.log(p) + (1 - p) * math.log(1 - p)) / math.log(2)
    error = abs(math.log(p / (1 - p))) * math.sqrt(p * (1 - p) / n) / math.log(2)

    assert row["evenness"] == pytest.approx(evenness)
    assert row["evenness_upper"] - row["evenness_lower"] == pytest.approx(
        2 * Z_95 * error, rel=0.25
    )


def test_bounds_null_without_records(tmp_path, make_collection):
    spec = load_spec(make_collection())
    with connect(tmp_path / "w.duckdb") as connection:
        ensure_records_table(connection, spec)
        write_spec_tables(connection, spec)
        create_value_views(connection, spec)
        for table in MEASUREMENT_TABLES:
            run_measurement(connection, table, spec)
        before = fetch_rows(connection, "select * from coverage_by_attribute")
        run_measurement(connection, "subject_profiles", spec)
        add_bootstrap_intervals(connection, spec)
        after = fetch_rows(connection, "select * from coverage_by_attribute")

    # No records: every share and bound is null, and no row is lost.
    assert len(after) == len(before) == 7
    assert all(row["share_lower"] is None for row in after)


# The gate on the lower bound


def lower_bound_suite(use_lower_bound: bool) -> dict:
    return {
        "name": "small_coverage",
        "meta": {
            "measurement_table": "coverage_by_attribute",
            "index_columns": ["attribute", "category"],
        },
        "expectations": [
            {
                "type": "expect_groups_to_have_min_share",
                "kwargs": {
                    "attribute": "sex",
                    "min_share": 0.4,
                    "use_lower_bound": use_lower_bound,
                },
                "severity": "warning",
            }
        ],
    }


@pytest.mark.parametrize(
    ("use_lower_bound", "is_success"),
    [pytest.param(False, True, id="point_share"), pytest.param(True, False, id="lower_bound")],
)
def test_min_share_on_lower_bound(make_collection, tmp_path, use_lower_bound, is_success):
    # 9 women and 11 men: both shares are at least 0.45, but with 20 people the lower bound
    # of the women's share lies near 0.45 - 1.96 * sqrt(0.45 * 0.55 / 20) = 0.23.
    rows = "person_id,sex,race,age,income\n" + "".join(
        f"p{i},{'Female' if i < 9 else 'Male'},A,{20 + i},low\n" for i in range(20)
    )
    spec_path = make_collection(rows=rows, suite=lower_bound_suite(use_lower_bound))
    spec = load_spec(spec_path)
    warehouse = tmp_path / "w.duckdb"
    for path in spec.source.files:
        ingest_batch.fn(spec, path, warehouse)
    measure_collection.fn(spec, warehouse)

    report = evaluate_gates.fn(spec, warehouse)

    assert report.results[0].is_success is is_success
    if not is_success:
        assert report.results[0].observed["failing_groups"]["Female"] < 0.4
