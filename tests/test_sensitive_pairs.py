"""Sensitive pairs: their spec key, their gate, and their bias-aligned and bias-conflicting records.

The small collection plants an association between sex and income: 9 of 10 women earn `low`
and 8 of 10 men earn `high`. Expected figures are worked out here with plain formulas and
scipy, never read back from the tables under test.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from scipy.stats import binomtest

from tasks.errors import SpecError
from tasks.gates import evaluate_gates
from tasks.load import ingest_batch
from tasks.measure import measure_collection
from tasks.spec import load_spec
from tasks.spec_measurement import SensitivePair
from tasks.warehouse import connect
from tests.conftest import SMALL_SPEC

SENSITIVE_SPEC = SMALL_SPEC.replace(
    "measurement:\n  small_cell_size: 2\n",
    "measurement:\n  small_cell_size: 2\n"
    "  sensitive_pairs:\n    - {attribute: sex, field: income}\n",
)

# (sex, income, count): women 9 low and 1 high, men 2 low and 8 high. Everyone is race A.
PLANTED_COUNTS = [
    ("Female", "low", 9),
    ("Female", "high", 1),
    ("Male", "low", 2),
    ("Male", "high", 8),
]


def planted_rows() -> str:
    lines = ["person_id,sex,race,age,income"]
    number = 0
    for sex, income, count in PLANTED_COUNTS:
        for _ in range(count):
            number += 1
            lines.append(f"p{number},{sex},A,{20 + number},{income}")
    return "\n".join(lines) + "\n"


def association_suite(max_cramers_v: float) -> dict:
    return {
        "name": "small_associations",
        "meta": {
            "measurement_table": "associations",
            "index_columns": ["attribute", "field"],
        },
        "expectations": [
            {
                "type": "expect_sensitive_associations_to_have_max_cramers_v",
                "kwargs": {"max_cramers_v": max_cramers_v},
                "severity": "warning",
            }
        ],
    }


def corrected_cramers_v(table: list[list[int]]) -> float:
    """Bergsma's bias-corrected Cramér's V of a contingency table, from its definition."""
    n = sum(map(sum, table))
    rows = [sum(row) for row in table]
    columns = [sum(column) for column in zip(*table, strict=True)]
    chi_square = sum(
        (table[i][j] - rows[i] * columns[j] / n) ** 2 / (rows[i] * columns[j] / n)
        for i in range(len(rows))
        for j in range(len(columns))
    )
    r, k = len(rows), len(columns)
    phi_square = max(0.0, chi_square / n - (k - 1) * (r - 1) / (n - 1))
    r_corrected = r - (r - 1) ** 2 / (n - 1)
    k_corrected = k - (k - 1) ** 2 / (n - 1)
    return math.sqrt(phi_square / (min(r_corrected, k_corrected) - 1))


def measure_and_gate(spec_path: Path, warehouse: Path):
    spec = load_spec(spec_path)
    for path in spec.source.files:
        ingest_batch.fn(spec, path, warehouse)
    measure_collection.fn(spec, warehouse)
    return evaluate_gates.fn(spec, warehouse)


def fetch_rows(warehouse: Path, query: str) -> list[dict]:
    with connect(warehouse) as connection:
        relation = connection.sql(query)
        columns = relation.columns
        return [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]


# The spec key


def test_sensitive_pairs_load(make_collection):
    spec = load_spec(make_collection(spec=SENSITIVE_SPEC))

    assert spec.sensitive_pairs == (SensitivePair("sex", "income"),)


def test_sensitive_pairs_default_empty(make_collection):
    assert load_spec(make_collection()).sensitive_pairs == ()


@pytest.mark.parametrize(
    ("pairs", "key", "problem"),
    [
        pytest.param(
            "{attribute: sex}",
            "measurement.sensitive_pairs",
            "expected a list of mappings",
            id="not_a_list",
        ),
        pytest.param(
            "[{attribute: sex, label: income}]",
            "measurement.sensitive_pairs[0].label",
            "unknown key; expected one of: attribute, field",
            id="unknown_key",
        ),
        pytest.param(
            "[{attribute: sex}]",
            "measurement.sensitive_pairs[0].field",
            "missing; expected a string",
            id="missing_field",
        ),
        pytest.param(
            "[{attribute: income, field: sex}]",
            "measurement.sensitive_pairs[0].attribute",
            "`income` is not a demographic field; expected one of: age_group, race, sex",
            id="label_as_attribute",
        ),
        pytest.param(
            "[{attribute: sex, field: race}]",
            "measurement.sensitive_pairs[0].field",
            "`race` is not a label or context field; expected one of: age, income",
            id="demographic_as_field",
        ),
        pytest.param(
            "[{attribute: age_group, field: age}]",
            "measurement.sensitive_pairs[0]",
            "`age_group` and `age` are derived one from the other",
            id="derived_pair",
        ),
        pytest.param(
            "[{attribute: sex, field: income}, {attribute: sex, field: income}]",
            "measurement.sensitive_pairs[1]",
            "lists `sex` with `income` twice",
            id="repeated_pair",
        ),
    ],
)
def test_invalid_sensitive_pairs_raise(make_collection, pairs, key, problem):
    spec_text = SMALL_SPEC.replace(
        "  small_cell_size: 2\n", f"  small_cell_size: 2\n  sensitive_pairs: {pairs}\n"
    )

    with pytest.raises(SpecError, match=re.escape(f"key `{key}`: {problem}")):
        load_spec(make_collection(spec=spec_text))


def test_unmeasured_sensitive_pair_raises(make_collection, tmp_path):
    # Without a declared range, only the data shows that age has 20 distinct values. That is
    # more than the limit of 5, so sex × age is never measured.
    spec_text = SMALL_SPEC.replace("    min: 18\n    max: 99\n", "").replace(
        "  small_cell_size: 2\n",
        "  small_cell_size: 2\n  max_association_categories: 5\n"
        "  sensitive_pairs: [{attribute: sex, field: age}]\n",
    )
    spec_path = make_collection(rows=planted_rows(), spec=spec_text)

    with pytest.raises(
        SpecError, match=r"sensitive_pairs\[0\]`: `sex` with `age` was not measured"
    ):
        measure_and_gate(spec_path, tmp_path / "w.duckdb")


# The gate


def test_strong_sensitive_pair_warns(make_collection, tmp_path):
    spec_path = make_collection(
        rows=planted_rows(), spec=SENSITIVE_SPEC, suite=association_suite(0.3)
    )
    expected_v = corrected_cramers_v([[9, 1], [2, 8]])

    report = measure_and_gate(spec_path, tmp_path / "w.duckdb")

    assert expected_v > 0.3
    assert report.outcome == "warned"
    [result] = report.results
    assert not result.is_success
    assert result.observed["failing_groups"]["sex × income"] == pytest.approx(expected_v)
    assert "sex × income (observed" in result.summary


def test_weak_sensitive_pair_passes(make_collection, tmp_path):
    spec_path = make_collection(
        rows=planted_rows(), spec=SENSITIVE_SPEC, suite=association_suite(0.9)
    )

    report = measure_and_gate(spec_path, tmp_path / "w.duckdb")

    assert report.outcome == "passed"
    assert report.results[0].observed["groups_checked"] == 1


def test_gate_without_sensitive_pairs_fails(make_collection, tmp_path):
    spec_path = make_collection(rows=planted_rows(), suite=association_suite(0.3))

    report = measure_and_gate(spec_path, tmp_path / "w.duckdb")

    [result] = report.results
    assert not result.is_success
    assert "no pair is marked sensitive" in result.observed["note"]


def test_associations_mark_sensitive_pairs(make_collection, tmp_path):
    spec_path = make_collection(
        rows=planted_rows(), spec=SENSITIVE_SPEC, suite=association_suite(0.3)
    )
    warehouse = tmp_path / "w.duckdb"
    measure_and_gate(spec_path, warehouse)

    rows = fetch_rows(warehouse, "select attribute, field, is_sensitive from associations")
    flags = {(r["attribute"], r["field"]): r["is_sensitive"] for r in rows}

    assert flags[("sex", "income")] is True
    assert flags[("race", "income")] is False


# Bias-aligned and bias-conflicting records


@pytest.fixture
def planted_warehouse(make_collection, tmp_path) -> Path:
    spec_path = make_collection(
        rows=planted_rows(), spec=SENSITIVE_SPEC, suite=association_suite(0.3)
    )
    warehouse = tmp_path / "w.duckdb"
    measure_and_gate(spec_path, warehouse)
    return warehouse


def test_aligned_cells_by_hand(planted_warehouse):
    rows = fetch_rows(planted_warehouse, "select * from bias_alignment_counts")
    cells = {(r["category"], r["aligned_value"]): r for r in rows}
    # Overall: 9 of 20 earn high and 11 low. The Wilson lower bound of 8 of 10 men earning high
    # and of 9 of 10 women earning low must lie above those shares for the cells to count.
    men_high = binomtest(8, 10).proportion_ci(method="wilson")
    women_low = binomtest(9, 10).proportion_ci(method="wilson")

    assert men_high.low > 9 / 20
    assert women_low.low > 11 / 20
    assert set(cells) == {("Male", "high"), ("Female", "low")}
    assert cells[("Male", "high")]["count_aligned"] == 8
    assert cells[("Male", "high")]["count_conflicting"] == 2
    assert cells[("Male", "high")]["lift"] == pytest.approx((8 / 10) / (9 / 20))
    assert cells[("Female", "low")]["count_aligned"] == 9
    assert cells[("Female", "low")]["count_conflicting"] == 1
    assert cells[("Female", "low")]["share_conflicting"] == pytest.approx(0.1)


def test_members_name_each_record(planted_warehouse):
    rows = fetch_rows(
        planted_warehouse,
        "select record_id, category, value, alignment from bias_alignment_members",
    )
    # planted_rows numbers people in PLANTED_COUNTS order: p1-p9 women low, p10 woman high,
    # p11-p12 men low, p13-p20 men high.
    conflicting = {r["record_id"] for r in rows if r["alignment"] == "conflicting"}

    assert len(rows) == 20
    assert len({r["record_id"] for r in rows}) == 20
    assert conflicting == {"p10", "p11", "p12"}
    for row in rows:
        expected = (
            "aligned"
            if (row["category"], row["value"])
            in (
                ("Female", "low"),
                ("Male", "high"),
            )
            else "conflicting"
        )
        assert row["alignment"] == expected, row["record_id"]


def test_two_aligned_values_one_row_each(make_collection, tmp_path):
    # Women earn low or mid (18 + 18 of 40) and men high (36 of 40). Overall, low and mid are
    # 25% each and high is 50%, so Female × low, Female × mid and Male × high are all aligned.
    counts = [("Female", "low", 18), ("Female", "mid", 18), ("Female", "high", 4)]
    counts += [("Male", "low", 2), ("Male", "mid", 2), ("Male", "high", 36)]
    lines = ["person_id,sex,race,age,income"]
    for sex, income, count in counts:
        for _ in range(count):
            lines.append(f"p{len(lines)},{sex},A,30,{income}")
    spec = SENSITIVE_SPEC.replace("categories: [low, high]", "categories: [low, mid, high]")
    spec_path = make_collection(rows="\n".join(lines) + "\n", spec=spec, suite=association_suite(1))
    warehouse = tmp_path / "w.duckdb"
    measure_and_gate(spec_path, warehouse)

    cells = fetch_rows(warehouse, "select * from bias_alignment_counts")
    members = fetch_rows(warehouse, "select category, value, alignment from bias_alignment_members")

    assert {(c["category"], c["aligned_value"]) for c in cells} == {
        ("Female", "low"),
        ("Female", "mid"),
        ("Male", "high"),
    }
    assert {c["category"]: c["count_conflicting"] for c in cells} == {"Female": 4, "Male": 4}
    assert len(members) == 80
    conflicting = [(m["category"], m["value"]) for m in members if m["alignment"] == "conflicting"]
    assert sorted(set(conflicting)) == [("Female", "high"), ("Male", "low"), ("Male", "mid")]
    assert len(conflicting) == 8


def test_non_sensitive_pair_has_no_members(planted_warehouse):
    rows = fetch_rows(
        planted_warehouse, "select distinct attribute, field from bias_alignment_members"
    )

    assert rows == [{"attribute": "sex", "field": "income"}]


def test_weak_cell_is_not_aligned(make_collection, tmp_path):
    # 2 of 3 men and 1 of 3 women earn high: lift 4/3, but 3 records cannot exclude 1.
    rows = (
        "person_id,sex,race,age,income\n"
        + "\n".join(
            f"p{i},{sex},A,{30 + i},{income}"
            for i, (sex, income) in enumerate(
                [
                    ("Male", "high"),
                    ("Male", "high"),
                    ("Male", "low"),
                    ("Female", "high"),
                    ("Female", "low"),
                    ("Female", "low"),
                ]
            )
        )
        + "\n"
    )
    spec_path = make_collection(rows=rows, spec=SENSITIVE_SPEC, suite=association_suite(0.9))
    warehouse = tmp_path / "w.duckdb"
    measure_and_gate(spec_path, warehouse)

    assert binomtest(2, 3).proportion_ci(method="wilson").low < 0.5
    assert fetch_rows(warehouse, "select * from bias_alignment_counts") == []
    assert fetch_rows(warehouse, "select * from bias_alignment_members") == []


def test_unmeasurable_pair_rejected_by_spec(make_collection):
    # age is an integer from 18 to 99: 82 possible values, over the default limit of 50.
    spec = SENSITIVE_SPEC.replace("{attribute: sex, field: income}", "{attribute: sex, field: age}")

    with pytest.raises(SpecError, match=r"`age` can take 82 values, more than .*\(50\)"):
        load_spec(make_collection(spec=spec))
