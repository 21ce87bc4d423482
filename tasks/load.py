"""Load one batch into the warehouse in a single transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.adapters.delimited import RawBatch, read_delimited
from tasks.log import stage_logger
from tasks.normalise import NormalisedBatch, normalise_batch
from tasks.spec import CollectionSpec
from tasks.warehouse import (
    check_collection,
    connect,
    ensure_records_table,
    fetch_row,
    record_batch,
)


@dataclass(frozen=True)
class BatchReport:
    """The counts of one ingested source file; `rows_read == rows_loaded + rows_quarantined`."""

    batch_id: str
    source_file: str
    already_ingested: bool
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    lines_skipped: dict[str, int]
    replaces_batch_id: str | None = None


@dataclass(frozen=True)
class BatchSummary:
    """The identity and counts of a read source file, which loading needs besides its rows."""

    batch_id: str
    path: Path
    size_bytes: int
    rows_read: int
    lines_skipped: dict[str, int]

    @classmethod
    def of(cls, batch: RawBatch) -> BatchSummary:
        return cls(batch.batch_id, batch.path, batch.size_bytes, batch.rows.height,
                   batch.lines_skipped)  # fmt: skip


@task(name="ingest_batch", cache_policy=NO_CACHE)
def ingest_batch(spec: CollectionSpec, path: Path, warehouse: Path) -> BatchReport:
    """Read, normalise and load one source file as one batch.

    A batch whose content hash is already in the warehouse is skipped, so ingesting the same
    file twice changes nothing. Rows that fail a check go to `quarantine` with their reasons.
    """
    batch = read_delimited(path, spec.source)
    return load_batch(spec, BatchSummary.of(batch), warehouse, lambda: normalise_batch(spec, batch))


def load_batch(
    spec: CollectionSpec,
    summary: BatchSummary,
    warehouse: Path,
    normalise: Callable[[], NormalisedBatch],
) -> BatchReport:
    """Load one normalised source file in one transaction, unless its batch is already loaded.

    `normalise` is called only when the batch is new, so a skipped batch costs no checks.
    """
    logger = stage_logger()
    path = summary.path
    with connect(warehouse) as connection:
        check_collection(connection, spec)
        ensure_records_table(connection, spec)
        previous = fetch_row(
            connection,
            "select count_rows_read, count_rows_loaded, count_rows_quarantined "
            "from batches where batch_id = ?",
            [summary.batch_id],
        )
        if previous is not None:
            logger.info(
                "batch %s (%s): already ingested, skipped", summary.batch_id[:12], path.name
            )
            return BatchReport(
                summary.batch_id, path.name, True, *previous, lines_skipped=summary.lines_skipped
            )

        normalised = normalise()
        if spec.source.id_column is not None:
            normalised = _quarantine_known_ids(connection, path.name, normalised)
        accounted = normalised.loaded.height + normalised.quarantined.height
        if summary.rows_read != accounted:
            message = f"{path}: {summary.rows_read} rows read but {accounted} loaded or quarantined"
            raise RuntimeError(message)
        loaded, quarantined = normalised.loaded, normalised.quarantined
        now = datetime.now(UTC)

        connection.execute("begin transaction")
        try:
            connection.register("loaded_rows", loaded)
            connection.register("quarantined_rows", quarantined)
            connection.execute(
                "insert into records by name select * exclude (raw_record) from loaded_rows"
            )
            connection.execute(
                "insert into quarantine by name "
                "select *, ?::timestamptz as quarantined_at from quarantined_rows",
                [now],
            )
            replaced = record_batch(
                connection,
                spec,
                batch_id=summary.batch_id,
                source_file=path.name,
                size_bytes=summary.size_bytes,
                counts=(summary.rows_read, loaded.height, quarantined.height),
                lines_skipped=sum(summary.lines_skipped.values()),
                ingested_at=now,
            )
            connection.execute("commit")
        except BaseException:
            connection.execute("rollback")
            raise
        finally:
            connection.unregister("loaded_rows")
            connection.unregister("quarantined_rows")

    if replaced:
        logger.warning(
            "batch %s (%s) replaces batch %s of the same file; its records leave the next release",
            summary.batch_id[:12],
            path.name,
            replaced[:12],
        )
    logger.info(
        "batch %s (%s): %d rows read, %d loaded, %d quarantined",
        summary.batch_id[:12],
        path.name,
        summary.rows_read,
        loaded.height,
        quarantined.height,
    )
    return BatchReport(
        batch_id=summary.batch_id,
        source_file=path.name,
        already_ingested=False,
        rows_read=summary.rows_read,
        rows_loaded=loaded.height,
        rows_quarantined=quarantined.height,
        lines_skipped=summary.lines_skipped,
        replaces_batch_id=replaced,
    )


def _quarantine_known_ids(
    connection: duckdb.DuckDBPyConnection, source_file: str, normalised: NormalisedBatch
) -> NormalisedBatch:
    """Move rows whose id is in a current batch of another file from `loaded` to `quarantined`."""
    ids = normalised.loaded.select("record_id")
    connection.register("incoming_ids", ids)
    try:
        # Records of an earlier version of this file, or of any replaced batch, do not count.
        known = connection.sql(
            "select r.record_id, b.source_file as first_file, r.source_line as first_line "
            "from records r join incoming_ids using (record_id) join batches b using (batch_id) "
            "where b.source_file <> ? and b.batch_id not in "
            "(select replaces_batch_id from batches where replaces_batch_id is not null)",
            params=[source_file],
        ).pl()
    finally:
        connection.unregister("incoming_ids")
    if known.height == 0:
        return normalised
    clashes = normalised.loaded.join(known, on="record_id")
    moved = clashes.select(
        "batch_id",
        pl.lit(source_file).alias("source_file"),
        "source_line",
        pl.concat_list(pl.lit("duplicate_id")).alias("reason_codes"),
        pl.concat_list(
            pl.format(
                "id '{}' was already loaded from line {} of {}",
                "record_id",
                "first_line",
                "first_file",
            )
        ).alias("reasons"),
        "raw_record",
        pl.lit(None, pl.String).alias("demographic_values"),
    )
    return NormalisedBatch(
        loaded=normalised.loaded.join(known, on="record_id", how="anti"),
        quarantined=pl.concat([normalised.quarantined, moved]),
    )
