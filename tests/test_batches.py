"""Batches over time: a corrected file replaces its earlier batch in the next release."""

from __future__ import annotations

import duckdb
import pytest

from flows.pipeline import run
from tests.conftest import SMALL_ROWS

CORRECTED_ROWS = SMALL_ROWS.replace("p4,Male,?,61,high", "p4,Male,C,61,high")


@pytest.fixture
def two_runs(prefect_server, make_collection, tmp_path):
    spec_path = make_collection()
    warehouse = tmp_path / "w.duckdb"
    releases = tmp_path / "releases"
    first = run(str(spec_path), str(warehouse), str(releases))
    (tmp_path / "people.csv").write_text(CORRECTED_ROWS)
    second = run(str(spec_path), str(warehouse), str(releases))
    return first, second, warehouse


def test_corrected_file_replaces_batch(two_runs):
    first, second, _ = two_runs
    assert second.batches[0].replaces_batch_id == first.batches[0].batch_id
    assert second.release.version == "1.1.0"
    assert second.release.count_records == 5


def test_replaced_records_leave_release(two_runs):
    _, second, warehouse = two_runs
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        released = connection.execute(
            "select batch_id, count(*) from release_members where version = '1.1.0' "
            "group by batch_id"
        ).fetchall()
        total = connection.execute("select count(*) from records").fetchall()
    assert released == [(second.batches[0].batch_id, 5)]
    assert total == [(10,)]


def test_replaced_batch_counted_in_datasheet(two_runs):
    _, second, _ = two_runs
    datasheet = (second.release.path / "datasheet.md").read_text()
    assert "| replaced by a later batch of the same file | 5 |" in datasheet
