"""Check associations, association_cells and balancing_weights.

The small cases insert records straight into `records` and compare with figures worked out by
hand or with scipy. The Adult cases ingest the bundled files and compare with the published
figures for sex and income and with counts taken from the raw files.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from scipy.stats import binomtest, chi2_contingency, entropy

from tasks.load import ingest_batch
from tasks.measure import create_value_views, run_measurement, write_spec_tables
from tasks.paths import SQL_DIR
from tasks.spec import CollectionSpec, load_spec
from tasks.warehouse import connect, ensure_records_table
from tests.conftest import ADULT_SPEC

# The 97.5th percentile of the standard normal distribution, for 95% Wilson intervals.
Z_95 = 1.959964
# Enough for Adult's 41 native countries and too few for its 74 distinct ages.
MAX_CATEGORIES = 50

# Each record is (record_id, sex, race, age, age_group, income), the small spec's fields in
# spec order. r9 has no income, so every pair with income counts 8 records. Tables over those 8:
#   sex × income:       Female low 3, high 1; Male low 1, high 3.
#   race × income:      A low 3, high 0; B low 1, high 2; C low 0, high 2.
#   age_group × income: 18-39 low 3, high 1; 40+ low 1, high 3.
# The 9 records have 9 distinct ages.
HAND_RECORDS = [
    ("r1", "Female", "A", 25, "18-39", "low"),
    ("r2", "Female", "A", 30, "18-39", "low"),
    ("r3", "Female", "B", 45, "40+", "low"),
    ("r4", "Female", "C", 50, "40+", "high"),
    ("r5", "Male", "A", 28, "18-39", "low"),
    ("r6", "Male", "B", 41, "40+", "high"),
    ("r7", "Male", "B", 60, "40+", "high"),
    ("r8", "Male", "C", 33, "18-39", "high"),
    ("r9", "Male", "C", 70, "40+", None),
]


def derived_fields(spec: CollectionSpec) -> list[dict[str, str]]:
    """Return the spec's derived fields in the shape associations.sql binds as $derived_fields."""
    return [
        {"field": f.name, "derived_from": f.derived_from} for f in spec.fields if f.derived_from
    ]


def build_association_tables(
    connection: duckdb.DuckDBPyConnection, spec: CollectionSpec, max_categories: int
) -> None:
    """Build associations, association_cells and balancing_weights, in that order."""
    # run_measurement binds none of these parameters yet, and the lead engineer will add them.
    connection.execute(
        "create or replace table associations as " + (SQL_DIR / "associations.sql").read_text(),
        {"max_association_categories": max_categories, "derived_fields": derived_fields(spec)},
    )
    connection.execute(
        "create or replace table association_cells as "
        + (SQL_DIR / "association_cells.sql").read_text(),
        {"z": Z_95},
    )
    run_measurement(connection, "balancing_weights", spec)


def fetch_rows(connection: duckdb.DuckDBPyConnection, table: str) -> list[dict]:
    relation = connection.sql(f"select * from {table}")
    columns = relation.columns
    return [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]


def measure_records(
    warehouse: Path, spec_path: Path, records: list[tuple], max_categories: int
) -> dict[str, list[dict]]:
    """Load `records` into a new warehouse, build the three tables and return their rows."""
    spec = load_spec(spec_path)
    with connect(warehouse) as connection:
        ensure_records_table(connection, spec)
        placeholders = ", ".join("?" for _ in range(3 + len(spec.fields)))
        for source_line, (record_id, *values) in enumerate(records, start=2):
            connection.execute(
                f"insert into records values ({placeholders})",
                [record_id, "batch-1", source_line, *values],
            )

        write_spec_tables(connection, spec)
        create_value_views(connection, spec)
        build_association_tables(connection, spec, max_categories)
        return {
            table: fetch_rows(connection, table)
            for table in ("associations", "association_cells", "balancing_weights")
        }


def pair_row(rows: list[dict], attribute: str, field: str) -> dict:
    return next(r for r in rows if r["attribute"] == attribute and r["field"] == field)


def cell_row(rows: list[dict], attribute: str, category: str, field: str, value: str) -> dict:
    return next(
        r
        for r in rows
        if (r["attribute"], r["category"], r["field"], r["value"])
        == (attribute, category, field, value)
    )


