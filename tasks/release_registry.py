"""Release versions, the registry of published releases, the publish lock and crash recovery.

Version rules (semantic versioning of a dataset):
- major: the released records table changed its columns or their types;
- minor: records were added, or the collection spec changed;
- patch: records were only removed (for example after consent withdrawals).
The first release is 1.0.0. A release whose records and spec equal the latest one's is not
published again unless a version or a bump is requested.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from tasks.errors import ReleaseError
from tasks.spec import CollectionSpec
from tasks.warehouse import fetch_row, fetch_value

VERSION_PATTERN = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
FIRST_VERSION = "1.0.0"
BUMPS = ("major", "minor", "patch")
BUILDING_PREFIX = ".building-"
LOCK_FILE = ".publish.lock"
LATEST_LINK = "latest"


@dataclass(frozen=True)
class LatestRelease:
    """The registry row of the most recently published release."""

    version: str
    content_sha256: str
    path: Path
    count_records: int
    gate_outcome: str
    spec_sha256: str
    schema_signature: str


@dataclass(frozen=True)
class ReleaseChange:
    """The difference between the next release's records and the latest release's."""

    count_added: int
    count_removed: int
    is_schema_changed: bool
    is_spec_changed: bool

    @property
    def bump(self) -> str | None:
        """Return the version part to bump under the rules above, or None when nothing changed."""
        if self.is_schema_changed:
            return "major"
        if self.count_added or self.is_spec_changed:
            return "minor"
        if self.count_removed:
            return "patch"
        return None


def check_version_format(version: str) -> None:
    """Raise ReleaseError unless `version` reads MAJOR.MINOR.PATCH."""
    if not VERSION_PATTERN.match(version):
        raise ReleaseError(
            f"release version {version!r} is invalid; use MAJOR.MINOR.PATCH, such as 1.0.0"
        )


def next_version(latest: str | None, bump: str) -> str:
    """Return the version after `latest` for a `bump` of major, minor or patch."""
    if latest is None:
        return FIRST_VERSION
    major, minor, patch = (int(part) for part in VERSION_PATTERN.match(latest).groups())
    if bump == "major":
        return f"{major + 1}.0.0"
    if bump == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def latest_release(connection: duckdb.DuckDBPyConnection) -> LatestRelease | None:
    row = fetch_row(
        connection,
        "select version, content_sha256, path, count_records, gate_outcome, spec_sha256, "
        "schema_signature from releases order by published_at desc limit 1",
    )
    if row is None:
        return None
    version, content, path, count, outcome, spec_sha256, signature = row
    return LatestRelease(version, content, Path(path), count, outcome, spec_sha256, signature)


def schema_signature(connection: duckdb.DuckDBPyConnection) -> str:
    """Describe the released records table as its column names and types."""
    columns = connection.execute("describe release_candidates").fetchall()
    return ", ".join(f"{name} {data_type}" for name, data_type, *_ in columns)


def measure_change(
    connection: duckdb.DuckDBPyConnection, spec: CollectionSpec, latest: LatestRelease | None
) -> ReleaseChange:
    """Count the records added and removed since `latest`, and detect schema and spec changes."""
    if latest is None:
        count = fetch_value(connection, "select count(*) from release_candidates")
        return ReleaseChange(count, 0, is_schema_changed=False, is_spec_changed=False)
    added = fetch_value(
        connection,
        "select count(*) from release_candidates c where not exists (select 1 from "
        "release_members m where m.version = ? and m.batch_id = c.batch_id "
        "and m.record_id = c.record_id)",
        [latest.version],
    )
    removed = fetch_value(
        connection,
        "select count(*) from release_members m where m.version = ? and not exists ("
        "select 1 from release_candidates c where m.batch_id = c.batch_id "
        "and m.record_id = c.record_id)",
        [latest.version],
    )
    return ReleaseChange(
        count_added=added,
        count_removed=removed,
        is_schema_changed=schema_signature(connection) != latest.schema_signature,
        is_spec_changed=spec.sha256 != latest.spec_sha256,
    )


def check_version_is_new(
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


@contextmanager
def publish_lock(releases_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the releases folder while one release is published.

    The operating system drops the lock when the holding process ends, even when it is killed,
    so a crash never leaves the folder locked.
    """
    releases_dir.mkdir(parents=True, exist_ok=True)
    path = releases_dir / LOCK_FILE
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise ReleaseError(
                f"another release is being published into {releases_dir} (process {holder} "
                f"holds {path}); wait for it to finish, then run the command again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def recover_releases(
    connection: duckdb.DuckDBPyConnection, releases_dir: Path, logger
) -> list[str]:
    """Finish what a crashed publish left behind; return a line for each repair.

    A release folder is visible only once it was renamed into place whole, so a leftover
    building folder is deleted. A visible folder missing from the registry (the process died
    between the rename and the registry commit) is registered from its manifest and records.
    A registry row whose folder is gone is deleted. The `latest` link is set to the newest
    registered release.
    """
    repairs = []
    for leftover in sorted(releases_dir.glob(f"{BUILDING_PREFIX}*")):
        shutil.rmtree(leftover, ignore_errors=True)
        repairs.append(f"deleted the unfinished release folder {leftover.name}")
    registered = {row[0] for row in connection.execute("select version from releases").fetchall()}
    for folder in sorted(p for p in releases_dir.iterdir() if VERSION_PATTERN.match(p.name)):
        if folder.name not in registered and (folder / "manifest.json").is_file():
            _register_from_folder(connection, folder)
            repairs.append(f"registered release {folder.name}, which was published unregistered")
    for version, path in connection.execute("select version, path from releases").fetchall():
        if not Path(path).is_dir():
            connection.execute("delete from release_members where version = ?", [version])
            connection.execute("delete from releases where version = ?", [version])
            repairs.append(f"removed release {version} from the registry: {path} does not exist")
    latest = latest_release(connection)
    if latest is not None:
        update_latest_link(releases_dir, latest.version)
        write_releases_index(connection, releases_dir)
    for repair in repairs:
        logger.warning("recovered after an interrupted publish: %s", repair)
    return repairs


