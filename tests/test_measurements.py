"""Check every measurement table against figures worked out by hand on small record tables.

The tests build a warehouse without Prefect: they insert records straight into `records`,
then run the SQL files in MEASUREMENT_TABLES order, as measure_collection does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import pytest

from tasks.measure import (
    MEASUREMENT_TABLES,
    create_value_views,
    run_measurement,
    write_spec_tables,
)
from tasks.spec import load_spec
from tasks.warehouse import connect, ensure_records_table
from tests.conftest import SMALL_SPEC

# Each record is (record_id, sex, race, age, age_group, income), the spec fields in spec order.
# Counts: sex Female 4, Male 2, with all 6 known. Race A 4, B 1, C 0, with 5 known because r6
# is missing. Age group 18-39 0, 40+ 5, with 5 known because r3 is missing. Income is missing
# for r3 and r5.
RECORDS = [
    ("r1", "Female", "A", 45, "40+", "low"),
    ("r2", "Female", "A", 52, "40+", "high"),
    ("r3", "Female", "B", None, None, None),
    ("r4", "Male", "A", 41, "40+", "high"),
    ("r5", "Male", "A", 70, "40+", None),
    ("r6", "Female", None, 48, "40+", "low"),
]

QUARANTINED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def build_measurements(
    warehouse: Path,
    spec_path: Path,
    records: list[tuple],
    quarantine_rows: Sequence[tuple] = (),
) -> dict[str, list[dict]]:
    """Load `records` into a new warehouse, build every measurement table and return its rows.

    `quarantine_rows` are (source_file, source_line, reason_codes) tuples.
    """
    spec = load_spec(spec_path)
    with connect(warehouse) as connection:
        ensure_records_table(connection, spec)
        placeholders = ", ".join("?" for _ in range(3 + len(spec.fields)))
        for source_line, (record_id, *values) in enumerate(records, start=2):
            connection.execute(
                f"insert into records values ({placeholders})",
                [record_id, "batch-1", source_line, *values],
            )
        for source_file, source_line, reason_codes in quarantine_rows:
            connection.execute(
                "insert into quarantine values (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    "batch-1",
                    source_file,
                    source_line,
                    reason_codes,
                    [f"failed {code}" for code in reason_codes],
                    "raw line",
                    None,
                    QUARANTINED_AT,
                ],
            )

        write_spec_tables(connection, spec)
        create_value_views(connection, spec)
        measurements = {}
        for table in MEASUREMENT_TABLES:
            run_measurement(connection, table, spec)
            relation = connection.sql(f"select * from {table}")
            columns = relation.columns
            rows = relation.fetchall()
            measurements[table] = [dict(zip(columns, row, strict=True)) for row in rows]
    return measurements


def index_rows(rows: list[dict], *keys: str) -> dict[tuple, dict]:
    """Return the rows keyed by the tuple of their `keys` columns."""
    return {tuple(row[key] for key in keys): row for row in rows}


@pytest.fixture
def spec_path(make_collection) -> Path:
    return make_collection()


@pytest.fixture
def measurements(tmp_path, spec_path) -> dict[str, list[dict]]:
    return build_measurements(tmp_path / "w.duckdb", spec_path, RECORDS)


# coverage_by_attribute


def test_coverage_lists_declared_categories(measurements):
    keys = [(r["attribute"], r["category"]) for r in measurements["coverage_by_attribute"]]

    assert keys == [
        ("age_group", "18-39"),
        ("age_group", "40+"),
        ("race", "A"),
        ("race", "B"),
        ("race", "C"),
        ("sex", "Female"),
        ("sex", "Male"),
    ]


@pytest.mark.parametrize(
    ("attribute", "category", "count_members", "share", "is_empty", "is_small"),
    [
        pytest.param("sex", "Female", 4, 4 / 6, False, False, id="sex_majority"),
        # Two members is not below small_cell_size 2, so Male is not small.
        pytest.param("sex", "Male", 2, 2 / 6, False, False, id="sex_at_small_cell_size"),
        # Missing race (r6) is left out of the denominator: 4 of 5 known, not 4 of 6.
        pytest.param("race", "A", 4, 4 / 5, False, False, id="race_share_of_known"),
        pytest.param("race", "B", 1, 1 / 5, False, True, id="race_small_category"),
        pytest.param("race", "C", 0, 0.0, True, False, id="race_empty_category"),
        pytest.param("age_group", "18-39", 0, 0.0, True, False, id="age_group_empty_bin"),
        pytest.param("age_group", "40+", 5, 1.0, False, False, id="age_group_only_bin"),
    ],
)
def test_coverage_category_figures(
    measurements, attribute, category, count_members, share, is_empty, is_small
):
    row = index_rows(measurements["coverage_by_attribute"], "attribute", "category")[
        (attribute, category)
    ]

    assert row["count_members"] == count_members
    assert row["share"] == pytest.approx(share)
    assert row["is_empty"] is is_empty
    assert row["is_small"] is is_small


@pytest.mark.parametrize(
    ("attribute", "count_known", "count_records"),
    [
        pytest.param("sex", 6, 6, id="sex_all_known"),
        pytest.param("race", 5, 6, id="race_one_missing"),
        pytest.param("age_group", 5, 6, id="age_group_one_missing"),
    ],
)
def test_coverage_known_and_records(measurements, attribute, count_known, count_records):
    rows = [r for r in measurements["coverage_by_attribute"] if r["attribute"] == attribute]

    assert [r["count_known"] for r in rows] == [count_known] * len(rows)
    assert [r["count_records"] for r in rows] == [count_records] * len(rows)


def test_coverage_without_targets_has_no_gap(measurements):
    rows = measurements["coverage_by_attribute"]

    assert [r["target_share"] for r in rows] == [None] * len(rows)
    assert [r["gap"] for r in rows] == [None] * len(rows)


def test_coverage_gap_to_target_share(tmp_path, make_collection):
    spec_text = SMALL_SPEC.replace(
        "    categories: [A, B, C]\n",
        "    categories: [A, B, C]\n    target_shares: {A: 0.5, B: 0.3}\n",
    )
    measurements = build_measurements(
        tmp_path / "w.duckdb", make_collection(spec=spec_text), RECORDS
    )
    coverage = index_rows(measurements["coverage_by_attribute"], "attribute", "category")

    assert coverage[("race", "A")]["target_share"] == pytest.approx(0.5)
    assert coverage[("race", "B")]["target_share"] == pytest.approx(0.3)
    # gap = share - target share: A 0.8 - 0.5, B 0.2 - 0.3.
    assert coverage[("race", "A")]["gap"] == pytest.approx(0.3)
    assert coverage[("race", "B")]["gap"] == pytest.approx(-0.1)
    assert coverage[("race", "C")]["target_share"] is None
    assert coverage[("race", "C")]["gap"] is None
    assert coverage[("sex", "Female")]["gap"] is None


# coverage_by_intersection


def test_intersection_lists_declared_cells(measurements):
    rows = measurements["coverage_by_intersection"]

    assert [(r["intersection"], r["cell"]) for r in rows] == [
        ("sex × race", "Female × A"),
        ("sex × race", "Female × B"),
        ("sex × race", "Female × C"),
        ("sex × race", "Male × A"),
        ("sex × race", "Male × B"),
        ("sex × race", "Male × C"),
    ]


# r6 (Female, race missing) is incomplete, so 5 records have both sex and race known.
@pytest.mark.parametrize(
    ("cell", "count_members", "share", "is_empty", "is_small"),
    [
        pytest.param("Female × A", 2, 2 / 5, False, False, id="female_a_without_r6"),
        pytest.param("Female × B", 1, 1 / 5, False, True, id="female_b_small"),
        pytest.param("Female × C", 0, 0.0, True, False, id="female_c_empty"),
        pytest.param("Male × A", 2, 2 / 5, False, False, id="male_a_at_small_cell_size"),
        pytest.param("Male × B", 0, 0.0, True, False, id="male_b_empty"),
        pytest.param("Male × C", 0, 0.0, True, False, id="male_c_empty"),
    ],
)
def test_intersection_cell_figures(measurements, cell, count_members, share, is_empty, is_small):
    row = index_rows(measurements["coverage_by_intersection"], "cell")[(cell,)]

    assert row["count_members"] == count_members
    assert row["count_known"] == 5
    assert row["share"] == pytest.approx(share)
    assert row["is_empty"] is is_empty
    assert row["is_small"] is is_small


@pytest.mark.parametrize(
    ("records", "count_known", "count_female_a"),
    [
        pytest.param(
            [("r1", "Female", "A", 30, "18-39", "low"), ("r2", "Male", "B", 50, "40+", "low")],
            2,
            1,
            id="all_complete",
        ),
        pytest.param(
            [("r1", "Female", "A", 30, "18-39", "low"), ("r2", "Female", None, 50, "40+", "low")],
            1,
            1,
            id="race_missing",
        ),
        pytest.param(
            [("r1", "Female", "A", 30, "18-39", "low"), ("r2", None, "A", 50, "40+", "low")],
            1,
            1,
            id="sex_missing",
        ),
        pytest.param(
            [("r1", None, "A", 30, "18-39", "low"), ("r2", "Female", None, 50, "40+", "low")],
            0,
            0,
            id="none_complete",
        ),
    ],
)
def test_intersection_skips_incomplete_records(
    tmp_path, spec_path, records, count_known, count_female_a
):
    measurements = build_measurements(tmp_path / "w.duckdb", spec_path, records)
    rows = measurements["coverage_by_intersection"]
    female_a = index_rows(rows, "cell")[("Female × A",)]

    assert [r["count_known"] for r in rows] == [count_known] * len(rows)
    assert sum(r["count_members"] for r in rows) == count_known
    assert female_a["count_members"] == count_female_a


def test_intersection_share_without_complete_records(tmp_path, spec_path):
    records = [("r1", "Female", None, 30, "18-39", "low")]
    measurements = build_measurements(tmp_path / "w.duckdb", spec_path, records)
    rows = measurements["coverage_by_intersection"]

    assert [r["share"] for r in rows] == [None] * len(rows)
    assert [r["is_empty"] for r in rows] == [True] * len(rows)


# diversity_by_attribute


class Diversity(NamedTuple):
    """Expected diversity figures of one attribute."""

    count_known: int
    count_declared: int
    richness: int
    coverage_of_categories: float
    shannon_entropy: float
    evenness: float
    simpson_index: float
    inverse_simpson: float
    inverse_simpson_rescaled: float
    effective_number_of_groups: float


# sex: p = (2/3, 1/3), k = 2.
#   H = -(2/3 ln 2/3 + 1/3 ln 1/3) = ln 3 - 2/3 ln 2 ≈ 0.63651
#   D = 4/9 + 1/9 = 5/9, 1/D = 1.8, rescaled (1.8 - 1) / (2 - 1) = 0.8
#   exp(H) = 3 / 2^(2/3) ≈ 1.88988
SEX_ENTROPY = math.log(3) - 2 / 3 * math.log(2)
SEX_DIVERSITY = Diversity(
    count_known=6,
    count_declared=2,
    richness=2,
    coverage_of_categories=1.0,
    shannon_entropy=SEX_ENTROPY,
    evenness=SEX_ENTROPY / math.log(2),
    simpson_index=5 / 9,
    inverse_simpson=1.8,
    inverse_simpson_rescaled=0.8,
    effective_number_of_groups=3 / 2 ** (2 / 3),
)

# race: p = (0.8, 0.2, 0), k = 3. The empty category C adds nothing to H or D.
#   H = -(0.8 ln 0.8 + 0.2 ln 0.2) ≈ 0.50040
#   D = 0.64 + 0.04 = 0.68 = 17/25, 1/D = 25/17, rescaled (25/17 - 1) / (3 - 1) = 4/17
#   exp(H) = 1 / (0.8^0.8 × 0.2^0.2) ≈ 1.64938
RACE_ENTROPY = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2))
RACE_DIVERSITY = Diversity(
    count_known=5,
    count_declared=3,
    richness=2,
    coverage_of_categories=2 / 3,
    shannon_entropy=RACE_ENTROPY,
    evenness=RACE_ENTROPY / math.log(3),
    simpson_index=0.68,
    inverse_simpson=25 / 17,
    inverse_simpson_rescaled=4 / 17,
    effective_number_of_groups=1 / (0.8**0.8 * 0.2**0.2),
)

# age_group: only 40+ is present, p = (0, 1), k = 2.
#   H = -(1 ln 1) = 0, evenness 0 / ln 2 = 0, D = 1, 1/D = 1, rescaled 0, exp(0) = 1
AGE_GROUP_DIVERSITY = Diversity(
    count_known=5,
    count_declared=2,
    richness=1,
    coverage_of_categories=0.5,
    shannon_entropy=0.0,
    evenness=0.0,
    simpson_index=1.0,
    inverse_simpson=1.0,
    inverse_simpson_rescaled=0.0,
    effective_number_of_groups=1.0,
)


def test_diversity_lists_demographic_attributes(measurements):
    attributes = [r["attribute"] for r in measurements["diversity_by_attribute"]]

    assert attributes == ["age_group", "race", "sex"]


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        pytest.param("sex", SEX_DIVERSITY, id="sex_two_present"),
        pytest.param("race", RACE_DIVERSITY, id="race_empty_category"),
        pytest.param("age_group", AGE_GROUP_DIVERSITY, id="age_group_one_present"),
    ],
)
def test_diversity_attribute_figures(measurements, attribute, expected):
    row = index_rows(measurements["diversity_by_attribute"], "attribute")[(attribute,)]

    assert row["count_known"] == expected.count_known
    assert row["count_declared"] == expected.count_declared
    assert row["richness"] == expected.richness
    assert row["coverage_of_categories"] == pytest.approx(expected.coverage_of_categories)
    assert row["shannon_entropy"] == pytest.approx(expected.shannon_entropy)
    assert row["evenness"] == pytest.approx(expected.evenness)
    assert row["simpson_index"] == pytest.approx(expected.simpson_index)
    assert row["inverse_simpson"] == pytest.approx(expected.inverse_simpson)
    assert row["inverse_simpson_rescaled"] == pytest.approx(expected.inverse_simpson_rescaled)
    assert row["effective_number_of_groups"] == pytest.approx(expected.effective_number_of_groups)


# missingness


def test_missingness_follows_spec_order(measurements):
    rows = measurements["missingness"]

    assert [r["field"] for r in rows] == ["sex", "race", "age", "age_group", "income"]
    assert [r["position"] for r in rows] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("field", "role", "supplied_by", "count_missing", "share_missing"),
    [
        pytest.param("sex", "demographic", "self-reported", 0, 0.0, id="sex_none_missing"),
        pytest.param("race", "demographic", "self-reported", 1, 1 / 6, id="race_one_missing"),
        pytest.param("age", "context", "self-reported", 1, 1 / 6, id="age_integer_missing"),
        pytest.param("age_group", "demographic", "derived", 1, 1 / 6, id="age_group_derived"),
        pytest.param("income", "label", "self-reported", 2, 2 / 6, id="income_two_missing"),
    ],
)
def test_missingness_field_figures(
    measurements, field, role, supplied_by, count_missing, share_missing
):
    row = index_rows(measurements["missingness"], "field")[(field,)]

    assert row["role"] == role
    assert row["supplied_by"] == supplied_by
    assert row["count_records"] == 6
    assert row["count_missing"] == count_missing
    assert row["share_missing"] == pytest.approx(share_missing)


# quarantine_by_reason


def test_quarantine_counts_each_reason(tmp_path, spec_path):
    quarantine_rows = [
        ("a.csv", 2, ["missing_required:sex"]),
        ("a.csv", 3, ["out_of_range:age", "unknown_category:race"]),
        ("a.csv", 4, ["unknown_category:race"]),
        ("b.csv", 2, ["unknown_category:race"]),
    ]
    measurements = build_measurements(tmp_path / "w.duckdb", spec_path, RECORDS, quarantine_rows)
    rows = [
        (r["source_file"], r["reason_code"], r["count_rows"])
        for r in measurements["quarantine_by_reason"]
    ]

    # The line 3 row has two reasons, so it counts once under each of them.
    assert rows == [
        ("a.csv", "missing_required:sex", 1),
        ("a.csv", "out_of_range:age", 1),
        ("a.csv", "unknown_category:race", 2),
        ("b.csv", "unknown_category:race", 1),
    ]


def test_quarantine_empty_without_rows(measurements):
    assert measurements["quarantine_by_reason"] == []
