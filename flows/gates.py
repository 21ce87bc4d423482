"""Flow: measure the warehouse's records and validate the measurements with the gate suites."""

from __future__ import annotations

from prefect import flow

from tasks.alerting import alert_curators
from tasks.artifacts import record_gate_artifacts
from tasks.gates import GateReport, evaluate_gates
from tasks.measure import measure_collection
from tasks.spec import read_collection_spec
from tasks.warehouse import resolve_warehouse


@flow(name="gates")
def check_gates(spec_path: str, warehouse: str | None = None) -> GateReport:
    """Measure coverage, diversity and missingness, then run the spec's GX suites.

    Steps: read the spec; rebuild the measurement tables; validate them and record the results;
    alert curators. Returns the gate report; a blocking failure is reported, not raised.
    """
    spec = read_collection_spec(spec_path)
    warehouse_path = resolve_warehouse(spec, warehouse)

    measure_collection(spec, warehouse_path)
    gates = evaluate_gates(spec, warehouse_path)
    record_gate_artifacts(spec, [], gates)
    alert_curators(spec, warehouse_path, gates=gates)
    return gates
