"""Tests for ingest_batch on small collections and on the bundled Adult files.

Most tests call the task's plain function (`ingest_batch.fn`), so no Prefect server starts.
The two command-line tests run the installed `faircurate` executable, and its `ingest`
command starts Prefect's temporary local server on 127.0.0.1 for the length of the command.
Every test that ingests checks that the counts reconcile: rows read equal rows loaded plus
rows quarantined, and the warehouse's tables contain exactly those rows.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import duckdb
import pytest

from tasks.errors import InputFileError
from tasks.load import BatchReport, ingest_batch
from tasks.spec import load_spec
from tests.conftest import ADULT_SPEC, FAIRCURATE, OFFLINE_ENV, SMALL_ROWS, SMALL_SPEC

TWO_FILE_SPEC = SMALL_SPEC.replace("files: [people.csv]", "files: [people.csv, more.csv]")


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse" / "small.duckdb"


def ingest_file(spec_path: Path, warehouse: Path, name: str = "people.csv") -> BatchReport:
    """Load the spec and ingest its source file `name` as one batch."""
    spec = load_spec(spec_path)
    [path] = [p for p in spec.source.files if p.name == name]
    return ingest_batch.fn(spec, path, warehouse)


def fetch_all(warehouse: Path, query: str) -> list[tuple]:
    with duckdb.connect(str(warehouse)) as connection:
        return connection.execute(query).fetchall()


def count_rows(warehouse: Path, table: str) -> int:
    return fetch_all(warehouse, f"select count(*) from {table}")[0][0]


def table_counts(warehouse: Path) -> dict[str, int]:
    return {table: count_rows(warehouse, table) for table in ("records", "quarantine", "batches")}


def quarantine_rows(warehouse: Path) -> list[tuple]:
    """Return (source_file, source_line, reason_codes, reasons, raw_record) ordered by line."""
    return fetch_all(
        warehouse,
        "select source_file, source_line, reason_codes, reasons, raw_record "
        "from quarantine order by source_file, source_line",
    )


def assert_counts_reconcile(reports: list[BatchReport], warehouse: Path) -> None:
    """Assert that each report's counts add up and the tables contain exactly those rows."""
    for report in reports:
        assert report.rows_read == report.rows_loaded + report.rows_quarantined
    new_batches = [r for r in reports if not r.already_ingested]
    assert count_rows(warehouse, "records") == sum(r.rows_loaded for r in new_batches)
    assert count_rows(warehouse, "quarantine") == sum(r.rows_quarantined for r in new_batches)
    assert count_rows(warehouse, "batches") == len({r.batch_id for r in reports})


def test_clean_file_loads_every_row(make_collection, warehouse):
    report = ingest_file(make_collection(), warehouse)

    assert_counts_reconcile([report], warehouse)
    assert report.rows_read == 5
    assert report.rows_loaded == 5
    assert report.rows_quarantined == 0
    assert report.lines_skipped == {"blank": 0, "comment": 0, "header": 1}


def test_same_file_twice_changes_nothing(make_collection, warehouse):
    spec_path = make_collection(rows=SMALL_ROWS + "p6,Unknown,A,30,low\n")
    first = ingest_file(spec_path, warehouse)
    counts_after_first = table_counts(warehouse)

    second = ingest_file(spec_path, warehouse)

    assert_counts_reconcile([first, second], warehouse)
    assert second.already_ingested is True
    assert second.batch_id == first.batch_id
    assert second.rows_read == 6
    assert second.rows_loaded == 5
    assert second.rows_quarantined == 1
    assert table_counts(warehouse) == counts_after_first
    assert counts_after_first == {"records": 5, "quarantine": 1, "batches": 1}


@pytest.mark.parametrize(
    ("line", "field_count"),
    [
        pytest.param("p6,Female,A,30,low,extra", 6, id="too many fields"),
        pytest.param("p6,Female,A,30", 4, id="too few fields"),
    ],
)
def test_malformed_line_quarantined(make_collection, warehouse, line, field_count):
    report = ingest_file(make_collection(rows=SMALL_ROWS + line + "\n"), warehouse)

    assert_counts_reconcile([report], warehouse)
    assert report.rows_quarantined == 1
    [(source_file, source_line, codes, reasons, raw_record)] = quarantine_rows(warehouse)
    assert source_file == "people.csv"
    assert source_line == 7
    assert raw_record == line
    assert codes == ["malformed_line"]
    assert f"line has {field_count} fields; expected 5 separated by ','" in reasons


def test_duplicate_id_in_file_quarantined(make_collection, warehouse):
    line = "p3,Male,C,50,high"
    report = ingest_file(make_collection(rows=SMALL_ROWS + line + "\n"), warehouse)

    assert_counts_reconcile([report], warehouse)
    assert report.rows_loaded == 5
    [(_, source_line, codes, reasons, raw_record)] = quarantine_rows(warehouse)
    assert source_line == 7
    assert raw_record == line
    assert codes == ["duplicate_id"]
    assert reasons == ["`person_id`: id 'p3' already appears on line 4 of this file"]
    loaded_lines = fetch_all(warehouse, "select source_line from records where record_id = 'p3'")
    assert loaded_lines == [(4,)]


