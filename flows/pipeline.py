"""Flow: the main job, from raw files to a published release."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow

from flows.steps import ingest_every_batch, raise_for_rejected
from tasks.alerting import alert_curators
from tasks.artifacts import record_gate_artifacts
from tasks.gates import GateReport, evaluate_gates
from tasks.load import BatchReport
from tasks.measure import measure_collection
from tasks.release import ReleaseReport, publish_release
from tasks.spec import read_collection_spec
from tasks.warehouse import resolve_warehouse


@dataclass(frozen=True)
class RunReport:
    """The result of a run: the batches it ingested, the gate outcome and the release."""

    batches: list[BatchReport]
    gates: GateReport
    release: ReleaseReport


@flow(name="run")
def run(
    spec_path: str,
    warehouse: str | None = None,
    releases_dir: str = "releases",
    version: str | None = None,
    bump: str | None = None,
    dry_run: bool = False,
) -> RunReport:
    """Ingest a collection, gate it and publish a release.

    Steps: read the spec; ingest each source file and each new landed file as one batch;
    rebuild the measurement tables; run the gates; alert curators; publish the release unless a
    blocking expectation failed (a dry run only decides its version); alert on share drops and
    withdrawals still waiting.
    """
    spec = read_collection_spec(spec_path)
    warehouse_path = resolve_warehouse(spec, warehouse)

    batches, rejected = ingest_every_batch(spec, warehouse_path)
    alert_curators(spec, warehouse_path, batches=batches, rejected=rejected)
    raise_for_rejected(rejected, batches)

    measure_collection(spec, warehouse_path)
    gates = evaluate_gates(spec, warehouse_path)
    record_gate_artifacts(spec, batches, gates)
    alert_curators(spec, warehouse_path, gates=gates)

    published = publish_release(spec, warehouse_path, releases_dir, gates, version, bump, dry_run)
    alert_curators(spec, warehouse_path, release=published)
    return RunReport(batches=batches, gates=gates, release=published)
