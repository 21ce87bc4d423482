"""Publish a release: an immutable folder of Parquet tables, validation results, datasheet and
manifest, registered in the warehouse with the records it contains."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.datasheet import DatasheetInputs, render_datasheet
from tasks.errors import ReleaseError
from tasks.gates import GateReport, require_gates_passed
from tasks.log import stage_logger
from tasks.manifest import describe_files
from tasks.measure import measurement_tables
from tasks.media import strip_identifying_exif
from tasks.spec import CollectionSpec
from tasks.warehouse import connect, fetch_row, fetch_value

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
)
# Image columns a user needs; the source hash and EXIF findings stay in the warehouse.
RELEASED_IMAGE_COLUMNS = (
    "image_id, 'images/' || path as path, width, height, image_format, "
    "camera_make, camera_model, lens_model"
)
VERSION_PATTERN = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
FIRST_VERSION = "1.0.0"


@dataclass(frozen=True)
class ReleaseReport:
    """Where the release is and what it holds; `is_new` is False when nothing had changed."""

    version: str
    path: Path
    count_records: int
    gate_outcome: str
    is_new: bool


@task(name="publish_release", cache_policy=NO_CACHE)
def publish_release(
    spec: CollectionSpec,
    warehouse: Path,
    releases_dir: Path,
    gates: GateReport,
    version: str | None = None,
) -> ReleaseReport:
    """Write the release folder and register it; refuse when a blocking gate failed.

    With no `version`, the first release is 1.0.0 and a later one bumps the minor version;
    when the latest release already holds the same records under the same spec, nothing is
    written and that release is returned. An existing version is never overwritten.
    """
    logger = stage_logger()
    require_gates_passed(gates)
    releases_dir = Path(releases_dir)

    with connect(warehouse) as connection:
        content_sha256 = _content_sha256(connection, spec)
        latest = fetch_row(
            connection,
            "select version, content_sha256, path, count_records, gate_outcome from releases "
            "order by published_at desc limit 1",
        )
        if version is None and latest is not None and latest[1] == content_sha256:
            logger.info("release %s already holds these records; nothing to publish", latest[0])
            return ReleaseReport(latest[0], Path(latest[2]), latest[3], latest[4], is_new=False)
        version = version or _next_version(latest[0] if latest else None)
        _check_version_is_new(connection, version, releases_dir)

        published_at = datetime.now(UTC)
        releases_dir.mkdir(parents=True, exist_ok=True)
        building = releases_dir / f".building-{version}-{secrets.token_hex(4)}"
        target = releases_dir / version
        in_transaction = False
        try:
            count_records = _write_release(
                connection, spec, gates, building, version, latest, published_at
            )
            connection.execute("begin transaction")
            in_transaction = True
            _register(
                connection,
                spec,
                gates,
                version,
                latest,
                content_sha256,
                target,
                count_records,
                published_at,
            )
            building.rename(target)
            connection.execute("commit")
        except BaseException:
            if in_transaction:
                connection.execute("rollback")
            shutil.rmtree(building, ignore_errors=True)
            raise

    logger.info("release %s: %d records written to %s", version, count_records, target)
    return ReleaseReport(version, target.resolve(), count_records, gates.outcome, is_new=True)


def _content_sha256(connection: duckdb.DuckDBPyConnection, spec: CollectionSpec) -> str:
    members = fetch_value(
        connection,
        "select sha256(string_agg(batch_id || ':' || record_id, ',' order by batch_id, record_id)) "
        "from release_candidates",
    )
    return f"{spec.sha256}:{members}"


def _next_version(latest: str | None) -> str:
    if latest is None:
        return FIRST_VERSION
    major, minor, _ = (int(part) for part in VERSION_PATTERN.match(latest).groups())
    return f"{major}.{minor + 1}.0"


def check_version_format(version: str) -> None:
    """Raise ReleaseError unless `version` reads MAJOR.MINOR.PATCH."""
    if not VERSION_PATTERN.match(version):
        raise ReleaseError(
            f"release version {version!r} is invalid; use MAJOR.MINOR.PATCH, such as 1.0.0"
        )


def _check_version_is_new(
    connection: duckdb.DuckDBPyConnection, version: str, releases_dir: Path
) -> None:
    check_version_format(version)
    target = releases_dir / version
    registered = fetch_value(connection, "select path from releases where version = ?", [version])
    if registered is not None or target.exists():
        where = registered or target
        raise ReleaseError(
            f"release {version} already exists at {where}; releases are never overwritten. "
            "Pass a new --version; without --version a release is published only when the "
            "records have changed"
        )


def _write_release(
    connection: duckdb.DuckDBPyConnection,
    spec: CollectionSpec,
    gates: GateReport,
    folder: Path,
    version: str,
    latest: tuple | None,
    published_at: datetime,
) -> int:
    (folder / "data").mkdir(parents=True)
    (folder / "measurements").mkdir()
    (folder / "validation").mkdir()

    _write_data(connection, spec, folder)
    measurements = {}
    for table in measurement_tables(spec):
        measurements[table] = connection.sql(f"select * from {table}").pl()
        if table in PUBLISHED_MEASUREMENTS:
            _copy_to_parquet(
                connection, f"select * from {table}", folder / "measurements" / f"{table}.parquet"
            )
    for result_file in sorted(gates.validation_dir.glob("*.json")):
        shutil.copy2(result_file, folder / "validation" / result_file.name)
    batches = connection.sql("select * from batches order by ingested_at, source_file").pl()
    removals = connection.sql(
        "select reason, count(*) as count_records from release_exclusions group by reason "
        "order by reason"
    ).pl()
    count_records = int(fetch_value(connection, "select count(*) from release_candidates"))

    data_files = [
        (entry["path"], entry["rows"])
        for entry in describe_files(folder)
        if entry["rows"] is not None
    ]
    datasheet = render_datasheet(
        DatasheetInputs(
            spec=spec,
            version=version,
            parent_version=latest[0] if latest else None,
            published_at=published_at,
            gates=gates,
            measurements=measurements,
            batches=batches,
            data_files=data_files,
            removals=removals,
            count_records=count_records,
        )
    )
    (folder / "datasheet.md").write_text(datasheet, encoding="utf-8")

    manifest = {
        "collection": spec.name,
        "version": version,
        "parent_version": latest[0] if latest else None,
        "published_at": published_at.isoformat(),
        "spec_sha256": spec.sha256,
        "gate_run_id": gates.gate_run_id,
        "gate_outcome": gates.outcome,
        "count_records": count_records,
        "removed_by_reason": dict(removals.iter_rows()),
        "files": describe_files(folder),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    _fsync_tree(folder)
    return count_records


def _write_data(connection: duckdb.DuckDBPyConnection, spec: CollectionSpec, folder: Path) -> None:
    """Write the released records and, for photos, their images, image table and annotations.

    Images are copied with GPS and identifying EXIF removed; camera fields stay.
    """
    _copy_to_parquet(
        connection,
        "select c.* from release_candidates c join batches b using (batch_id) "
        "order by b.ingested_at, b.source_file, c.source_line",
        folder / "data" / "records.parquet",
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


def _register(
    connection: duckdb.DuckDBPyConnection,
    spec: CollectionSpec,
    gates: GateReport,
    version: str,
    latest: tuple | None,
    content_sha256: str,
    target: Path,
    count_records: int,
    published_at: datetime,
) -> None:
    connection.execute(
        "insert into releases values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            version,
            spec.name,
            latest[0] if latest else None,
            spec.sha256,
            gates.gate_run_id,
            gates.outcome,
            count_records,
            content_sha256,
            str(target.resolve()),
            published_at,
        ],
    )
    connection.execute(
        "insert into release_members select ?, batch_id, record_id from release_candidates",
        [version],
    )
