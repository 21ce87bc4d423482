"""The landing folder: find the files that arrived since the last look, and remember each one.

A file is known by its name and the SHA-256 of its bytes, recorded in the `landing_files`
table. A file is looked at once, a copy under another name is recorded without loading its
rows twice, and a corrected file is picked up again.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.log import stage_logger
from tasks.spec import CollectionSpec
from tasks.warehouse import connect

HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class LandedFile:
    """A file in the landing folder whose content the warehouse has not seen."""

    path: Path
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class RejectedFile:
    """A landed file that could not be ingested, with the error that names what to fix."""

    file_name: str
    sha256: str
    error: str


@task(name="find_landed_files", cache_policy=NO_CACHE)
def find_landed_files(spec: CollectionSpec, warehouse: Path) -> list[LandedFile]:
    """Return the settled files of the landing folder whose name and content are not recorded.

    Files are returned in name order. Hidden files, sub-folders and files changed within the
    last `settle_seconds` are left for a later run.
    """
    logger = stage_logger()
    landing = spec.landing
    if landing is None:
        return []
    candidates = sorted(
        p
        for p in landing.folder.glob(landing.pattern)
        if p.is_file() and not p.name.startswith(".")
    )
    now = time.time()
    settled = [p for p in candidates if now - p.stat().st_mtime >= landing.settle_seconds]
    if len(settled) < len(candidates):
        logger.info(
            "landing: %d file(s) changed within the last %d s; left for the next run",
            len(candidates) - len(settled),
            landing.settle_seconds,
        )
    hashed = [LandedFile(p, file_sha256(p), p.stat().st_size) for p in settled]
    with connect(warehouse) as connection:
        seen = set(
            connection.execute(
                "select file_sha256, file_name from landing_files where file_sha256 in "
                "(select unnest(?::varchar[]))",
                [[f.sha256 for f in hashed]],
            ).fetchall()
        )
    new = [f for f in hashed if (f.sha256, f.path.name) not in seen]
    logger.info(
        "landing %s: %d file(s) match %s, %d already processed, %d new",
        landing.folder,
        len(candidates),
        landing.pattern,
        len(settled) - len(new),
        len(new),
    )
    return new


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


@task(name="record_landed_files", cache_policy=NO_CACHE)
def record_landed_files(
    warehouse: Path,
    outcomes: list[tuple[LandedFile, str, str | None, str | None]],
    replaced_batch_ids: list[str],
) -> None:
    """Record each file's outcome, (file, status, batch id, error), and mark replaced batches."""
    if not outcomes:
        return
    now = datetime.now(UTC)
    with connect(warehouse) as connection:
        connection.executemany(
            "insert or replace into landing_files values (?, ?, ?, ?, ?, ?, ?)",
            [
                [f.sha256, f.path.name, f.size_bytes, status, batch_id, error, now]
                for f, status, batch_id, error in outcomes
            ],
        )
        connection.execute(
            "update landing_files set status = 'replaced' "
            "where batch_id in (select unnest(?::varchar[]))",
            [replaced_batch_ids],
        )