def _register_from_folder(connection: duckdb.DuckDBPyConnection, folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    members = pl.read_parquet(
        folder / "data" / "records.parquet", columns=["batch_id", "record_id"]
    )
    connection.register("recovered_members", members)
    try:
        connection.execute("begin transaction")
        connection.execute(
            "insert into releases values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                manifest["version"],
                manifest["collection"],
                manifest["parent_version"],
                manifest["spec_sha256"],
                manifest["gate_run_id"],
                manifest["gate_outcome"],
                manifest["count_records"],
                manifest["content_sha256"],
                str(folder.resolve()),
                manifest["published_at"],
                manifest["schema_signature"],
                manifest.get("bump"),
            ],
        )
        connection.execute(
            "insert into release_members select ?, batch_id, record_id from recovered_members",
            [manifest["version"]],
        )
        connection.execute("commit")
    except BaseException:
        connection.execute("rollback")
        raise
    finally:
        connection.unregister("recovered_members")


def update_latest_link(releases_dir: Path, version: str) -> None:
    """Point `releases/latest` at `version`, replacing the old link in one rename."""
    link = releases_dir / LATEST_LINK
    staged = releases_dir / f".{LATEST_LINK}-{os.getpid()}"
    staged.unlink(missing_ok=True)
    staged.symlink_to(version, target_is_directory=True)
    staged.replace(link)


def list_releases(connection: duckdb.DuckDBPyConnection) -> list[dict]:
    """Return every registered release, newest first, as plain dicts."""
    rows = connection.execute(
        "select version, published_at, parent_version, bump, count_records, gate_outcome, path "
        "from releases order by published_at desc"
    ).fetchall()
    keys = (
        "version",
        "published_at",
        "parent_version",
        "bump",
        "count_records",
        "gate_outcome",
        "path",
    )
    return [dict(zip(keys, row, strict=True)) for row in rows]


def write_releases_index(connection: duckdb.DuckDBPyConnection, releases_dir: Path) -> None:
    """Rewrite `releases/index.html`, listing every release, in one rename."""
    from tasks.dataset_card import render_releases_index

    staged = releases_dir / f".index-{os.getpid()}.html"
    staged.write_text(render_releases_index(list_releases(connection)), encoding="utf-8")
    staged.replace(releases_dir / "index.html")
