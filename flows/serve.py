"""Serve a collection's deployments from one process: scheduled ingestion from its landing
folder, a manual release and, for a collection of photos, consent updates.

Run through `faircurate serve SPEC`. Flow runs of the served deployments execute one at a time,
because the DuckDB warehouse takes one writer.
"""

from __future__ import annotations

from pathlib import Path

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Interval

from flows.landing import ingest_landing
from flows.release import release
from flows.withdraw import withdraw
from tasks.spec import CollectionSpec
from tasks.warehouse import resolve_warehouse


def deployment_names(spec: CollectionSpec) -> list[str]:
    """Return the full names (`flow/deployment`) that `build_deployments` creates for a spec."""
    names = []
    if spec.landing is not None:
        names.append(f"ingest-landing/{spec.name}-ingest-landing")
    names.append(f"release/{spec.name}-release")
    if spec.source.has_images:
        names.append(f"withdraw/{spec.name}-consent-update")
    return names


def build_deployments(
    spec: CollectionSpec, warehouse: str | None, releases_dir: str
) -> list[RunnerDeployment]:
    """Describe the collection's deployments, with absolute paths as default parameters."""
    common = {
        "spec_path": str(spec.path),
        "warehouse": str(resolve_warehouse(spec, warehouse).resolve()),
    }
    deployments = []
    if spec.landing is not None:
        landing = spec.landing
        schedule = (
            Cron(landing.cron, timezone=landing.timezone)
            if landing.cron
            else Interval(landing.interval_seconds, timezone=landing.timezone)
        )
        deployments.append(
            ingest_landing.to_deployment(
                name=f"{spec.name}-ingest-landing",
                description=f"Ingest and gate new files of {landing.folder} on a schedule.",
                parameters=common,
                schedules=[schedule] if landing.cron or landing.interval_seconds else None,
            )
        )
    deployments.append(
        release.to_deployment(
            name=f"{spec.name}-release",
            description="Measure, gate and publish a release; set version, bump or dry_run.",
            parameters={**common, "releases_dir": str(Path(releases_dir).resolve())},
        )
    )
    if spec.source.has_images:
        deployments.append(
            withdraw.to_deployment(
                name=f"{spec.name}-consent-update",
                description="Record consent withdrawals from a CSV file with a subject_id column.",
                parameters=common,
            )
        )
    return deployments


def serve_collection(spec: CollectionSpec, warehouse: str | None, releases_dir: str) -> None:
    """Register the deployments with the Prefect API and run their flow runs until stopped."""
    serve(*build_deployments(spec, warehouse, releases_dir), limit=1)
