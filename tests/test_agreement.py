"""Agreement between self-reports and annotators (Cohen's kappa) and among annotators
(Krippendorff's alpha, nominal), on records and annotations inserted straight into a warehouse.

Expected values come from the textbook definitions computed here in plain Python: the kappa
from its confusion table, the alpha from its full coincidence matrix.
"""

from __future__ import annotations

from collections import Counter
from itertools import permutations
from pathlib import Path

import pytest

from tasks.measure import create_value_views, run_measurement, write_spec_tables
from tasks.spec import load_spec
from tasks.warehouse import connect, ensure_records_table

# (record_id, image_id, subject_id, sex, race, age, age_group, income), SMALL_SPEC's fields.
RECORDS = [
    ("r1", "i1", "s1", "Female", "A", 30, "18-39", "low"),
    ("r2", "i1", "s2", "Male", "B", 41, "40+", "high"),
    ("r3", "i2", "s3", "Female", "A", 25, "18-39", "low"),
    ("r4", "i3", "s4", "Male", "C", 52, "40+", "high"),
]

# (image_id, subject_id, attribute, value, annotator_id)
SEX_LABELS = [
    ("i1", "s1", "sex", "Female", "ann01"),
    ("i1", "s2", "sex", "Female", "ann01"),
    ("i2", "s3", "sex", "Female", "ann02"),
    ("i3", "s4", "sex", "Male", "ann02"),
]
RACE_LABELS = [
    ("i1", "s1", "race", "A", "ann01"),
    ("i1", "s1", "race", "A", "ann02"),
    ("i1", "s1", "race", "B", "ann03"),
    ("i1", "s2", "race", "B", "ann01"),
    ("i1", "s2", "race", "B", "ann02"),
    ("i2", "s3", "race", "A", "ann01"),
    ("i2", "s3", "race", "C", "ann02"),
    ("i3", "s4", "race", "C", "ann01"),
]
BOX_LABELS = [
    ("i1", "s1", "face_bbox", "[1, 2, 3, 4]", "ann01"),
    ("i1", "s1", "face_bbox", "[1, 2, 3, 5]", "ann02"),
]


def measure_agreement(
    warehouse: Path, spec_path: Path, labels: list[tuple]
) -> dict[str, dict[str, dict]]:
    """Load RECORDS and `labels`, build both agreement tables and return rows by attribute."""
    spec = load_spec(spec_path)
    with connect(warehouse) as connection:
        ensure_records_table(connection, spec)
        for line, (record_id, _, _, *values) in enumerate(RECORDS, start=2):
            connection.execute(
                "insert into records values (?, ?, ?, ?, ?, ?, ?, ?)",
                [record_id, "batch-1", line, *values],
            )
        for image_id, subject_id, attribute, value, annotator_id in labels:
            connection.execute(
                "insert into annotations values ('batch-1', ?, ?, ?, ?, ?, 'qa01', 'annotator')",
                [image_id, subject_id, attribute, value, annotator_id],
            )
        write_spec_tables(connection, spec)
        create_value_views(connection, spec)
        # A table without images has no image or subject ids, so the test supplies them.
        keys = ", ".join(f"('{r[0]}', '{r[1]}', '{r[2]}')" for r in RECORDS)
        connection.execute(
            "create or replace view record_keys as select record_id, 'batch-1' as batch_id, "
            f"image_id, subject_id from (values {keys}) as keys(record_id, image_id, subject_id)"
        )
        tables = {}
        for table in ("self_report_agreement", "annotator_agreement"):
            run_measurement(connection, table, spec)
            relation = connection.sql(f"select * from {table}")
            columns = relation.columns
            rows = [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]
            tables[table] = {row["attribute"]: row for row in rows}
    return tables


def cohens_kappa(pairs: list[tuple[str, str]]) -> float:
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    expected = sum(first[c] * second[c] for c in first) / (n * n)
    return (observed - expected) / (1 - expected)


def krippendorffs_alpha(units: list[list[str]]) -> float:
    """Nominal alpha from the full coincidence matrix over the pairable units."""
    coincidences: Counter = Counter()
    for values in units:
        if len(values) < 2:
            continue
        for first, second in permutations(values, 2):
            coincidences[(first, second)] += 1 / (len(values) - 1)
    totals: Counter = Counter()
    for (first, _), weight in coincidences.items():
        totals[first] += weight
    n = sum(totals.values())
    observed = sum(w for (c, k), w in coincidences.items() if c != k)
    expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k) / (n - 1)
    return 1 - observed / expected


