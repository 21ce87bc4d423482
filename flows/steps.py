"""Steps that several flows share, each a short composition of tasks."""

from __future__ import annotations

from pathlib import Path

from tasks.load import BatchReport, ingest_batch
from tasks.load_images import ingest_image_collection
from tasks.runners import runs_on_cluster
from tasks.scale_out import ingest_batches_on_workers
from tasks.spec import CollectionSpec


def ingest_every_batch(spec: CollectionSpec, warehouse: Path) -> list[BatchReport]:
    """Ingest a table one batch (task) per source file, or a photo collection as one batch.

    On a Dask task runner the files are normalised on the workers and loaded here.
    """
    if spec.source.has_images:
        return [ingest_image_collection(spec, warehouse)]
    if runs_on_cluster():
        return ingest_batches_on_workers(spec, warehouse)
    return [ingest_batch(spec, path, warehouse) for path in spec.source.files]
