"""Record consent withdrawals and trace people through past releases."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.errors import InputFileError, WarehouseError
from tasks.log import stage_logger
from tasks.spec import CollectionSpec
from tasks.warehouse import connect, fetch_value

WITHDRAWAL_SOURCE = "faircurate withdraw"


@dataclass(frozen=True)
class WithdrawalReport:
    """Counts only: which people withdrew is never part of a public output."""

    count_recorded: int
    count_already_withdrawn: int
    count_appearances: int
    count_images: int
    releases_containing: tuple[str, ...]


def read_withdrawals_file(path: Path) -> list[str]:
    """Read subject ids from a CSV file with a `subject_id` column."""
    if not path.is_file():
        raise InputFileError(path, "file not found; pass a CSV file with a subject_id column")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if "subject_id" not in (reader.fieldnames or []):
            raise InputFileError(path, "has no `subject_id` column; add a header line with it")
        ids = []
        for line, row in enumerate(reader, start=2):
            subject_id = (row["subject_id"] or "").strip()
            if not subject_id:
                raise InputFileError(
                    path, f"line {line} has an empty subject_id; fill or remove it"
                )
            ids.append(subject_id)
    return ids


@task(name="record_withdrawals", cache_policy=NO_CACHE)
def record_withdrawals(
    spec: CollectionSpec, warehouse: Path, subject_ids: list[str], withdrawn_on: date
) -> WithdrawalReport:
    """Append a withdrawal event for each subject; the next release leaves them out.

    Every id must name a person in the warehouse, so a typo cannot pass silently. A person
    whose latest event is already a withdrawal is counted and skipped.
    """
    logger = stage_logger()
    require_people_collection(spec)
    wanted = sorted(set(subject_ids))
    if not wanted:
        raise WarehouseError("no subject ids given; pass SUBJECT_ID arguments or --file")
    with connect(warehouse) as connection:
        known = {
            row[0]
            for row in connection.execute(
                "select distinct subject_id from records where subject_id in "
                "(select unnest(?::varchar[]))",
                [wanted],
            ).fetchall()
        }
        unknown = [s for s in wanted if s not in known]
        if unknown:
            raise WarehouseError(
                f"{len(unknown)} subject id(s) not found in warehouse {warehouse}: "
                f"{', '.join(unknown[:10])}; check the ids against the collection's subject_id"
            )
        already = {
            row[0]
            for row in connection.execute(
                "select subject_id from (select subject_id, event, row_number() over ("
                "partition by subject_id order by coalesce(signed_on, cast(recorded_at as date)) "
                "desc, recorded_at desc) as recency from consent_events) "
                "where recency = 1 and event = 'withdrawn' and subject_id in "
                "(select unnest(?::varchar[]))",
                [wanted],
            ).fetchall()
        }
        new = [s for s in wanted if s not in already]
        now = datetime.now(UTC)
        if new:
            connection.executemany(
                "insert into consent_events (subject_id, event, signed_on, source, recorded_at) "
                "values (?, 'withdrawn', ?, ?, ?)",
                [[s, withdrawn_on, WITHDRAWAL_SOURCE, now] for s in new],
            )
        count_appearances = fetch_value(
            connection,
            "select count(*) from records where subject_id in (select unnest(?::varchar[]))",
            [wanted],
        )
        count_images = fetch_value(
            connection,
            "select count(distinct image_id) from records where image_id in (select image_id "
            "from records where subject_id in (select unnest(?::varchar[])))",
            [wanted],
        )
        releases = tuple(
            row[0]
            for row in connection.execute(
                "select distinct m.version from release_members m join records r "
                "on m.batch_id = r.batch_id and m.record_id = r.record_id "
                "where r.subject_id in (select unnest(?::varchar[])) order by m.version",
                [wanted],
            ).fetchall()
        )
    logger.info(
        "recorded %d withdrawals (%d already withdrawn); %d images leave the next release",
        len(new),
        len(already),
        count_images,
    )
    return WithdrawalReport(len(new), len(already), count_appearances, count_images, releases)


def releases_containing(spec: CollectionSpec, warehouse: Path, subject_id: str) -> list[str]:
    """Return the versions of every release that contained `subject_id`, oldest first."""
    require_people_collection(spec)
    with connect(warehouse, read_only=True) as connection:
        known = fetch_value(
            connection, "select count(*) from records where subject_id = ?", [subject_id]
        )
        if not known:
            raise WarehouseError(
                f"subject id {subject_id!r} not found in warehouse {warehouse}; check the id "
                "against the collection's subject_id"
            )
        rows = connection.execute(
            "select distinct m.version, r2.published_at from release_members m "
            "join records r on m.batch_id = r.batch_id and m.record_id = r.record_id "
            "join releases r2 on m.version = r2.version "
            "where r.subject_id = ? order by r2.published_at",
            [subject_id],
        ).fetchall()
    return [version for version, _ in rows]


def require_people_collection(spec: CollectionSpec) -> None:
    if not spec.source.has_images:
        raise WarehouseError(
            f"collection `{spec.name}` is a table without subject ids; withdrawals apply to "
            "collections of photos (source.format fhibe or image_folder)"
        )


def count_pending_withdrawals(connection: duckdb.DuckDBPyConnection) -> int:
    """Count the people who withdrew consent but are still in the latest release."""
    return fetch_value(
        connection,
        "with latest_events as (select subject_id, event, row_number() over ("
        "partition by subject_id order by coalesce(signed_on, cast(recorded_at as date)) desc, "
        "recorded_at desc) as recency from consent_events), "
        "latest_release as (select version from releases order by published_at desc limit 1) "
        "select count(distinct r.subject_id) from release_members m "
        "join records r on m.batch_id = r.batch_id and m.record_id = r.record_id "
        "join latest_events e on r.subject_id = e.subject_id "
        "where e.recency = 1 and e.event = 'withdrawn' "
        "and m.version = (select version from latest_release)",
    )