def test_duplicate_id_across_batches_quarantined(make_collection, tmp_path, warehouse):
    spec_path = make_collection(spec=TWO_FILE_SPEC)
    (tmp_path / "more.csv").write_text(
        "person_id,sex,race,age,income\np7,Male,B,40,low\np2,Female,C,52,high\n"
    )

    first = ingest_file(spec_path, warehouse, "people.csv")
    second = ingest_file(spec_path, warehouse, "more.csv")

    assert_counts_reconcile([first, second], warehouse)
    assert second.rows_read == 2
    assert second.rows_loaded == 1
    assert second.rows_quarantined == 1
    [(source_file, source_line, codes, reasons, raw_record)] = quarantine_rows(warehouse)
    assert source_file == "more.csv"
    assert source_line == 3
    assert raw_record == "p2,Female,C,52,high"
    assert codes == ["duplicate_id"]
    assert reasons == ["id 'p2' was already loaded from line 3 of people.csv"]
    loaded = fetch_all(warehouse, "select sex, age from records where record_id = 'p2'")
    assert loaded == [("Male", 45)]


@pytest.mark.parametrize(
    ("line", "code", "message"),
    [
        pytest.param(
            "p6,Unknown,A,30,low",
            "unknown_category:sex",
            "`sex`: 'Unknown' is not a category declared in the spec",
            id="unknown category",
        ),
        pytest.param(
            "p6,Female,A,thirty,low",
            "not_integer:age",
            "`age`: 'thirty' is not an integer",
            id="not an integer",
        ),
        pytest.param(
            "p6,Female,A,120,low",
            "out_of_range:age",
            "`age`: 120 is above the maximum 99",
            id="above maximum",
        ),
        pytest.param(
            "p6,,A,30,low",
            "missing_required:sex",
            "`sex`: value is missing but the field is required",
            id="missing required",
        ),
        pytest.param(
            "p6,Female,A,?,low",
            "missing_required:age",
            "`age`: value is missing but the field is required",
            id="question mark for required",
        ),
        pytest.param(
            ",Female,A,30,low",
            "missing_id",
            "`person_id`: id is missing",
            id="missing id",
        ),
    ],
)
def test_invalid_value_quarantined(make_collection, warehouse, line, code, message):
    report = ingest_file(make_collection(rows=SMALL_ROWS + line + "\n"), warehouse)

    assert_counts_reconcile([report], warehouse)
    assert report.rows_quarantined == 1
    [(_, source_line, codes, reasons, raw_record)] = quarantine_rows(warehouse)
    assert source_line == 7
    assert raw_record == line
    assert codes == [code]
    assert reasons[0].startswith(message)


def test_below_minimum_quarantined(make_collection, warehouse):
    # Age 17 is below both the field's minimum and the first age_group bin.
    report = ingest_file(make_collection(rows=SMALL_ROWS + "p6,Male,A,17,low\n"), warehouse)

    assert_counts_reconcile([report], warehouse)
    [(_, _, codes, reasons, _)] = quarantine_rows(warehouse)
    assert codes == ["out_of_range:age", "outside_bins:age_group"]
    assert reasons[0] == "`age`: 17 is below the minimum 18"


def test_age_outside_bins_quarantined(make_collection, warehouse):
    spec_text = SMALL_SPEC.replace("{label: 18-39, min: 18", "{label: 20-39, min: 20")
    report = ingest_file(make_collection(spec=spec_text), warehouse)

    assert_counts_reconcile([report], warehouse)
    [(_, source_line, codes, reasons, _)] = quarantine_rows(warehouse)
    assert source_line == 6
    assert codes == ["outside_bins:age_group"]
    assert reasons == ["`age`: 19 is outside every bin of `age_group`"]


def test_alias_maps_to_category(make_collection, warehouse):
    report = ingest_file(make_collection(), warehouse)

    assert_counts_reconcile([report], warehouse)
    incomes = fetch_all(warehouse, "select record_id, income from records order by record_id")
    assert incomes == [("p1", "low"), ("p2", "high"), ("p3", "low"), ("p4", "high"), ("p5", "low")]


def test_question_mark_reads_as_missing(make_collection, warehouse):
    report = ingest_file(make_collection(), warehouse)

    assert_counts_reconcile([report], warehouse)
    assert fetch_all(warehouse, "select race from records where record_id = 'p4'") == [(None,)]


def test_crlf_line_endings_load(make_collection, tmp_path, warehouse):
    spec_path = make_collection()
    data_path = tmp_path / "people.csv"
    data_path.write_bytes(SMALL_ROWS.replace("\n", "\r\n").encode())

    report = ingest_file(spec_path, warehouse)

    assert_counts_reconcile([report], warehouse)
    assert report.rows_loaded == 5
    incomes = fetch_all(warehouse, "select income from records where record_id = 'p5'")
    assert incomes == [("low",)]


