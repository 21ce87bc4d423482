"""Flow: record consent withdrawals, which every later release honours."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import flow

from tasks.alerting import alert_curators
from tasks.artifacts import record_withdrawal_artifact
from tasks.consent import WithdrawalReport, read_withdrawals_file, record_withdrawals
from tasks.spec import read_collection_spec
from tasks.warehouse import resolve_warehouse


@flow(name="withdraw")
def withdraw(
    spec_path: str,
    subject_ids: list[str] | None = None,
    withdrawn_on: date | None = None,
    warehouse: str | None = None,
    withdrawals_file: str | None = None,
) -> WithdrawalReport:
    """Append a withdrawal event for each subject given, by id or in a CSV withdrawals file.

    Steps: read the spec; read the withdrawals file; record the withdrawals; leave a summary
    artifact; alert curators that they wait for a release. The next release leaves out every
    appearance, image and annotation of these people. The report lists the releases that
    contained them.
    """
    spec = read_collection_spec(spec_path)
    warehouse_path = resolve_warehouse(spec, warehouse)
    requested_ids = list(subject_ids or [])
    if withdrawals_file:
        requested_ids += read_withdrawals_file(Path(withdrawals_file))

    report = record_withdrawals(spec, warehouse_path, requested_ids, withdrawn_on or date.today())
    record_withdrawal_artifact(spec, report)
    alert_curators(spec, warehouse_path)
    return report
