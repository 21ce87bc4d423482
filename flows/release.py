"""Flow: measure, gate and publish a release of what the warehouse holds."""

from __future__ import annotations

from prefect import flow

from flows.pipeline import RunReport
from tasks.alerting import alert_curators
from tasks.artifacts import record_gate_artifacts
from tasks.gates import evaluate_gates
from tasks.measure import measure_collection
from tasks.release import publish_release
from tasks.spec import read_collection_spec
from tasks.warehouse import resolve_warehouse


@flow(name="release")
def release(
    spec_path: str,
    warehouse: str | None = None,
    releases_dir: str = "releases",
    version: str | None = None,
    bump: str | None = None,
    dry_run: bool = False,
) -> RunReport:
    """Publish a release of the records already in the warehouse.

    Steps: read the spec; rebuild the measurement tables; run the gates; alert curators;
    publish the release folder unless a blocking expectation failed (then raise
    GateBlockedError), or in a dry run only decide its version; alert on share drops and
    withdrawals still waiting.
    """
    spec = read_collection_spec(spec_path)
    warehouse_path = resolve_warehouse(spec, warehouse)

    measure_collection(spec, warehouse_path)
    gates = evaluate_gates(spec, warehouse_path)
    record_gate_artifacts(spec, [], gates)
    alert_curators(spec, warehouse_path, gates=gates)

    published = publish_release(spec, warehouse_path, releases_dir, gates, version, bump, dry_run)
    alert_curators(spec, warehouse_path, release=published)
    return RunReport(batches=[], gates=gates, release=published)
