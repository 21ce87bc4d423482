"""Print what a command did, in the terminal, after its flow returns."""

from __future__ import annotations

from tasks.gates import GateReport
from tasks.load import BatchReport
from tasks.release import ReleaseReport


def print_batches(batches: list[BatchReport]) -> None:
    if not batches:
        return
    print(f"Ingest: {len(batches)} batches")
    for batch in batches:
        note = " (already ingested, unchanged)" if batch.already_ingested else ""
        print(
            f"  {batch.source_file} [{batch.batch_id[:12]}]: {batch.rows_read:,} rows read = "
            f"{batch.rows_loaded:,} loaded + {batch.rows_quarantined:,} quarantined{note}"
        )


def print_gates(gates: GateReport) -> None:
    passed = sum(r.is_success for r in gates.results)
    print(
        f"Gates [{gates.gate_run_id}]: {gates.outcome.upper()}: {passed} passed, "
        f"{len(gates.blocking_failures)} blocking failures, {len(gates.warnings)} warnings"
    )
    for result in gates.results:
        outcome = "pass" if result.is_success else result.severity
        print(f"  {outcome:<8} {result.summary}")
    print(f"  GX validation results: {gates.validation_dir}")


def print_release(release: ReleaseReport) -> None:
    if release.is_new:
        print(f"Release {release.version}: {release.count_records:,} records in {release.path}")
    else:
        print(
            f"Release {release.version} already holds these {release.count_records:,} records; "
            f"nothing new was published ({release.path})"
        )
    print(f"  datasheet: {release.path / 'datasheet.md'}")
    print(f"  manifest:  {release.path / 'manifest.json'}")
