"""Load a collection of photos of people (FHIBE layout or image folder) as one batch.

The batch is the whole metadata of the collection: appearances (one person in one image),
images with their media checks, annotations, annotators and consent events, all written in one
transaction. An image is loaded whole or not at all: when its file fails a media check, or
any person in it fails a field check, every appearance of that image is quarantined.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.adapters.delimited import RawBatch
from tasks.adapters.fhibe import METADATA_CSV, normalise_country_key, read_fhibe
from tasks.adapters.image_folder import read_image_folder
from tasks.errors import InputFileError
from tasks.load import BatchReport
from tasks.log import stage_logger
from tasks.media import check_images
from tasks.normalise import NormalisedBatch, normalise_batch
from tasks.runners import runs_on_cluster
from tasks.scale_out import check_images_on_workers
from tasks.spec import CollectionSpec
from tasks.warehouse import (
    check_collection,
    connect,
    ensure_records_table,
    fetch_row,
    record_batch,
)

APPEARANCE_KEYS = ("image_id", "subject_id", "is_primary", "capture_month")


@task(name="ingest_image_collection", cache_policy=NO_CACHE)
def ingest_image_collection(spec: CollectionSpec, warehouse: Path) -> BatchReport:
    """Read, check and load the collection's metadata and media as one batch."""
    logger = stage_logger()
    source = _read_source(spec)
    metadata_name = _metadata_name(spec, source)
    with connect(warehouse) as connection:
        check_collection(connection, spec)
        ensure_records_table(connection, spec)
        previous = fetch_row(
            connection,
            "select count_rows_read, count_rows_loaded, count_rows_quarantined "
            "from batches where batch_id = ?",
            [source.batch_id],
        )
        if previous is not None:
            logger.info("batch %s: already ingested, skipped", source.batch_id[:12])
            return BatchReport(source.batch_id, metadata_name, True, *previous, lines_skipped={})

        image_paths = source.images["path"].to_list()
        if runs_on_cluster():
            media = check_images_on_workers(source.root, image_paths)
        else:
            media = check_images(source.root, image_paths)
        measured = media.drop("path")
        images = pl.concat(
            [
                source.images.drop([c for c in measured.columns if c in source.images.columns]),
                measured,
            ],
            how="horizontal",
        )
        rows_read = source.appearances.height + _adapter_rows_quarantined(source, metadata_name)
        appearances = _with_capture_month(source.appearances)
        normalised = _normalise(spec, source, appearances, images, metadata_name)
        loaded_images = images.join(
            normalised.loaded.select("image_id").unique(), on="image_id", how="semi"
        )
        quarantined = pl.concat([source.quarantine, normalised.quarantined], how="diagonal_relaxed")
        rows_quarantined = quarantined.filter(pl.col("source_file") == metadata_name).height
        if rows_read != normalised.loaded.height + rows_quarantined:
            message = (
                f"{metadata_name}: {rows_read} rows read but {normalised.loaded.height} loaded "
                f"and {rows_quarantined} quarantined"
            )
            raise RuntimeError(message)

        _write_batch(
            connection,
            spec,
            source,
            metadata_name,
            normalised.loaded,
            loaded_images,
            quarantined,
            rows_read,
            rows_quarantined,
        )

    logger.info(
        "batch %s (%s): %d appearances read, %d loaded, %d quarantined; %d of %d images loaded",
        source.batch_id[:12],
        metadata_name,
        rows_read,
        normalised.loaded.height,
        rows_quarantined,
        loaded_images.height,
        images.height,
    )
    return BatchReport(
        batch_id=source.batch_id,
        source_file=metadata_name,
        already_ingested=False,
        rows_read=rows_read,
        rows_loaded=normalised.loaded.height,
        rows_quarantined=rows_quarantined,
        lines_skipped={},
    )


def load_country_map(path: Path) -> dict[str, tuple[str, str]]:
    """Read the spec's country table (free_text, country, region) into the adapter's map."""
    table = pl.read_csv(path, infer_schema=False)
    missing = {"free_text", "country", "region"} - set(table.columns)
    if missing:
        raise InputFileError(
            path, f"needs the columns free_text, country and region; missing {sorted(missing)}"
        )
    return {
        normalise_country_key(row["free_text"]): (row["country"], row["region"])
        for row in table.iter_rows(named=True)
    }


def _read_source(spec: CollectionSpec):
    if spec.source.format == "fhibe":
        return read_fhibe(spec.source.root, load_country_map(spec.source.country_map))
    return read_image_folder(spec.source)


def _metadata_name(spec: CollectionSpec, source) -> str:
    if spec.source.format == "image_folder":
        return spec.source.metadata.name
    return METADATA_CSV


def _adapter_rows_quarantined(source, metadata_name: str) -> int:
    return source.quarantine.filter(pl.col("source_file") == metadata_name).height


def _with_capture_month(appearances: pl.DataFrame) -> pl.DataFrame:
    """Coarsen the capture date to its month, so no exact date enters the warehouse."""
    if "capture_date" in appearances.columns:
        month = pl.col("capture_date").cast(pl.Date, strict=False).dt.strftime("%Y-%m")
        return appearances.with_columns(month.alias("capture_month")).drop("capture_date")
    if "capture_month" not in appearances.columns:
        return appearances.with_columns(pl.lit(None, dtype=pl.String).alias("capture_month"))
    return appearances


