"""Build the measurement tables by running the SQL files under sql/ inside the warehouse."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import duckdb
import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.bootstrap import add_bootstrap_intervals
from tasks.errors import SpecError, WarehouseError
from tasks.log import stage_logger
from tasks.media import find_duplicates
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
    "coverage_by_stage",
    "privacy_findings",
    "associations",
    "association_cells",
    "balancing_weights",
    "bias_alignment_counts",
    "bias_alignment_members",
)
# Measured only for collections of photos, which have images, consent and annotators.
IMAGE_MEASUREMENT_TABLES = (
    "consent_status",
    "annotator_pay",
    "crowdwork_summary",
    "image_metadata_findings",
    "image_duplicates",
    "self_report_agreement",
    "annotator_agreement",
)


def measurement_tables(spec: CollectionSpec) -> tuple[str, ...]:
    """Return the measurement tables of this kind of collection, in dependency order."""
    if spec.source.has_images:
        return MEASUREMENT_TABLES + IMAGE_MEASUREMENT_TABLES
    return MEASUREMENT_TABLES


@task(name="measure_collection", cache_policy=NO_CACHE)
def measure_collection(spec: CollectionSpec, warehouse: Path) -> dict[str, int]:
    """Rebuild every measurement table from the records; return the row count of each."""
    logger = stage_logger()
    with connect(warehouse) as connection:
        ensure_records_table(connection, spec)
        count_records = fetch_value(connection, "select count(*) from records")
        if count_records == 0:
            raise WarehouseError(
                f"warehouse {warehouse} contains no records of `{spec.name}`; run "
                "`faircurate ingest` with the same --warehouse first"
            )
        write_spec_tables(connection, spec)
        create_value_views(connection, spec)
        row_counts = {}
        tables = measurement_tables(spec)
        for table in tables:
            if table == "image_duplicates":
                write_image_duplicates(connection, spec)
            else:
                run_measurement(connection, table, spec)
            row_counts[table] = fetch_value(connection, f"select count(*) from {table}")
        check_sensitive_pairs_measured(connection, spec)
        started = time.perf_counter()
        run_measurement(connection, "subject_profiles", spec)
        add_bootstrap_intervals(connection, spec)
        logger.info(
            "bootstrap intervals: %d replicates (seed %d) in %.2f s",
            spec.bootstrap.replicates,
            spec.bootstrap.seed,
            time.perf_counter() - started,
        )
        count_released = fetch_value(connection, "select count(*) from release_candidates")
    logger.info(
        "measured %d records (%d would be released) into %s",
        count_records,
        count_released,
        ", ".join(tables),
    )
    return row_counts


def run_measurement(
    connection: duckdb.DuckDBPyConnection, table: str, spec: CollectionSpec
) -> None:
    """Create or replace `table` from the query in sql/<table>.sql."""
    query = (SQL_DIR / f"{table}.sql").read_text()
    consent = spec.policies.consent
    available = {
        "small_cell_size": spec.small_cell_size,
        "required_scopes": list(consent.required_scopes) if consent else [],
        "default_age_of_majority": consent.default_age_of_majority if consent else None,
        "min_pay_ratio": spec.policies.process.min_pay_ratio,
        "max_association_categories": spec.max_association_categories,
        "derived_fields": [
            {"field": f.name, "derived_from": f.derived_from} for f in spec.fields if f.derived_from
        ],
        # The 97.5th percentile of the standard normal, for 95% Wilson intervals.
        "z": 1.959964,
    }
    parameters = {name: value for name, value in available.items() if f"${name}" in query}
    connection.execute(f"create or replace table {table} as {query}", parameters)


def check_sensitive_pairs_measured(
    connection: duckdb.DuckDBPyConnection, spec: CollectionSpec
) -> None:
    """Raise SpecError for a sensitive pair that `associations` left out.

    A pair is left out when a field has more distinct values than
    `measurement.max_association_categories`, so its gate would otherwise pass unseen.
    """
    measured = set(connection.execute("select attribute, field from associations").fetchall())
    for i, pair in enumerate(spec.sensitive_pairs):
        if (pair.attribute, pair.field) not in measured:
            raise SpecError(
                spec.path,
                f"measurement.sensitive_pairs[{i}]",
                f"`{pair.attribute}` with `{pair.field}` was not measured because one of them "
                "has more distinct values than measurement.max_association_categories "
                f"({spec.max_association_categories}); raise that limit or remove the pair",
            )


def write_image_duplicates(connection: duckdb.DuckDBPyConnection, spec: CollectionSpec) -> None:
    """Build `image_duplicates`: pairs of current images that are exact or near duplicates.

    Near duplicates compare perceptual hashes (dHash), which SQL cannot do, so this table is
    built in Python from the `images` table. `is_released` is true when both images of the
    pair are in the next release (exact copies after the first never are).
    """
    images = connection.sql(
        "select i.image_id, i.primary_subject_id as subject_id, i.sha256, i.dhash from images i "
        "where i.batch_id not in "
        "(select replaces_batch_id from batches where replaces_batch_id is not null)"
    ).pl()
    released = {
        row[0]
        for row in connection.execute("select distinct image_id from release_candidates").fetchall()
    }
    pairs = find_duplicates(images, max_distance=spec.policies.near_duplicate_distance)
    pairs = pairs.with_columns(
        (
            pl.col("image_id_a").is_in(list(released)) & pl.col("image_id_b").is_in(list(released))
        ).alias("is_released")
    )
    connection.register("duplicate_pairs", pairs)
    connection.execute("create or replace table image_duplicates as select * from duplicate_pairs")
    connection.unregister("duplicate_pairs")


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
    policies = spec.policies
    majority = pl.DataFrame(
        {
            "country": list(policies.consent.age_of_majority) if policies.consent else [],
            "age_of_majority": list(policies.consent.age_of_majority.values())
            if policies.consent
            else [],
        },
        schema={"country": pl.String, "age_of_majority": pl.Int64},
    )
    wages = pl.DataFrame(
        {
            "country": list(policies.process.minimum_wage),
            "amount": [w.amount for w in policies.process.minimum_wage.values()],
            "currency": [w.currency for w in policies.process.minimum_wage.values()],
        },
        schema={"country": pl.String, "amount": pl.Float64, "currency": pl.String},
    )
    privacy = pl.DataFrame(
        {"field": list(policies.privacy.text_columns)}, schema={"field": pl.String}
    )
    sensitive_pairs = pl.DataFrame(
        {
            "attribute": [pair.attribute for pair in spec.sensitive_pairs],
            "field": [pair.field for pair in spec.sensitive_pairs],
        },
        schema={"attribute": pl.String, "field": pl.String},
    )
    for table, frame in (
        ("spec_fields", fields),
        ("spec_categories", categories),
        ("spec_intersections", intersections),
        ("declared_cells", cells),
        ("spec_age_of_majority", majority),
        ("spec_minimum_wage", wages),
        ("spec_privacy_columns", privacy),
        ("spec_sensitive_pairs", sensitive_pairs),
    ):
        connection.register("spec_frame", frame)
        connection.execute(f"create or replace table {table} as select * from spec_frame")
        connection.unregister("spec_frame")


def create_value_views(connection: duckdb.DuckDBPyConnection, spec: CollectionSpec) -> None:
    """Build `release_exclusions` and the views every measurement reads.

    `release_candidates` holds the records the next release would contain. `field_values` and
    `attribute_values` hold those records in long form, one row per value, and
    `all_attribute_values` the same for every loaded record. The column names come from the
    validated spec, never from the data.
    """
    keys = (
        "image_id, subject_id"
        if spec.source.has_images
        else ("cast(null as varchar) as image_id, cast(null as varchar) as subject_id")
    )
    connection.execute(
        f"create or replace view record_keys as select record_id, batch_id, {keys} from records"
    )
    run_measurement(connection, "release_exclusions", spec)
    connection.execute(
        """
        create or replace view release_candidates as
        select * from records
        where not exists (
            select 1 from release_exclusions
            where release_exclusions.batch_id = records.batch_id
                and release_exclusions.record_id = records.record_id
        )
        """
    )
    casts = ", ".join(
        f"cast({quote_identifier(f.name)} as varchar) as {quote_identifier(f.name)}"
        for f in spec.fields
    )
    columns = ", ".join(quote_identifier(f.name) for f in spec.fields)
    for view, table in (("field_values", "release_candidates"), ("all_field_values", "records")):
        connection.execute(
            f"""
            create or replace view {view} as
            select record_id, batch_id, field, value
            from (select record_id, batch_id, {casts} from {table})
            unpivot include nulls (value for field in ({columns}))
            """
        )
    for view, source in (
        ("attribute_values", "field_values"),
        ("all_attribute_values", "all_field_values"),
    ):
        connection.execute(
            f"""
            create or replace view {view} as
            select {source}.record_id, {source}.batch_id, {source}.field as attribute,
                {source}.value
            from {source}
            inner join spec_fields on {source}.field = spec_fields.field
            where spec_fields.role = 'demographic'
            """
        )
    if spec.source.has_images:
        connection.execute(
            """
            create or replace view subjects as
            select
                subject_id,
                count(*) as count_appearances,
                count(distinct image_id) as count_images,
                count(*) filter (where is_primary) as count_primary_appearances
            from records
            where batch_id not in (
                select replaces_batch_id from batches where replaces_batch_id is not null
            )
            group by subject_id
            """
        )
        has_age = any(f.name == "age" and f.type == "integer" for f in spec.fields)
        age = '"age"' if has_age else "cast(null as bigint)"
        connection.execute(
            f"""
            create or replace view candidate_people as
            select record_id, image_id, subject_id, is_primary, {age} as age_at_capture
            from release_candidates
            """
        )
