"""Publish a release: an immutable folder, built aside and renamed into place whole, then
registered in the warehouse with the records it contains."""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.errors import ReleaseError
from tasks.failpoints import failpoint
from tasks.gates import GateReport, require_gates_passed
from tasks.log import stage_logger
from tasks.release_files import ReleaseIdentity, write_release_folder
from tasks.release_registry import (
    BUILDING_PREFIX,
    BUMPS,
    LatestRelease,
    ReleaseChange,
    check_version_format,
    check_version_is_new,
    latest_release,
    measure_change,
    next_version,
    publish_lock,
    recover_releases,
    schema_signature,
    update_latest_link,
    write_releases_index,
)
from tasks.spec import CollectionSpec
from tasks.warehouse import connect, fetch_value

__all__ = ["ReleaseReport", "check_version_format", "publish_release"]


@dataclass(frozen=True)
class ReleaseReport:
    """The outcome of a publish: the release's version, folder and record count.

    `is_new` is False when nothing had changed and the latest release is returned instead.
    In a dry run, `is_new` is False and the version, path and count are those that would be
    published; nothing is written.
    """

    version: str
    path: Path
    count_records: int
    gate_outcome: str
    is_new: bool
    bump: str | None = None
    is_dry_run: bool = False
    count_added: int = 0
    count_removed: int = 0


@task(name="publish_release", cache_policy=NO_CACHE)
def publish_release(
    spec: CollectionSpec,
    warehouse: Path,
    releases_dir: Path,
    gates: GateReport,
    version: str | None = None,
    bump: str | None = None,
    dry_run: bool = False,
) -> ReleaseReport:
    """Write the release folder and register it; refuse when a blocking gate failed.

    Without `version` or `bump`, the version follows the rules in tasks.release_registry, and
    nothing is published when the records and spec equal the latest release's. An existing
    version is never overwritten. Only one publish runs at a time per releases folder. A dry
    run decides the version and counts the changes, and writes nothing.
    """
    logger = stage_logger()
    require_gates_passed(gates)
    if bump is not None and bump not in BUMPS:
        raise ReleaseError(f"bump {bump!r} is invalid; expected one of: {', '.join(BUMPS)}")
    releases_dir = Path(releases_dir)

    with publish_lock(releases_dir), connect(warehouse) as connection:
        if not dry_run:
            recover_releases(connection, releases_dir, logger)
        latest = latest_release(connection)
        change = measure_change(connection, spec, latest)
        if version is None and bump is None and latest is not None and change.bump is None:
            logger.info(
                "release %s already contains these records; nothing to publish", latest.version
            )
            return ReleaseReport(
                latest.version,
                latest.path,
                latest.count_records,
                latest.gate_outcome,
                False,
                is_dry_run=dry_run,
            )
        kind = bump or change.bump or "patch"
        version = version or next_version(latest.version if latest else None, kind)
        check_version_is_new(connection, version, releases_dir)
        if dry_run:
            return _dry_run_report(connection, gates, releases_dir, version, latest, kind, change)
        identity = ReleaseIdentity(
            version=version,
            parent_version=latest.version if latest else None,
            parent_path=latest.path if latest else None,
            published_at=datetime.now(UTC),
            content_sha256=_content_sha256(connection, spec),
            schema_signature=schema_signature(connection),
            bump=None if latest is None else kind,
        )
        target = _publish_folder(connection, spec, gates, releases_dir, identity)
        count_records = fetch_value(connection, "select count(*) from release_candidates")

    logger.info(
        "release %s (%s): %d records, %d added and %d removed since %s, written to %s",
        version,
        identity.bump or "first release",
        count_records,
        change.count_added,
        change.count_removed,
        identity.parent_version or "none",
        target,
    )
    return ReleaseReport(
        version,
        target,
        count_records,
        gates.outcome,
        True,
        identity.bump,
        count_added=change.count_added,
        count_removed=change.count_removed,
    )


def _dry_run_report(
    connection: duckdb.DuckDBPyConnection,
    gates: GateReport,
    releases_dir: Path,
    version: str,
    latest: LatestRelease | None,
    kind: str,
    change: ReleaseChange,
) -> ReleaseReport:
    count_records = fetch_value(connection, "select count(*) from release_candidates")
    stage_logger().info(
        "dry run: release %s (%s) would hold %d records, %d added and %d removed since %s; "
        "no release was written",
        version,
        kind if latest else "first release",
        count_records,
        change.count_added,
        change.count_removed,
        latest.version if latest else "none",
    )
    return ReleaseReport(
        version,
        (releases_dir / version).resolve(),
        count_records,
        gates.outcome,
        False,
        kind if latest else None,
        is_dry_run=True,
        count_added=change.count_added,
        count_removed=change.count_removed,
    )


def _publish_folder(
    connection: duckdb.DuckDBPyConnection,
    spec: CollectionSpec,
    gates: GateReport,
    releases_dir: Path,
    identity: ReleaseIdentity,
) -> Path:
    """Build the folder aside, rename it into place, register it and move `latest` to it.

    A crash before the rename leaves only a hidden building folder. A crash after it leaves a
    whole release, which the next publish registers in recover_releases.
    """
    building = releases_dir / f"{BUILDING_PREFIX}{identity.version}-{secrets.token_hex(4)}"
    target = (releases_dir / identity.version).resolve()
    try:
        count_records = write_release_folder(connection, spec, gates, building, identity)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    failpoint("release_before_rename")
    building.rename(target)
    failpoint("release_after_rename")
    _register(connection, spec, gates, identity, target, count_records)
    failpoint("release_after_register")
    update_latest_link(releases_dir, identity.version)
    write_releases_index(connection, releases_dir)
    return target


def _content_sha256(connection: duckdb.DuckDBPyConnection, spec: CollectionSpec) -> str:
    members = fetch_value(
        connection,
        "select sha256(string_agg(batch_id || ':' || record_id, ',' order by batch_id, record_id)) "
        "from release_candidates",
    )
    return f"{spec.sha256}:{members}"


def _register(
    connection: duckdb.DuckDBPyConnection,
    spec: CollectionSpec,
    gates: GateReport,
    identity: ReleaseIdentity,
    target: Path,
    count_records: int,
) -> None:
    connection.execute("begin transaction")
    try:
        connection.execute(
            "insert into releases values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                identity.version,
                spec.name,
                identity.parent_version,
                spec.sha256,
                gates.gate_run_id,
                gates.outcome,
                count_records,
                identity.content_sha256,
                str(target),
                identity.published_at,
                identity.schema_signature,
                identity.bump,
            ],
        )
        connection.execute(
            "insert into release_members select ?, batch_id, record_id from release_candidates",
            [identity.version],
        )
        connection.execute("commit")
    except BaseException:
        connection.execute("rollback")
        raise
