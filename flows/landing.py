"""Flow: the scheduled look at the landing folder, which ingests and gates what arrived."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow

from flows.steps import ingest_landed_files, raise_for_rejected
from tasks.alerting import alert_curators
from tasks.artifacts import record_gate_artifacts, record_ingest_artifact
from tasks.errors import SpecError
from tasks.gates import GateReport, evaluate_gates
from tasks.landing import RejectedFile
from tasks.load import BatchReport
from tasks.measure import measure_collection
from tasks.spec import read_collection_spec
from tasks.warehouse import resolve_warehouse


@dataclass(frozen=True)
class LandingReport:
    """The batches a look at the landing folder ingested, the files it rejected, and the gates
    it ran (None when no new records arrived)."""

    batches: list[BatchReport]
    rejected: list[RejectedFile]
    gates: GateReport | None


@flow(name="ingest-landing")
def ingest_landing(spec_path: str, warehouse: str | None = None) -> LandingReport:
    """Ingest the new files of the collection's landing folder, then measure and gate.

    Steps: read the spec; ingest each new file as one batch and record it as processed; when
    records arrived, rebuild the measurements and run the gates; alert curators; fail the run
    when a file was rejected. Publishing stays a manual step.
    """
    spec = read_collection_spec(spec_path)
    if spec.landing is None:
        raise SpecError(spec.path, "landing", "missing; declare the landing folder to watch")
    warehouse_path = resolve_warehouse(spec, warehouse)

    batches, rejected = ingest_landed_files(spec, warehouse_path)
    gates = None
    if any(b.rows_loaded and not b.already_ingested for b in batches):
        measure_collection(spec, warehouse_path)
        gates = evaluate_gates(spec, warehouse_path)
        record_gate_artifacts(spec, batches, gates)
    record_ingest_artifact(spec, batches, rejected, landing_only=True)
    alert_curators(spec, warehouse_path, batches=batches, rejected=rejected, gates=gates)

    raise_for_rejected(rejected, batches)
    return LandingReport(batches, rejected, gates)
