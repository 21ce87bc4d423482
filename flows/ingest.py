"""Flow: ingest every source file of a collection into the warehouse."""

from __future__ import annotations

from prefect import flow

from flows.steps import ingest_every_batch, raise_for_rejected
from tasks.alerting import alert_curators
from tasks.artifacts import record_ingest_artifact
from tasks.load import BatchReport
from tasks.spec import read_collection_spec
from tasks.warehouse import resolve_warehouse


@flow(name="ingest")
def ingest(spec_path: str, warehouse: str | None = None) -> list[BatchReport]:
    """Ingest a collection, one batch per source file and per new file of its landing folder.

    Steps: read the spec; for each file, read, normalise, quarantine failing rows and load the
    rest in one transaction; leave a summary artifact; alert on high quarantine rates and
    rejected files. Returns the counts of every batch.
    """
    spec = read_collection_spec(spec_path)
    warehouse_path = resolve_warehouse(spec, warehouse)

    batches, rejected = ingest_every_batch(spec, warehouse_path)
    record_ingest_artifact(spec, batches, rejected, landing_only=False)
    alert_curators(spec, warehouse_path, batches=batches, rejected=rejected)
    raise_for_rejected(rejected, batches)
    return batches
