"""Turn what a flow found into alerts for curators and send them through the spec's channels.

An alert is raised for:
- a gate that blocks or warns;
- a batch whose quarantine rate passes `alerts.max_quarantine_rate`;
- a landed file that could not be read;
- a group whose share fell by more than `alerts.max_share_drop_pp` since the parent release;
- consent withdrawals still in the latest release.

Delivery failures are recorded and logged instead of raised (see tasks.alerts.send_alerts).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import duckdb
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.alerts import (
    PREFECT_BLOCK_SCHEME,
    Alert,
    alerts_for_gates,
    alerts_for_pending_withdrawals,
    alerts_for_quarantine_rate,
    alerts_for_rejected_file,
    alerts_for_share_drops,
    send_alerts,
)
from tasks.consent import count_pending_withdrawals
from tasks.diff import diff_releases
from tasks.gates import GateReport
from tasks.landing import RejectedFile
from tasks.load import BatchReport
from tasks.log import stage_logger
from tasks.release import ReleaseReport
from tasks.spec import CollectionSpec
from tasks.spec_operations import AlertSpec
from tasks.warehouse import connect, fetch_value


def alert_channels(alerts: AlertSpec) -> list[str]:
    """Return the spec's Apprise URLs, those in its environment variable, then its blocks."""
    channels = list(alerts.channels)
    if alerts.channels_env:
        listed = os.environ.get(alerts.channels_env, "")
        channels += [url for url in re.split(r"[\s,]+", listed) if url]
    channels += [PREFECT_BLOCK_SCHEME + name for name in alerts.prefect_blocks]
    return channels


@task(name="alert_curators", cache_policy=NO_CACHE)
def alert_curators(
    spec: CollectionSpec,
    warehouse: Path,
    *,
    batches: list[BatchReport] | None = None,
    rejected: list[RejectedFile] | None = None,
    gates: GateReport | None = None,
    release: ReleaseReport | None = None,
) -> list[dict]:
    """Build the alerts for what the flow passes in, send them and return the recorded rows.

    Pending withdrawals are checked on every call for a collection of photos.
    """
    policy = spec.alerts
    alerts: list[Alert] = []
    for batch in batches or []:
        if not batch.already_ingested:
            alerts += alerts_for_quarantine_rate(
                spec.name,
                batch.source_file,
                batch.rows_read,
                batch.rows_quarantined,
                policy.max_quarantine_rate,
            )
    for item in rejected or []:
        alerts.append(alerts_for_rejected_file(spec.name, item.file_name, item.sha256, item.error))
    if gates is not None:
        alerts += [
            a
            for a in alerts_for_gates(spec.name, gates)
            if a.kind == "gate_failed" or policy.gate_warnings
        ]
    with connect(warehouse) as connection:
        if release is not None and release.is_new:
            alerts += _share_drop_alerts(connection, spec, release)
        if spec.source.has_images:
            pending = count_pending_withdrawals(connection)
            alerts += alerts_for_pending_withdrawals(spec.name, pending)
        if not alerts:
            return []
        return send_alerts(
            connection,
            alerts,
            alert_channels(policy),
            timedelta(hours=policy.suppress_for_hours),
        )


def _share_drop_alerts(
    connection: duckdb.DuckDBPyConnection, spec: CollectionSpec, release: ReleaseReport
) -> list[Alert]:
    """Compare the new release with its parent's published coverage tables."""
    parent = fetch_value(
        connection,
        "select parent.path from releases child join releases parent "
        "on child.parent_version = parent.version where child.version = ?",
        [release.version],
    )
    if parent is None:
        return []
    if not Path(parent).is_dir():
        stage_logger().warning(
            "share drops not checked: the parent release folder %s is missing", parent
        )
        return []
    changes = diff_releases(Path(parent), release.path)
    shifts = changes["attribute_shifts"] + [
        {**shift, "attribute": shift["intersection"], "category": shift["cell"]}
        for shift in changes["intersection_shifts"]
    ]
    return alerts_for_share_drops(spec.name, shifts, spec.alerts.max_share_drop_pp)