@pytest.fixture
def agreement(tmp_path, make_collection) -> dict[str, dict[str, dict]]:
    labels = SEX_LABELS + RACE_LABELS + BOX_LABELS
    return measure_agreement(tmp_path / "w.duckdb", make_collection(), labels)


def test_kappa_by_hand(agreement):
    row = agreement["self_report_agreement"]["sex"]
    # Pairs (self, annotator): (F, F), (M, F), (F, F), (M, M). p_o = 3/4. Self shares 1/2 and
    # 1/2, annotator shares 3/4 and 1/4, so p_e = 1/2 and kappa = (3/4 - 1/2) / (1/2) = 1/2.

    assert row["count_pairs"] == 4
    assert row["observed_agreement"] == pytest.approx(0.75)
    assert row["expected_agreement"] == pytest.approx(0.5)
    assert row["cohens_kappa"] == pytest.approx(0.5)


def test_kappa_over_every_label(agreement):
    row = agreement["self_report_agreement"]["race"]
    self_race = {(r[1], r[2]): r[4] for r in RECORDS}
    pairs = [(self_race[(image, subject)], value) for image, subject, _, value, _ in RACE_LABELS]

    assert row["count_pairs"] == len(RACE_LABELS)
    assert row["cohens_kappa"] == pytest.approx(cohens_kappa(pairs))


def test_kappa_skips_uncategorised_labels(agreement):
    assert set(agreement["self_report_agreement"]) == {"sex", "race"}


def test_alpha_matches_coincidence_matrix(agreement):
    row = agreement["annotator_agreement"]["race"]
    units: dict[tuple[str, str], list[str]] = {}
    for image, subject, _, value, _ in RACE_LABELS:
        units.setdefault((image, subject), []).append(value)

    # i3/s4 has one label, so three units and seven labels are pairable.
    assert row["count_units"] == 3
    assert row["count_labels"] == 7
    assert row["krippendorffs_alpha"] == pytest.approx(krippendorffs_alpha(list(units.values())))


def test_alpha_needs_two_labels(agreement):
    # Every sex label is the only one on its unit, and boxes have no declared categories.
    assert set(agreement["annotator_agreement"]) == {"race"}


def test_alpha_perfect_agreement(tmp_path, make_collection):
    labels = [
        ("i1", "s1", "race", "A", "ann01"),
        ("i1", "s1", "race", "A", "ann02"),
        ("i2", "s3", "race", "C", "ann01"),
        ("i2", "s3", "race", "C", "ann02"),
    ]
    tables = measure_agreement(tmp_path / "w.duckdb", make_collection(), labels)

    assert tables["annotator_agreement"]["race"]["krippendorffs_alpha"] == pytest.approx(1.0)


def test_alpha_undefined_for_one_value(tmp_path, make_collection):
    labels = [("i1", "s1", "race", "A", "ann01"), ("i1", "s1", "race", "A", "ann02")]
    tables = measure_agreement(tmp_path / "w.duckdb", make_collection(), labels)

    assert tables["annotator_agreement"]["race"]["krippendorffs_alpha"] is None


def test_no_annotations_no_rows(tmp_path, make_collection):
    tables = measure_agreement(tmp_path / "w.duckdb", make_collection(), [])

    assert tables == {"self_report_agreement": {}, "annotator_agreement": {}}


def test_json_numbered_labels_compared(tmp_path, make_collection):
    # FHIBE stores labels as JSON text with a number prefix, as in "1. A".
    labels = [
        ("i1", "s1", "race", '"1. A"', "ann01"),
        ("i1", "s2", "race", '"2. B"', "ann01"),
        ("i1", "s2", "race", '"2. B"', "ann02"),
    ]
    tables = measure_agreement(tmp_path / "w.duckdb", make_collection(), labels)

    assert tables["self_report_agreement"]["race"]["observed_agreement"] == pytest.approx(1.0)
    assert tables["self_report_agreement"]["race"]["cohens_kappa"] == pytest.approx(1.0)
    assert tables["annotator_agreement"]["race"]["count_labels"] == 2
