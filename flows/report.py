"""Print what a command did, in the terminal, after its flow returns."""

from __future__ import annotations

from tasks.consent import WithdrawalReport
from tasks.gates import GateReport
from tasks.load import BatchReport
from tasks.release import ReleaseReport
from tasks.spec import CollectionSpec
from tasks.warehouse import resolve_warehouse


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def print_batches(batches: list[BatchReport], warehouse: str | None, spec: CollectionSpec) -> None:
    if not batches:
        return
    print(f"Ingest: {len(batches)} {'batch' if len(batches) == 1 else 'batches'}")
    for batch in batches:
        notes = []
        skipped = {kind: n for kind, n in batch.lines_skipped.items() if n}
        if skipped:
            notes.append(
                ", ".join(plural(n, f"{kind} line") for kind, n in skipped.items()) + " skipped"
            )
        if batch.already_ingested:
            print(
                f"  {batch.source_file} [{batch.batch_id[:12]}]: already ingested, nothing loaded "
                f"now ({batch.rows_loaded:,} loaded and {batch.rows_quarantined:,} quarantined "
                "when its content first arrived)"
            )
            continue
        if batch.replaces_batch_id:
            notes.append(
                f"replaces batch {batch.replaces_batch_id[:12]} of the same file, whose records "
                "leave the next release"
            )
        note = f" ({'; '.join(notes)})" if notes else ""
        print(
            f"  {batch.source_file} [{batch.batch_id[:12]}]: {batch.rows_read:,} rows read = "
            f"{batch.rows_loaded:,} loaded + {batch.rows_quarantined:,} quarantined{note}"
        )
    if any(b.rows_quarantined for b in batches):
        print(
            f"  Quarantined rows, with their reasons and raw text, are in table `quarantine` of "
            f"{resolve_warehouse(spec, warehouse)}"
        )


def print_gates(gates: GateReport) -> None:
    passed = sum(r.is_success for r in gates.results)
    print(
        f"Gates [{gates.gate_run_id}]: {gates.outcome.upper()}: {passed} passed, "
        f"{plural(len(gates.blocking_failures), 'blocking failure')}, "
        f"{plural(len(gates.warnings), 'warning')}"
    )
    for result in gates.results:
        outcome = "pass" if result.is_success else result.severity
        print(f"  {outcome:<8} {result.summary}")
    print(f"  GX validation results: {gates.validation_dir}")


def print_release(release: ReleaseReport) -> None:
    if release.is_dry_run:
        print_dry_run(release)
        return
    if release.is_new:
        records = plural(release.count_records, "record")
        kind = f" ({release.bump} version)" if release.bump else ""
        print(f"Release {release.version}{kind}: {records} in {release.path}")
    else:
        records = plural(release.count_records, "record")
        print(
            f"Release {release.version} already contains these {records}; "
            f"nothing new was published ({release.path})"
        )
    print(f"  datasheet: {release.path / 'datasheet.md'}")
    print(f"  manifest:  {release.path / 'manifest.json'}")


def print_dry_run(release: ReleaseReport) -> None:
    records = plural(release.count_records, "record")
    if release.path.exists():
        print(
            f"Dry run: release {release.version} already contains these {records}; "
            "nothing would be published"
        )
        return
    change = (
        f"{release.bump} version: {release.count_added:,} added and "
        f"{release.count_removed:,} removed since the latest release"
        if release.bump
        else "the first release"
    )
    print(
        f"Dry run: release {release.version} ({change}) would hold {records}; "
        "no release was written"
    )


def print_withdrawals(withdrawals: WithdrawalReport) -> None:
    print(
        f"Withdrawals: {plural(withdrawals.count_recorded, 'withdrawal')} recorded, "
        f"{withdrawals.count_already_withdrawn:,} already on record"
    )
    print(
        f"  {plural(withdrawals.count_appearances, 'appearance')} of these people, in "
        f"{plural(withdrawals.count_images, 'image')}, leave the next release, with every "
        "other person in those images and their annotations"
    )
    released = ", ".join(withdrawals.releases_containing) or "none"
    print(f"  Releases that contained them: {released}; publish a new release to honour this")


def print_releases(releases: list[dict]) -> None:
    if not releases:
        print("No release has been published from this warehouse yet.")
        return
    print(
        f"{'version':<10} {'published (UTC)':<17} {'records':>10}  {'gates':<8} {'change':<7} path"
    )
    for release in releases:
        print(
            f"{release['version']:<10} {release['published_at']:%Y-%m-%d %H:%M} "
            f"{release['count_records']:>10,}  {release['gate_outcome']:<8} "
            f"{release['bump'] or 'first':<7} {release['path']}"
        )
