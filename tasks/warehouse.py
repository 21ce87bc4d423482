"""The DuckDB warehouse: connection, schema, and the records table shaped by the spec."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb

from tasks.errors import WarehouseError
from tasks.paths import SQL_DIR
from tasks.settings import warehouse_settings
from tasks.spec import CollectionSpec

SCHEMA_TABLES = (
    "batches",
    "quarantine",
    "gate_runs",
    "gate_results",
    "releases",
    "release_members",
    "images",
    "annotations",
    "annotators",
    "consent_events",
    "alerts",
    "landing_files",
)
COLUMN_TYPES = {
    "category": "VARCHAR",
    "category_list": "VARCHAR[]",
    "text": "VARCHAR",
    "integer": "BIGINT",
}
# Every record of a collection of photos is one person in one image.
IMAGE_RECORD_COLUMNS = [
    ("image_id", "VARCHAR"),
    ("subject_id", "VARCHAR"),
    ("is_primary", "BOOLEAN"),
    ("capture_month", "VARCHAR"),
]


def resolve_warehouse(spec: CollectionSpec, warehouse: Path | str | None) -> Path:
    """Return the warehouse path to use: the given one, or warehouse/<collection>.duckdb."""
    return Path(warehouse) if warehouse else Path("warehouse") / f"{spec.name}.duckdb"


def quote_identifier(name: str) -> str:
    """Quote a spec-validated identifier for use in generated SQL."""
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def connect(path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse file, creating it and its schema tables when missing.

    The connection's memory limit and spill folder come from `tasks.settings`.
    """
    path = Path(path)
    settings = warehouse_settings()
    if read_only and not path.is_file():
        raise WarehouseError(
            f"warehouse {path} not found; run `faircurate ingest` with the same --warehouse first"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        connection = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as error:
        raise WarehouseError(
            f"warehouse {path} cannot be opened ({error}); is another faircurate command "
            "using it? Wait for it to finish, or pass another --warehouse"
        ) from None
    try:
        # Set after connecting rather than through `config`, because DuckDB rejects a second
        # connection to an open file whose config differs. The values were validated.
        connection.execute(f"set memory_limit = '{settings.memory_limit}'")
        if settings.temp_directory is not None:
            folder = str(settings.temp_directory).replace("'", "''")
            connection.execute(f"set temp_directory = '{folder}'")
        if not read_only:
            for table in SCHEMA_TABLES:
                connection.execute((SQL_DIR / "schema" / f"{table}.sql").read_text())
        yield connection
    finally:
        connection.close()


def ensure_records_table(connection: duckdb.DuckDBPyConnection, spec: CollectionSpec) -> None:
    """Create the `records` table from the spec's fields, or check that it matches them."""
    expected = [("record_id", "VARCHAR"), ("batch_id", "VARCHAR"), ("source_line", "BIGINT")]
    if spec.source.has_images:
        expected += IMAGE_RECORD_COLUMNS
    expected += [(f.name, COLUMN_TYPES[f.type]) for f in spec.fields]
    existing = connection.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_name = 'records' order by ordinal_position"
    ).fetchall()
    if not existing:
        columns = ", ".join(f"{quote_identifier(n)} {t}" for n, t in expected)
        connection.execute(f"create table records ({columns})")
        return
    if [tuple(c) for c in existing] != expected:
        have = ", ".join(f"{n} {t}" for n, t in existing)
        want = ", ".join(f"{n} {t}" for n, t in expected)
        raise WarehouseError(
            f"the warehouse's records table has columns ({have}) but the spec declares "
            f"({want}); use a new --warehouse for a changed set of fields"
        )


def warehouse_collection(connection: duckdb.DuckDBPyConnection) -> str | None:
    """Return the collection name stored in the warehouse, or None for an empty warehouse."""
    return fetch_value(connection, "select any_value(collection) from batches")


def check_collection(connection: duckdb.DuckDBPyConnection, spec: CollectionSpec) -> None:
    """Raise WarehouseError if the warehouse contains another collection than the spec's."""
    stored = warehouse_collection(connection)
    if stored is not None and stored != spec.name:
        raise WarehouseError(
            f"the warehouse contains collection `{stored}`, not `{spec.name}`; pass the "
            f"--warehouse of `{spec.name}` or a new path"
        )


def fetch_row(
    connection: duckdb.DuckDBPyConnection, query: str, parameters: list | None = None
) -> tuple | None:
    """Run a query and return its first row, or None; the result is read to the end.

    DuckDB 2.0 keeps a partly read result open and rejects the next statement on the same
    connection, so one-row reads go through here instead of `fetchone`.
    """
    rows = connection.execute(query, parameters or []).fetchall()
    return rows[0] if rows else None


def fetch_value(connection: duckdb.DuckDBPyConnection, query: str, parameters: list | None = None):
    """Run a query and return the first column of its first row, or None."""
    row = fetch_row(connection, query, parameters)
    return row[0] if row else None


def record_batch(
    connection: duckdb.DuckDBPyConnection,
    spec: CollectionSpec,
    *,
    batch_id: str,
    source_file: str,
    size_bytes: int,
    counts: tuple[int, int, int],
    lines_skipped: int,
    ingested_at: datetime,
) -> str | None:
    """Insert the batch's row; return the id of the batch of the same file that it replaces.

    `counts` are the rows read, loaded and quarantined. A new batch of a source file name that
    an earlier batch came from is a corrected or updated version of that file, so the earlier
    batch's records leave the next release (reason `superseded`) and stay for history.
    """
    replaced = fetch_value(
        connection,
        "select batch_id from batches where source_file = ? and batch_id not in "
        "(select replaces_batch_id from batches where replaces_batch_id is not null) "
        "order by ingested_at desc limit 1",
        [source_file],
    )
    connection.execute(
        "insert into batches values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            batch_id,
            spec.name,
            source_file,
            size_bytes,
            *counts,
            lines_skipped,
            spec.sha256,
            ingested_at,
            replaced,
        ],
    )
    return replaced
