"""Build the measurement tables by running the SQL files under sql/ inside the warehouse."""

from __future__ import annotations

import itertools
from pathlib import Path

import duckdb
import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.errors import WarehouseError
from tasks.log import stage_logger
from tasks.paths import SQL_DIR
from tasks.spec import CELL_SEPARATOR, CollectionSpec
from tasks.warehouse import connect, ensure_records_table, fetch_value, quote_identifier

# In dependency order: diversity_by_attribute reads coverage_by_attribute.
MEASUREMENT_TABLES = (
    "coverage_by_attribute",
    "coverage_by_intersection",
    "diversity_by_attribute",
    "missingness",
    "quarantine_by_reason",
)


@task(name="measure_collection", cache_policy=NO_CACHE)
def measure_collection(spec: CollectionSpec, warehouse: Path) -> dict[str, int]:
    """Rebuild every measurement table from the records; return the row count of each."""
    logger = stage_logger()
    with connect(warehouse) as connection:
        ensure_records_table(connection, spec)
        count_records = fetch_value(connection, "select count(*) from records")
        if count_records == 0:
            raise WarehouseError(
                f"warehouse {warehouse} holds no records of `{spec.name}`; run "
                "`faircurate ingest` with the same --warehouse first"
            )
        write_spec_tables(connection, spec)
        create_value_views(connection, spec)
        row_counts = {}
        for table in MEASUREMENT_TABLES:
            run_measurement(connection, table, spec)
            row_counts[table] = fetch_value(connection, f"select count(*) from {table}")
    logger.info("measured %d records into %s", count_records, ", ".join(MEASUREMENT_TABLES))
    return row_counts


def run_measurement(
    connection: duckdb.DuckDBPyConnection, table: str, spec: CollectionSpec
) -> None:
    """Create or replace `table` from the query in sql/<table>.sql."""
    query = (SQL_DIR / f"{table}.sql").read_text()
    parameters = {"small_cell_size": spec.small_cell_size} if "$small_cell_size" in query else {}
    connection.execute(f"create or replace table {table} as {query}", parameters)


def write_spec_tables(connection: duckdb.DuckDBPyConnection, spec: CollectionSpec) -> None:
    """Store the parts of the spec that the SQL files join against."""
    fields = pl.DataFrame(
        {
            "field": [f.name for f in spec.fields],
            "role": [f.role for f in spec.fields],
            "supplied_by": [f.supplied_by for f in spec.fields],
            "position": list(range(1, len(spec.fields) + 1)),
        }
    )
    categories = pl.DataFrame(
        [
            {
                "attribute": f.name,
                "category": category,
                "position": position,
                "target_share": f.target_shares.get(category),
            }
            for f in spec.fields
            for position, category in enumerate(f.categories, start=1)
        ],
        schema={
            "attribute": pl.String,
            "category": pl.String,
            "position": pl.Int64,
            "target_share": pl.Float64,
        },
    )
    intersection_rows = []
    cell_rows = []
    for attributes in spec.intersections:
        name = CELL_SEPARATOR.join(attributes)
        for position, attribute in enumerate(attributes, start=1):
            intersection_rows.append(
                {"intersection": name, "attribute": attribute, "position": position}
            )
        category_lists = [spec.field(a).categories for a in attributes]
        for position, combination in enumerate(itertools.product(*category_lists), start=1):
            cell_rows.append(
                {
                    "intersection": name,
                    "cell": CELL_SEPARATOR.join(combination),
                    "position": position,
                }
            )
    intersections = pl.DataFrame(
        intersection_rows,
        schema={"intersection": pl.String, "attribute": pl.String, "position": pl.Int64},
    )
    cells = pl.DataFrame(
        cell_rows, schema={"intersection": pl.String, "cell": pl.String, "position": pl.Int64}
    )
    for table, frame in (
        ("spec_fields", fields),
        ("spec_categories", categories),
        ("spec_intersections", intersections),
        ("declared_cells", cells),
    ):
        connection.register("spec_frame", frame)
        connection.execute(f"create or replace table {table} as select * from spec_frame")
        connection.unregister("spec_frame")


def create_value_views(connection: duckdb.DuckDBPyConnection, spec: CollectionSpec) -> None:
    """Create `field_values` and `attribute_values`: the records in long form, one row per value.

    The column names come from the validated spec, never from the data.
    """
    casts = ", ".join(
        f"cast({quote_identifier(f.name)} as varchar) as {quote_identifier(f.name)}"
        for f in spec.fields
    )
    columns = ", ".join(quote_identifier(f.name) for f in spec.fields)
    connection.execute(
        f"""
        create or replace view field_values as
        select record_id, field, value
        from (select record_id, {casts} from records)
        unpivot include nulls (value for field in ({columns}))
        """
    )
    connection.execute(
        """
        create or replace view attribute_values as
        select field_values.record_id, field_values.field as attribute, field_values.value
        from field_values
        inner join spec_fields on field_values.field = spec_fields.field
        where spec_fields.role = 'demographic'
        """
    )