@pytest.fixture
def hand_tables(tmp_path, make_collection) -> dict[str, list[dict]]:
    # At most 8 categories, so age (9 distinct values) is left out of every pair.
    return measure_records(tmp_path / "w.duckdb", make_collection(), HAND_RECORDS, 8)


# associations


def test_associations_list_measurable_pairs(hand_tables):
    pairs = [(r["attribute"], r["field"], r["field_role"]) for r in hand_tables["associations"]]

    assert pairs == [
        ("sex", "income", "label"),
        ("race", "income", "label"),
        ("age_group", "income", "label"),
    ]


def test_associations_skip_derived_pair(tmp_path, make_collection):
    tables = measure_records(tmp_path / "w.duckdb", make_collection(), HAND_RECORDS, 50)
    pairs = [(r["attribute"], r["field"]) for r in tables["associations"]]

    assert ("sex", "age") in pairs
    assert ("race", "age") in pairs
    assert ("age_group", "age") not in pairs


def test_two_by_two_by_hand(hand_tables):
    row = pair_row(hand_tables["associations"], "sex", "income")
    # Every expected count is 8 * 4/8 * 4/8 = 2, so chi2 = 4 * (3 - 2)^2 / 2 = 2.
    # phi2 = 2/8; corrected 1/4 - 1/7 = 3/28; r and k corrected 2 - 1/7 = 13/7;
    # V = sqrt((3/28) / (6/7)) = sqrt(1/8).
    # MI = 2 * 3/8 * ln(1.5) + 2 * 1/8 * ln(0.5), and both entropies are ln 2.
    mutual_information = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)

    assert row["count_records"] == 8
    assert row["count_categories"] == 2
    assert row["count_values"] == 2
    assert row["degrees_of_freedom"] == 1
    assert row["chi_square"] == pytest.approx(2.0)
    assert row["cramers_v_corrected"] == pytest.approx(math.sqrt(1 / 8))
    assert row["mutual_information"] == pytest.approx(mutual_information)
    assert row["normalised_mutual_information"] == pytest.approx(mutual_information / math.log(2))


def test_three_by_two_matches_scipy(hand_tables):
    row = pair_row(hand_tables["associations"], "race", "income")
    table = [[3, 0], [1, 2], [0, 2]]
    chi_square = chi2_contingency(table, correction=False).statistic
    race_entropy = entropy([3, 3, 2])
    income_entropy = entropy([4, 4])
    joint_entropy = entropy([3, 1, 2, 2])
    mutual_information = race_entropy + income_entropy - joint_entropy

    assert row["count_categories"] == 3
    assert row["count_values"] == 2
    assert row["chi_square"] == pytest.approx(chi_square)
    # chi2 = 16/3, so phi2 corrected = 2/3 - 2/7 = 8/21, and min(3 - 4/7, 2 - 1/7) - 1 = 6/7:
    # V = sqrt((8/21) / (6/7)) = 2/3.
    assert row["cramers_v_corrected"] == pytest.approx(2 / 3)
    assert row["mutual_information"] == pytest.approx(mutual_information)
    assert row["normalised_mutual_information"] == pytest.approx(
        mutual_information / ((race_entropy + income_entropy) / 2)
    )


def test_single_value_has_no_cramers_v(tmp_path, make_collection):
    records = [(f"r{i}", "Female" if i % 2 else "Male", "A", 30, "18-39", "low") for i in range(6)]
    tables = measure_records(tmp_path / "w.duckdb", make_collection(), records, 8)
    row = pair_row(tables["associations"], "sex", "income")

    assert row["count_values"] == 1
    assert row["chi_square"] == pytest.approx(0.0)
    assert row["cramers_v_corrected"] is None
    assert row["normalised_mutual_information"] == pytest.approx(0.0)


def test_pair_without_overlap_has_no_statistics(tmp_path, make_collection):
    # Race is known only where income is missing, so no record has both.
    records = [
        ("r1", "Female", "A", 25, "18-39", None),
        ("r2", "Male", None, 30, "18-39", "low"),
        ("r3", "Female", None, 45, "40+", "high"),
    ]
    tables = measure_records(tmp_path / "w.duckdb", make_collection(), records, 8)
    row = pair_row(tables["associations"], "race", "income")

    assert row["count_records"] == 0
    assert row["count_categories"] == 0
    assert row["degrees_of_freedom"] is None
    assert row["chi_square"] is None
    assert row["cramers_v_corrected"] is None
    assert row["mutual_information"] is None
    assert row["normalised_mutual_information"] is None


