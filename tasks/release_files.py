"""Write the files of a release folder: Parquet tables, images, validation results, datasheet
and manifest. Everything is written under a building folder that is renamed into place later."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from tasks.croissant import build_croissant
from tasks.dataset_card import render_dataset_card
from tasks.datasheet import DatasheetInputs, render_datasheet
from tasks.datasheet_html import render_datasheet_html
from tasks.datasheet_people import CONSENT_REASONS
from tasks.diff import diff_releases, render_changelog
from tasks.failpoints import failpoint
from tasks.gates import GateReport
from tasks.index_stability import compare_indices
from tasks.manifest import describe_files
from tasks.measure import measurement_tables
from tasks.media import strip_identifying_exif
from tasks.spec import CollectionSpec
from tasks.warehouse import fetch_value

# Aggregates only: per-person consent and per-annotator pay stay in the warehouse.
PUBLISHED_MEASUREMENTS = (
    "coverage_by_attribute",
    "coverage_by_intersection",
    "diversity_by_attribute",
    "missingness",
    "quarantine_by_reason",
    "coverage_by_stage",
    "privacy_findings",
    "crowdwork_summary",
    "associations",
    "association_cells",
    "bias_alignment_counts",
    "self_report_agreement",
    "annotator_agreement",
)
# Image columns a user needs; the source hash and EXIF findings stay in the warehouse.
RELEASED_IMAGE_COLUMNS = (
    "image_id, 'images/' || path as path, width, height, image_format, "
    "camera_make, camera_model, lens_model"
)


@dataclass(frozen=True)
class ReleaseIdentity:
    """The name of a release and its links to its parent, spec, records and schema."""

    version: str
    parent_version: str | None
    parent_path: Path | None
    published_at: datetime
    content_sha256: str
    schema_signature: str
    bump: str | None


def write_release_folder(
    connection: duckdb.DuckDBPyConnection,
    spec: CollectionSpec,
    gates: GateReport,
    folder: Path,
    identity: ReleaseIdentity,
) -> int:
    """Write every file of the release into `folder`, flush them to disk; return the records."""
    (folder / "data").mkdir(parents=True)
    (folder / "measurements").mkdir()
    (folder / "validation").mkdir()

    write_data(connection, spec, folder)
    removals = connection.sql(
        "select reason, count(*) as count_records from release_exclusions group by reason "
        "order by reason"
    ).pl()
    measurements = {}
    for table in measurement_tables(spec):
        measurements[table] = connection.sql(f"select * from {table}").pl()
        if table in PUBLISHED_MEASUREMENTS:
            query = _published_query(table, removals, spec.small_cell_size)
            _copy_to_parquet(connection, query, folder / "measurements" / f"{table}.parquet")
    stability = compare_indices(
        measurements["diversity_by_attribute"],
        identity.parent_path,
        identity.parent_version,
        spec.small_cell_size,
    )
    measurements["index_stability"] = stability
    stability.write_parquet(folder / "measurements" / "index_stability.parquet", compression="zstd")
    for result_file in sorted(gates.validation_dir.glob("*.json")):
        shutil.copy2(result_file, folder / "validation" / result_file.name)
    batches = connection.sql("select * from batches order by ingested_at, source_file").pl()
    count_records = int(fetch_value(connection, "select count(*) from release_candidates"))

    data_files = [
        (path.relative_to(folder).as_posix(), pq.read_metadata(path).num_rows)
        for path in sorted(folder.rglob("*.parquet"))
    ]
    inputs = DatasheetInputs(
        spec=spec,
        version=identity.version,
        parent_version=identity.parent_version,
        published_at=identity.published_at,
        gates=gates,
        measurements=measurements,
        batches=batches,
        data_files=data_files,
        removals=removals,
        count_records=count_records,
    )
    datasheet = render_datasheet(inputs)
    (folder / "datasheet.md").write_text(datasheet, encoding="utf-8")
    previous_coverage = None
    if identity.parent_path is not None:
        parent_coverage = identity.parent_path / "measurements" / "coverage_by_attribute.parquet"
        if parent_coverage.is_file():
            previous_coverage = pl.read_parquet(parent_coverage)
    (folder / "datasheet.html").write_text(
        render_datasheet_html(inputs, datasheet, previous_coverage), encoding="utf-8"
    )
    (folder / "README.md").write_text(render_dataset_card(inputs), encoding="utf-8")

    failpoint("release_data_written")
    manifest = {
        "collection": spec.name,
        "version": identity.version,
        "parent_version": identity.parent_version,
        "bump": identity.bump,
        "published_at": identity.published_at.isoformat(),
        "spec_sha256": spec.sha256,
        "content_sha256": identity.content_sha256,
        "schema_signature": identity.schema_signature,
        "gate_run_id": gates.gate_run_id,
        "gate_outcome": gates.outcome,
        "count_records": count_records,
        "removed_by_reason": dict(removals.iter_rows()),
        "files": describe_files(folder),
    }
    croissant = build_croissant(spec, folder, manifest, measurements)
    _write_json(folder / "croissant.json", croissant)
    manifest["files"] = describe_files(folder, known=manifest["files"])
    _write_json(folder / "manifest.json", manifest)
    if identity.parent_path is not None and (identity.parent_path / "manifest.json").is_file():
        # The diff reads both manifests, so it is written after the first one and listed in
        # the final one.
        diff = diff_releases(identity.parent_path, folder)
        _write_json(folder / "diff.json", diff)
        (folder / "CHANGELOG.md").write_text(render_changelog(diff), encoding="utf-8")
        manifest["files"] = describe_files(
            folder, exclude=("manifest.json",), known=manifest["files"]
        )
        _write_json(folder / "manifest.json", manifest)
    _fsync_tree(folder)
    return count_records


def _write_json(path: Path, document: dict) -> None:
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")


def _published_query(table: str, removals: pl.DataFrame, small_cell_size: int) -> str:
    """Return the query that publishes `table`.

    The shares before withdrawals are left out of `coverage_by_stage` when fewer records than
    the small-cell size left for consent reasons, because the difference would describe the
    people who withdrew.
    """
    if table == "coverage_by_stage":
        withdrawn = removals.filter(pl.col("reason").is_in(CONSENT_REASONS))["count_records"].sum()
        if 0 < withdrawn < small_cell_size:
            return "select * from coverage_by_stage where stage = 'released'"
    return f"select * from {table}"


def write_data(connection: duckdb.DuckDBPyConnection, spec: CollectionSpec, folder: Path) -> None:
    """Write the released records and, for photos, their images, image table and annotations.

    Images are copied with GPS and identifying EXIF removed; camera fields stay.
    """
    _copy_to_parquet(
        connection,
        "select c.* from release_candidates c join batches b using (batch_id) "
        "order by b.ingested_at, b.source_file, c.source_line",
        folder / "data" / "records.parquet",
    )
    _copy_to_parquet(
        connection,
        "select * from balancing_weights order by attribute, field, category, value",
        folder / "data" / "balancing_weights.parquet",
    )
    _copy_to_parquet(
        connection,
        "select * from bias_alignment_members "
        "order by attribute, field, category, batch_id, record_id",
        folder / "data" / "bias_alignment_members.parquet",
    )
    if not spec.source.has_images:
        return
    released_images = (
        "select * from images where (batch_id, image_id) in "
        "(select (batch_id, image_id) from release_candidates)"
    )
    _copy_to_parquet(
        connection,
        f"select {RELEASED_IMAGE_COLUMNS} from ({released_images}) order by image_id",
        folder / "data" / "images.parquet",
    )
    _copy_to_parquet(
        connection,
        "select a.image_id, a.subject_id, a.attribute, a.value, a.annotator_id, "
        "a.qa_annotator_id, a.supplied_by from annotations a "
        "where (a.batch_id, a.image_id) in (select (batch_id, image_id) from release_candidates) "
        "and (a.subject_id is null or a.subject_id in "
        "(select subject_id from release_candidates where image_id = a.image_id)) "
        "order by a.image_id, a.subject_id, a.attribute",
        folder / "data" / "annotations.parquet",
    )
    for (path,) in connection.execute(f"select path from ({released_images})").fetchall():
        target = folder / "images" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        strip_identifying_exif(spec.source.root / path, target)


def _copy_to_parquet(connection: duckdb.DuckDBPyConnection, query: str, path: Path) -> None:
    target = str(path).replace("'", "''")
    connection.execute(f"copy ({query}) to '{target}' (format parquet, compression zstd)")


def _fsync_tree(folder: Path) -> None:
    """Flush every file and folder of the release to disk before it is renamed into place."""
    for path in sorted(folder.rglob("*"), reverse=True):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
