"""The warehouse connection's memory limit and spill folder, set from the environment."""

from __future__ import annotations

import pytest

from tasks.errors import WarehouseError
from tasks.settings import (
    DEFAULT_MEMORY_LIMIT,
    MEMORY_LIMIT_VARIABLE,
    TEMP_DIRECTORY_VARIABLE,
    warehouse_settings,
)
from tasks.warehouse import connect


def current_settings(path):
    with connect(path) as connection:
        return connection.execute(
            "select current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchall()[0]


def test_default_memory_limit_applied(tmp_path, monkeypatch):
    monkeypatch.delenv(MEMORY_LIMIT_VARIABLE, raising=False)
    monkeypatch.delenv(TEMP_DIRECTORY_VARIABLE, raising=False)
    memory_limit, temp_directory = current_settings(tmp_path / "w.duckdb")
    assert DEFAULT_MEMORY_LIMIT == "1GB"
    # DuckDB reports 1GB (10^9 bytes) in binary units.
    assert memory_limit == "953.6 MiB"
    assert temp_directory == str(tmp_path / "w.duckdb.tmp")


def test_environment_sets_limit_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_VARIABLE, "256MB")
    monkeypatch.setenv(TEMP_DIRECTORY_VARIABLE, str(tmp_path / "spill"))
    memory_limit, temp_directory = current_settings(tmp_path / "w.duckdb")
    assert memory_limit == "244.1 MiB"
    assert temp_directory == str(tmp_path / "spill")


def test_sort_larger_than_limit_completes(tmp_path, monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_VARIABLE, "64MB")
    monkeypatch.setenv(TEMP_DIRECTORY_VARIABLE, str(tmp_path / "spill"))
    with connect(tmp_path / "w.duckdb") as connection:
        connection.execute("set threads = 1")
        connection.execute(
            "create table big as select i, md5(i::varchar) as text from range(2000000) t(i)"
        )
        [(count, largest)] = connection.execute(
            "select count(*), max(text) from (select text from big order by text)"
        ).fetchall()
    assert count == 2_000_000
    assert len(largest) == 32


@pytest.mark.parametrize("value", ["lots", "12", "GB", "1.5 parsecs"])
def test_invalid_memory_limit_rejected(value):
    with pytest.raises(WarehouseError, match=f"{MEMORY_LIMIT_VARIABLE} is '{value}', not a size"):
        warehouse_settings({MEMORY_LIMIT_VARIABLE: value})


def test_temp_directory_file_rejected(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(WarehouseError, match="which is a file; set it to a folder"):
        warehouse_settings({TEMP_DIRECTORY_VARIABLE: str(path)})


@pytest.mark.parametrize(("value", "expected"), [("2GB", "2GB"), (" 512 mib ", "512 mib")])
def test_valid_memory_limit_accepted(value, expected):
    assert warehouse_settings({MEMORY_LIMIT_VARIABLE: value}).memory_limit == expected


@pytest.mark.parametrize("value", ["0GB", "1KB", "31MB", "30MiB"])
def test_tiny_memory_limit_rejected(value):
    with pytest.raises(WarehouseError, match=f"is '{value}', too little for DuckDB"):
        warehouse_settings({MEMORY_LIMIT_VARIABLE: value})