# association_cells


def test_cell_lift_and_shares(hand_tables):
    row = cell_row(hand_tables["association_cells"], "sex", "Male", "income", "high")

    assert row["count_cell"] == 3
    assert row["count_category"] == 4
    assert row["count_value"] == 4
    assert row["count_records"] == 8
    assert row["share_in_category"] == pytest.approx(3 / 4)
    assert row["share_overall"] == pytest.approx(4 / 8)
    assert row["lift"] == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("category", "value", "successes", "trials"),
    [
        pytest.param("A", "low", 3, 3, id="every_record"),
        pytest.param("A", "high", 0, 3, id="empty_cell"),
        pytest.param("B", "high", 2, 3, id="two_of_three"),
    ],
)
def test_cell_wilson_interval(hand_tables, category, value, successes, trials):
    row = cell_row(hand_tables["association_cells"], "race", category, "income", value)
    interval = binomtest(successes, trials).proportion_ci(method="wilson")

    assert row["share_in_category_lower"] == pytest.approx(interval.low, abs=1e-7)
    assert row["share_in_category_upper"] == pytest.approx(interval.high, abs=1e-7)


def test_wilson_interval_by_hand(hand_tables):
    row = cell_row(hand_tables["association_cells"], "sex", "Male", "income", "high")
    # p = 3/4, m = 4, z^2 = 3.841459: centre (0.75 + 0.480182) / 1.960365 = 0.627527,
    # half width 1.959964 / 1.960365 * sqrt(0.046875 + 0.060023) = 0.326885.

    assert row["share_in_category_lower"] == pytest.approx(0.300642, abs=1e-6)
    assert row["share_in_category_upper"] == pytest.approx(0.954413, abs=1e-6)


def test_cells_include_empty_cell(hand_tables):
    row = cell_row(hand_tables["association_cells"], "race", "A", "income", "high")

    assert row["count_cell"] == 0
    assert row["lift"] == pytest.approx(0.0)
    # With 0 of 3, the upper bound z^2 / (3 + z^2) = 0.5615 exceeds P(high) = 0.5, so three
    # records are too few to call the cell under-represented.
    assert row["log_lift_conservative"] == pytest.approx(0.0)


def test_cells_cover_each_pair(hand_tables):
    counts = Counter((r["attribute"], r["field"]) for r in hand_tables["association_cells"])

    assert counts == {("sex", "income"): 4, ("race", "income"): 6, ("age_group", "income"): 4}


def test_planted_skew_ranks_first(tmp_path, make_collection):
    # Race C earns `high` in 32 of 40 records, races A and B in 8 of 120 each. Sex is split
    # evenly within every race and income, and everyone is 30, so nothing else is associated.
    counts = {
        ("A", "high"): 8,
        ("A", "low"): 112,
        ("B", "high"): 8,
        ("B", "low"): 112,
        ("C", "high"): 32,
        ("C", "low"): 8,
    }
    records = []
    for (race, income), count in counts.items():
        for i in range(count):
            sex = "Female" if i % 2 else "Male"
            records.append((f"{race}-{income}-{i}", sex, race, 30, "18-39", income))
    tables = measure_records(tmp_path / "w.duckdb", make_collection(), records, 8)
    first = tables["association_cells"][0]

    assert (first["attribute"], first["category"], first["field"], first["value"]) == (
        "race",
        "C",
        "income",
        "high",
    )
    assert first["association_rank"] == 1
    assert first["lift"] == pytest.approx((32 / 40) / (48 / 280))


# balancing_weights


def test_weights_by_hand(hand_tables):
    weights = {
        r["category"]: r["weight"]
        for r in hand_tables["balancing_weights"]
        if (r["attribute"], r["field"], r["value"]) == ("sex", "income", "high")
    }
    # 8 records over 4 non-empty cells: weight = 8 / (4 * count_cell).

    assert weights["Male"] == pytest.approx(8 / (4 * 3))
    assert weights["Female"] == pytest.approx(8 / (4 * 1))


