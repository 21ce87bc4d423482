"""Read a folder of images described by a metadata table (CSV, Parquet or JSON Lines).

Each metadata row is one person in one image: `source.image_column` gives the image path
relative to `source.root`, and `source.subject_column` the person (one person per image, named
after the image, when the spec leaves it out). Such a folder carries no annotators, and no
consent records unless the metadata has them, so its consent gate fails until they exist.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from tasks.errors import InputFileError
from tasks.spec import SourceSpec

QUARANTINE_SCHEMA = {
    "batch_id": pl.String,
    "source_file": pl.String,
    "source_line": pl.Int64,
    "reason_codes": pl.List(pl.String),
    "reasons": pl.List(pl.String),
    "raw_record": pl.String,
}
CONSENT_SCHEMA = {
    "subject_id": pl.String,
    "event": pl.String,
    "form_version": pl.String,
    "scopes": pl.List(pl.String),
    "signed_on": pl.Date,
    "jurisdiction": pl.String,
    "country_of_residence": pl.String,
    "source_line": pl.Int64,
}
ANNOTATION_SCHEMA = {
    "image_id": pl.String,
    "subject_id": pl.String,
    "attribute": pl.String,
    "value": pl.String,
    "annotator_id": pl.String,
    "qa_annotator_id": pl.String,
    "supplied_by": pl.String,
}
ANNOTATOR_SCHEMA = {
    "annotator_id": pl.String,
    "role": pl.String,
    "age": pl.Int64,
    "pronoun": pl.List(pl.String),
    "ancestry": pl.List(pl.String),
    "country": pl.String,
    "pay_per_hour": pl.Float64,
    "currency": pl.String,
    "has_disclosed_demographics": pl.Boolean,
}


@dataclass(frozen=True)
class ImageFolderBatch:
    """The metadata of an image folder in the shape the image-collection loader reads."""

    batch_id: str
    root: Path
    metadata_file: Path
    appearances: pl.DataFrame
    images: pl.DataFrame
    annotations: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=ANNOTATION_SCHEMA)
    )
    annotators: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ANNOTATOR_SCHEMA))
    consent_events: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=CONSENT_SCHEMA)
    )
    quarantine: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=QUARANTINE_SCHEMA))
    has_consent_records: bool = False


def read_image_folder(source: SourceSpec) -> ImageFolderBatch:
    """Read the metadata table; the batch id is the SHA-256 of its bytes."""
    path = source.metadata
    data = path.read_bytes()
    try:
        if path.suffix == ".csv":
            table = pl.read_csv(path, infer_schema=False)
        elif path.suffix == ".parquet":
            table = pl.read_parquet(path)
        else:
            table = pl.read_ndjson(path)
    except (pl.exceptions.PolarsError, OSError) as error:
        raise InputFileError(path, f"cannot be read as a metadata table: {error}") from None
    for column in (source.image_column, source.subject_column):
        if column and column not in table.columns:
            raise InputFileError(
                path,
                f"column `{column}` named in the spec is not in the table "
                f"({', '.join(table.columns)})",
            )

    subject = (
        pl.col(source.subject_column) if source.subject_column else pl.col(source.image_column)
    )
    appearances = table.with_row_index(
        "source_line", offset=2 if path.suffix == ".csv" else 1
    ).with_columns(
        pl.col(source.image_column).cast(pl.String).alias("image_id"),
        subject.cast(pl.String).alias("subject_id"),
        pl.lit(True).alias("is_primary"),
        pl.lit(None, dtype=pl.String).alias("capture_month"),
        (pl.col(source.image_column).cast(pl.String) + ":" + subject.cast(pl.String)).alias(
            "record_id"
        ),
    )
    images = appearances.select(
        "image_id",
        pl.col("subject_id").alias("primary_subject_id"),
        pl.col("image_id").alias("path"),
    ).unique("image_id", keep="first", maintain_order=True)
    return ImageFolderBatch(
        batch_id=hashlib.sha256(data).hexdigest(),
        root=source.root,
        metadata_file=path,
        appearances=appearances,
        images=images,
    )
