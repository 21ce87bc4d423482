"""Flow: record consent withdrawals, which every later release honours."""

from __future__ import annotations

from datetime import date

from prefect import flow

from tasks.consent import WithdrawalReport, record_withdrawals
from tasks.spec import read_collection_spec
from tasks.warehouse import resolve_warehouse


@flow(name="withdraw")
def withdraw(
    spec_path: str,
    subject_ids: list[str],
    withdrawn_on: date | None = None,
    warehouse: str | None = None,
) -> WithdrawalReport:
    """Append a withdrawal event for each subject.

    Steps: read the spec; record the withdrawals. The next release leaves out every appearance,
    image and annotation of these people; the report lists the releases that contained them.
    """
    spec = read_collection_spec(spec_path)
    warehouse_path = resolve_warehouse(spec, warehouse)

    return record_withdrawals(spec, warehouse_path, subject_ids, withdrawn_on or date.today())