def test_weights_skip_empty_cells(hand_tables):
    race_cells = [
        (r["category"], r["value"])
        for r in hand_tables["balancing_weights"]
        if (r["attribute"], r["field"]) == ("race", "income")
    ]

    assert race_cells == [("A", "low"), ("B", "high"), ("B", "low"), ("C", "high")]


# The Adult reference figures


def count_raw_adult(spec: CollectionSpec) -> Counter:
    """Count (sex, income) in the raw Adult files, read as plain text."""
    columns = spec.source.columns
    sex_index = columns.index("sex")
    income_index = columns.index("income")
    counts: Counter = Counter()
    for path in spec.source.files:
        for line in path.read_text().splitlines():
            if not line.strip() or line.startswith("|"):
                continue
            values = [value.strip() for value in line.split(",")]
            counts[(values[sex_index], values[income_index].rstrip("."))] += 1
    return counts


@pytest.fixture(scope="module")
def adult_tables(tmp_path_factory) -> dict[str, list[dict]]:
    """Ingest both bundled Adult files once per module and return the three tables' rows."""
    warehouse = tmp_path_factory.mktemp("adult") / "adult.duckdb"
    spec = load_spec(ADULT_SPEC)
    for path in spec.source.files:
        ingest_batch.fn(spec, path, warehouse)
    with connect(warehouse) as connection:
        write_spec_tables(connection, spec)
        create_value_views(connection, spec)
        build_association_tables(connection, spec, MAX_CATEGORIES)
        return {
            table: fetch_rows(connection, table)
            for table in ("associations", "association_cells", "balancing_weights")
        }


def test_adult_sex_income_cramers_v(adult_tables):
    row = pair_row(adult_tables["associations"], "sex", "income")

    assert row["count_records"] == 48_842
    assert row["cramers_v_corrected"] == pytest.approx(0.215, abs=0.005)


@pytest.mark.parametrize(
    ("sex", "share"),
    [pytest.param("Male", 0.304, id="men"), pytest.param("Female", 0.109, id="women")],
)
def test_adult_high_income_share(adult_tables, sex, share):
    row = cell_row(adult_tables["association_cells"], "sex", sex, "income", ">50K")

    assert row["share_in_category"] == pytest.approx(share, abs=0.001)


def test_adult_counts_match_raw_files(adult_tables):
    raw_counts = count_raw_adult(load_spec(ADULT_SPEC))
    cells = [
        r
        for r in adult_tables["association_cells"]
        if (r["attribute"], r["field"]) == ("sex", "income")
    ]
    measured_counts = {(r["category"], r["value"]): r["count_cell"] for r in cells}

    assert measured_counts == dict(raw_counts)
    assert sum(raw_counts.values()) == 48_842


def test_adult_empty_cell_ranks(adult_tables):
    row = cell_row(
        adult_tables["association_cells"], "age_group", "17-24", "education", "Prof-school"
    )

    assert row["count_cell"] == 0
    # 8,432 people aged 17 to 24 and none with a professional degree, against 1.7% overall.
    assert row["log_lift_conservative"] < -3
    assert row["association_rank"] <= 10


def test_adult_skips_derived_and_free_fields(adult_tables):
    pairs = {(r["attribute"], r["field"]) for r in adult_tables["associations"]}

    assert ("region", "native_country") not in pairs
    assert ("age_group", "age") not in pairs
    assert ("sex", "age") not in pairs
    assert ("race", "native_country") in pairs


def test_adult_weights_equalise_cell_totals(adult_tables):
    totals: dict[tuple[str, str], list[float]] = {}
    for row in adult_tables["balancing_weights"]:
        pair = (row["attribute"], row["field"])
        totals.setdefault(pair, []).append(row["count_cell"] * row["weight"])

    assert totals
    for pair, cell_totals in totals.items():
        assert cell_totals == pytest.approx([cell_totals[0]] * len(cell_totals)), pair


def test_adult_weights_sum_to_records(adult_tables):
    weight_sums: Counter = Counter()
    for row in adult_tables["balancing_weights"]:
        weight_sums[(row["attribute"], row["field"])] += row["count_cell"] * row["weight"]
    record_counts = {
        (r["attribute"], r["field"]): r["count_records"] for r in adult_tables["associations"]
    }

    assert weight_sums.keys() == record_counts.keys()
    for pair, weight_sum in weight_sums.items():
        assert weight_sum == pytest.approx(record_counts[pair]), pair