def _normalise(
    spec: CollectionSpec,
    source,
    appearances: pl.DataFrame,
    images: pl.DataFrame,
    metadata_name: str,
) -> NormalisedBatch:
    """Check every appearance against the spec and quarantine whole images that fail."""
    bad_media = images.filter(~pl.col("is_valid")).select("image_id", "reason_code", "reason")
    with_raw = appearances.with_columns(
        pl.struct(pl.all()).struct.json_encode().alias("raw_record"),
    )
    media_rejects = with_raw.join(bad_media, on="image_id").select(
        pl.lit(source.batch_id).alias("batch_id"),
        pl.lit(metadata_name).alias("source_file"),
        pl.col("source_line").cast(pl.Int64),
        pl.concat_list("reason_code").alias("reason_codes"),
        pl.concat_list("reason").alias("reasons"),
        "raw_record",
    )
    checkable = with_raw.join(bad_media, on="image_id", how="anti")
    raw = RawBatch(
        batch_id=source.batch_id,
        path=Path(metadata_name),
        size_bytes=0,
        columns=tuple(checkable.columns),
        rows=checkable.with_columns(
            pl.lit(len(checkable.columns)).cast(pl.UInt32).alias("field_count")
        ),
        lines_skipped={},
        source_file=metadata_name,
    )
    normalised = normalise_batch(spec, raw, carried_columns=APPEARANCE_KEYS)

    demographic = [f.name for f in spec.fields if f.role == "demographic"]
    # A person quarantined in an image takes the other people of that image with them.
    broken_images = (
        normalised.quarantined.join(checkable.select("source_line", "image_id"), on="source_line")
        .select("image_id")
        .unique()
    )
    companions = normalised.loaded.join(broken_images, on="image_id", how="semi").select(
        pl.lit(source.batch_id).alias("batch_id"),
        pl.lit(metadata_name).alias("source_file"),
        pl.col("source_line").cast(pl.Int64),
        pl.concat_list(pl.lit("image_incomplete")).alias("reason_codes"),
        pl.concat_list(
            pl.format(
                "image {} has another person who was quarantined; fix that row and ingest again",
                "image_id",
            )
        ).alias("reasons"),
        "raw_record",
        (
            pl.struct(demographic).struct.json_encode() if demographic else pl.lit(None, pl.String)
        ).alias("demographic_values"),
    )
    quarantined = pl.concat(
        [
            normalised.quarantined.with_columns(pl.col("source_line").cast(pl.Int64)),
            media_rejects,
            companions,
        ],
        how="diagonal_relaxed",
    )
    loaded = normalised.loaded.join(broken_images, on="image_id", how="anti")
    return NormalisedBatch(loaded=loaded, quarantined=quarantined)


def _write_batch(
    connection: duckdb.DuckDBPyConnection,
    spec: CollectionSpec,
    source,
    metadata_name: str,
    loaded: pl.DataFrame,
    images: pl.DataFrame,
    quarantined: pl.DataFrame,
    rows_read: int,
    rows_quarantined: int,
) -> None:
    now = datetime.now(UTC)
    batch_id = source.batch_id
    annotations = source.annotations.join(images.select("image_id"), on="image_id", how="semi")
    frames = {
        "loaded_rows": loaded,
        "loaded_images": images.with_columns(pl.lit(batch_id).alias("batch_id")),
        "loaded_annotations": annotations.with_columns(pl.lit(batch_id).alias("batch_id")),
        "loaded_annotators": source.annotators.with_columns(pl.lit(batch_id).alias("batch_id")),
        "loaded_consent": source.consent_events.with_columns(
            pl.lit(f"{metadata_name} [{batch_id[:12]}]").alias("source")
        ),
        "quarantined_rows": quarantined.with_columns(pl.lit(batch_id).alias("batch_id")),
    }
    connection.execute("begin transaction")
    try:
        for name, frame in frames.items():
            connection.register(name, frame)
        connection.execute(
            "insert into records by name select * exclude (raw_record) from loaded_rows"
        )
        connection.execute(
            "insert into images by name select image_id, batch_id, primary_subject_id, path, "
            "sha256, width, height, image_format, dhash, camera_make, camera_model, lens_model, "
            "has_gps, identifying_exif_tags from loaded_images"
        )
        connection.execute("insert into annotations by name select * from loaded_annotations")
        connection.execute(
            "insert into annotators by name select * from loaded_annotators "
            "where annotator_id not in (select annotator_id from annotators)"
        )
        connection.execute(
            "insert into consent_events by name "
            "select * exclude (source_line), ?::timestamptz as recorded_at from loaded_consent c "
            "where not exists (select 1 from consent_events e where e.subject_id = c.subject_id "
            "and e.event = c.event and e.signed_on is not distinct from c.signed_on)",
            [now],
        )
        connection.execute(
            "insert into quarantine by name select *, ?::timestamptz as quarantined_at "
            "from quarantined_rows",
            [now],
        )
        record_batch(
            connection,
            spec,
            batch_id=batch_id,
            source_file=metadata_name,
            size_bytes=0,
            counts=(rows_read, loaded.height, rows_quarantined),
            lines_skipped=0,
            ingested_at=now,
        )
        connection.execute("commit")
    except BaseException:
        connection.execute("rollback")
        raise
    finally:
        for name in frames:
            connection.unregister(name)
