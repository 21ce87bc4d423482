"""Steps that several flows share, each a short composition of tasks."""

from __future__ import annotations

from pathlib import Path

from tasks.errors import InputFileError, LandingError
from tasks.landing import RejectedFile, find_landed_files, record_landed_files
from tasks.load import BatchReport, ingest_batch
from tasks.load_images import ingest_image_collection
from tasks.runners import runs_on_cluster
from tasks.scale_out import ingest_batches_on_workers
from tasks.spec import CollectionSpec


def ingest_every_batch(
    spec: CollectionSpec, warehouse: Path
) -> tuple[list[BatchReport], list[RejectedFile]]:
    """Ingest a table one batch (task) per source file, then each new file of its landing
    folder; a photo collection is one batch. Returns the batches and the rejected files."""
    if spec.source.has_images:
        return [ingest_image_collection(spec, warehouse)], []
    # On a Dask task runner the files are normalised on the workers and loaded here.
    if runs_on_cluster():
        batches = ingest_batches_on_workers(spec, warehouse)
    else:
        batches = [ingest_batch(spec, path, warehouse) for path in spec.source.files]
    landed, rejected = ingest_landed_files(spec, warehouse)
    return batches + landed, rejected


def ingest_landed_files(
    spec: CollectionSpec, warehouse: Path
) -> tuple[list[BatchReport], list[RejectedFile]]:
    """Ingest each new file of the landing folder as one batch and record what became of it.

    A file that cannot be read is recorded as rejected, so the same bytes are not tried again,
    and the other files are still ingested.
    """
    batches: list[BatchReport] = []
    rejected: list[RejectedFile] = []
    outcomes = []
    for landed in find_landed_files(spec, warehouse):
        try:
            batch = ingest_batch(spec, landed.path, warehouse)
        except InputFileError as error:
            rejected.append(RejectedFile(landed.path.name, landed.sha256, str(error)))
            outcomes.append((landed, "rejected", None, str(error)))
            continue
        batches.append(batch)
        status = "already_ingested" if batch.already_ingested else "ingested"
        outcomes.append((landed, status, batch.batch_id, None))
    replaced = [b.replaces_batch_id for b in batches if b.replaces_batch_id]
    record_landed_files(warehouse, outcomes, replaced)
    return batches, rejected


def raise_for_rejected(rejected: list[RejectedFile], batches: list[BatchReport]) -> None:
    """Fail the flow, after everything else was recorded, when a landed file was rejected.

    The error carries the batches that did load, so the command line can still list them.
    """
    if rejected:
        raise LandingError(rejected, batches)