def test_utf8_bom_file_loads(make_collection, tmp_path, warehouse):
    # Spreadsheet programs often save "CSV UTF-8" with a byte order mark before the header.
    spec_path = make_collection()
    data_path = tmp_path / "people.csv"
    data_path.write_bytes(b"\xef\xbb\xbf" + SMALL_ROWS.encode())

    report = ingest_file(spec_path, warehouse)

    assert_counts_reconcile([report], warehouse)
    assert report.rows_loaded == 5


def test_missing_input_file_raises(make_collection, tmp_path, warehouse):
    spec_path = make_collection()
    data_path = (tmp_path / "people.csv").resolve()
    data_path.unlink()

    with pytest.raises(InputFileError, match=re.escape(f"input file {data_path}: file not found")):
        ingest_file(spec_path, warehouse)
    assert not warehouse.exists()


def test_header_without_spec_column_raises(make_collection, tmp_path, warehouse):
    rows = SMALL_ROWS.replace("person_id,sex,", "person_id,gender,")
    spec_path = make_collection(rows=rows)
    data_path = (tmp_path / "people.csv").resolve()

    expected = "column `sex`, read by `sex` in the collection spec, is not in the file"
    with pytest.raises(InputFileError, match=expected) as raised:
        ingest_file(spec_path, warehouse)
    assert raised.value.path == data_path
    assert f"input file {data_path}: " in str(raised.value)
    assert table_counts(warehouse) == {"records": 0, "quarantine": 0, "batches": 0}


@pytest.fixture(scope="module")
def adult_ingested(tmp_path_factory) -> tuple[dict[str, BatchReport], Path]:
    """Ingest both bundled Adult files into a new warehouse once per module.

    Returns the batch reports by file name and the warehouse path.
    """
    warehouse = tmp_path_factory.mktemp("adult") / "adult.duckdb"
    spec = load_spec(ADULT_SPEC)
    reports = {path.name: ingest_batch.fn(spec, path, warehouse) for path in spec.source.files}
    return reports, warehouse


@pytest.mark.parametrize(
    ("name", "rows_read"),
    [
        pytest.param("adult.data", 32_561, id="training file"),
        pytest.param("adult.test", 16_281, id="test file"),
    ],
)
def test_adult_file_loads_every_row(adult_ingested, name, rows_read):
    reports, warehouse = adult_ingested
    report = reports[name]

    assert_counts_reconcile(list(reports.values()), warehouse)
    assert report.rows_read == rows_read
    assert report.rows_loaded == rows_read
    assert report.rows_quarantined == 0


@pytest.mark.parametrize(
    ("name", "lines_skipped"),
    [
        pytest.param("adult.data", {"blank": 1, "comment": 0}, id="training file"),
        pytest.param("adult.test", {"blank": 1, "comment": 1}, id="test file"),
    ],
)
def test_adult_skipped_lines_not_rows(adult_ingested, name, lines_skipped):
    reports, warehouse = adult_ingested

    assert_counts_reconcile(list(reports.values()), warehouse)
    assert reports[name].lines_skipped == lines_skipped
    stored = fetch_all(
        warehouse,
        f"select count_lines_skipped from batches where source_file = '{name}'",
    )
    assert stored == [(sum(lines_skipped.values()),)]


def test_adult_first_test_row_is_line_2(adult_ingested):
    reports, warehouse = adult_ingested
    batch_id = reports["adult.test"].batch_id

    assert_counts_reconcile(list(reports.values()), warehouse)
    lines = fetch_all(
        warehouse, f"select min(source_line) from records where batch_id = '{batch_id}'"
    )
    assert lines == [(2,)]


def test_adult_test_labels_drop_period(adult_ingested):
    reports, warehouse = adult_ingested
    batch_id = reports["adult.test"].batch_id

    assert_counts_reconcile(list(reports.values()), warehouse)
    labels = fetch_all(
        warehouse,
        f"select income, count(*) from records where batch_id = '{batch_id}' "
        "group by income order by income",
    )
    assert labels == [("<=50K", 12_435), (">50K", 3_846)]


def run_faircurate(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run the installed `faircurate` executable with analytics off and capture its output."""
    return subprocess.run(
        [str(FAIRCURATE), *arguments],
        cwd=cwd,
        env={**os.environ, **OFFLINE_ENV},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_check_spec_invalid_exits_1(make_collection, tmp_path):
    spec_path = make_collection(spec=SMALL_SPEC.replace("    role: label\n", "    role: outcome\n"))

    result = run_faircurate(["check-spec", str(spec_path)], tmp_path)

    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "key `fields.income.role`" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_ingest_missing_file_exits_1(make_collection, tmp_path):
    spec_path = make_collection()
    data_path = (tmp_path / "people.csv").resolve()
    data_path.unlink()
    warehouse = tmp_path / "small.duckdb"

    result = run_faircurate(["ingest", str(spec_path), "--warehouse", str(warehouse)], tmp_path)

    assert result.returncode == 1
    assert f"error: input file {data_path}: file not found" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout
