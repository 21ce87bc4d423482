"""Prefect artifacts for the people who watch the pipeline: a Markdown summary of each run and
a table of its gate results, under keys that stay the same from run to run."""

from __future__ import annotations

import re

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks import markdown as md
from tasks.consent import WithdrawalReport
from tasks.gates import GateReport
from tasks.landing import RejectedFile
from tasks.load import BatchReport
from tasks.spec import CollectionSpec


def artifact_key(spec: CollectionSpec, suffix: str) -> str:
    """Return a Prefect artifact key (lower-case letters, digits and dashes) for the collection."""
    return re.sub(r"[^a-z0-9-]+", "-", f"{spec.name}-{suffix}".lower())


@task(name="record_gate_artifacts", cache_policy=NO_CACHE)
def record_gate_artifacts(
    spec: CollectionSpec, batches: list[BatchReport], gates: GateReport
) -> None:
    """Create the run's Markdown summary and its table of gate results."""
    lines = [
        f"# {spec.about['title']}: gates {gates.outcome}",
        "",
        f"Gate run `{gates.gate_run_id}`: {len(gates.blocking_failures)} blocking failures, "
        f"{len(gates.warnings)} warnings, {sum(r.is_success for r in gates.results)} passed.",
    ]
    if batches:
        lines += ["", _batch_table(batches)]
    failed = [r for r in gates.results if not r.is_success]
    if failed:
        lines += ["", "## Failed expectations", ""]
        lines += [f"- **{r.severity}**: {r.summary}" for r in failed]
    create_markdown_artifact(
        key=artifact_key(spec, "run-summary"),
        markdown="\n".join(lines),
        description=f"Batches and gate outcome of the latest run of `{spec.name}`",
    )
    create_table_artifact(
        key=artifact_key(spec, "gate-results"),
        table=[
            {
                "suite": r.suite,
                "expectation": r.expectation_type,
                "severity": r.severity,
                "outcome": "passed" if r.is_success else "failed",
                "summary": r.summary,
            }
            for r in gates.results
        ],
        description=f"Every expectation of the latest gate run of `{spec.name}`",
    )


@task(name="record_ingest_artifact", cache_policy=NO_CACHE)
def record_ingest_artifact(
    spec: CollectionSpec,
    batches: list[BatchReport],
    rejected: list[RejectedFile],
    *,
    landing_only: bool,
) -> None:
    """Create the Markdown summary of an ingestion, even when nothing new came.

    A scheduled look at the landing folder (`landing_only`) keeps its own key, so the latest
    summary of each kind of run stays in view.
    """
    loaded = sum(not b.already_ingested for b in batches)
    lines = [
        f"# {spec.about['title']}: {'landing folder' if landing_only else 'ingestion'}",
        "",
        f"{loaded} new batch(es) ingested, {len(batches) - loaded} already ingested, "
        f"{len(rejected)} landed file(s) rejected.",
    ]
    if batches:
        lines += ["", _batch_table(batches)]
    if rejected:
        lines += ["", "## Rejected files", ""]
        lines += [f"- `{r.file_name}`: {r.error}" for r in rejected]
    kind = "landing" if landing_only else "ingest"
    create_markdown_artifact(
        key=artifact_key(spec, f"{kind}-summary"),
        markdown="\n".join(lines),
        description=f"Batches of the latest {kind} run of `{spec.name}`",
    )


@task(name="record_withdrawal_artifact", cache_policy=NO_CACHE)
def record_withdrawal_artifact(spec: CollectionSpec, report: WithdrawalReport) -> None:
    """Create the Markdown summary of recorded withdrawals, with counts and never the ids."""
    released = ", ".join(report.releases_containing) or "none"
    lines = [
        f"# {spec.about['title']}: consent withdrawals",
        "",
        f"{report.count_recorded} withdrawal(s) recorded, {report.count_already_withdrawn} "
        f"already on record. {report.count_appearances} appearance(s) in "
        f"{report.count_images} image(s) leave the next release.",
        "",
        f"Releases that contained these people: {released}.",
    ]
    create_markdown_artifact(
        key=artifact_key(spec, "withdrawal-summary"),
        markdown="\n".join(lines),
        description=f"Counts of the latest consent update of `{spec.name}`",
    )


def _batch_table(batches: list[BatchReport]) -> str:
    return md.table(
        ["source file", "rows read", "loaded", "quarantined", "note"],
        [
            (
                b.source_file,
                md.count(b.rows_read),
                md.count(b.rows_loaded),
                md.count(b.rows_quarantined),
                "already ingested" if b.already_ingested else "",
            )
            for b in batches
        ],
    )
