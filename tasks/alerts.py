"""Alerts to curators about gates, share drops, quarantine rates and pending withdrawals.

Builders turn measured facts into `Alert` values, and `send_alerts` delivers them with Apprise
to every channel, skipping an alert that was sent on the same channel within a suppression
window. Every attempt is recorded in the warehouse's `alerts` table (sql/schema/alerts.sql).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import apprise
import duckdb

from tasks.gates import GateReport, GateResult, row_condition_text
from tasks.log import stage_logger
from tasks.warehouse import fetch_value

MASK = "***"
# The channel recorded for an alert when the spec configures none: it is logged and kept.
NO_CHANNEL = "none"
STATUSES = ("sent", "suppressed", "failed", "recorded")
# A channel of this form names a saved Prefect notification block, `prefect-block://TYPE/NAME`.
PREFECT_BLOCK_SCHEME = "prefect-block://"

# Query parameters whose name contains one of these words carry a credential, such as
# `token=`, `apikey=`, `pass=` or the `sig=` of a Power Automate (Teams Workflows) URL.
SECRET_QUERY_WORDS = ("token", "key", "secret", "pass", "pwd", "sig", "auth")
# Apprise schemes whose host and path segments are all webhook tokens, as in
# slack://TokenA/TokenB/TokenC/#channel or discord://WebhookID/WebhookToken.
TOKEN_HOST_SCHEMES = {"slack", "discord", "msteams"}
# Schemes with a real host whose path segments are tokens: Apprise's Workflows URL
# workflow://host:port/workflow/signature, and the native https:// webhook URLs of Slack,
# Discord and Teams that Apprise also accepts.
TOKEN_PATH_SCHEMES = {"workflow", "workflows", "http", "https"}

NOTIFY_TYPES = {
    "critical": apprise.NotifyType.FAILURE,
    "warning": apprise.NotifyType.WARNING,
    "info": apprise.NotifyType.INFO,
}


@dataclass(frozen=True)
class Alert:
    """One message for curators, with a `key` that names its subject and is stable across runs.

    `kind` is one of gate_failed, gate_warned, share_dropped, quarantine_rate,
    batch_rejected or withdrawal_pending, and `severity` is critical, warning or info.
    """

    key: str
    kind: str
    severity: str
    title: str
    body: str


def alerts_for_gates(collection: str, report: GateReport) -> list[Alert]:
    """Build one alert per failed blocking or warning expectation, with its summary as body.

    Passed expectations and failed `info` expectations produce no alert.
    """
    alerts = []
    for result in report.blocking_failures:
        alerts.append(_gate_alert(collection, result, "gate_failed", "critical"))
    for result in report.warnings:
        alerts.append(_gate_alert(collection, result, "gate_warned", "warning"))
    return alerts


def _gate_alert(collection: str, result: GateResult, kind: str, severity: str) -> Alert:
    subject = _gate_subject(result.kwargs)
    outcome = "blocks the release" if kind == "gate_failed" else "failed as a warning"
    # A digest names no column, so the title names the suite instead.
    where = f"in suite {result.suite}" if subject.startswith("kwargs-") else f"on {subject}"
    return Alert(
        key=f"gate:{result.suite}:{result.expectation_type}:{subject}",
        kind=kind,
        severity=severity,
        title=f"{collection}: {result.expectation_type} {where} {outcome}",
        body=result.summary,
    )


def _gate_subject(kwargs: dict[str, Any]) -> str:
    """Name what an expectation tests: its attribute, intersection or column with any row
    condition, else a digest of its kwargs.

    The digest keeps the key stable across runs while telling apart expectations of one type
    that differ only in their arguments.
    """
    for name in ("attribute", "intersection", "column"):
        if kwargs.get(name):
            condition = row_condition_text(kwargs)
            return f"{kwargs[name]} where {condition}" if condition else str(kwargs[name])
    text = json.dumps(kwargs, sort_keys=True, default=str)
    return "kwargs-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def alerts_for_share_drops(collection: str, shifts: list[dict], max_drop_pp: float) -> list[Alert]:
    """Build an alert for each group whose share fell by more than `max_drop_pp` points.

    Each shift has `attribute`, `category`, `old_share` and `new_share`, with shares as
    fractions from 0 to 1 (the rows of `attribute_shifts` in a release diff). A row missing
    either share is skipped, because a group in only one release or an attribute without known
    values has no drop to measure.
    """
    if max_drop_pp < 0:
        raise ValueError(f"max_drop_pp must be 0 or more percentage points; got {max_drop_pp}")
    alerts = []
    for shift in shifts:
        missing = [k for k in ("attribute", "category", "old_share", "new_share") if k not in shift]
        if missing:
            raise ValueError(f"share shift {shift!r} is missing the keys {', '.join(missing)}")
        old, new = shift["old_share"], shift["new_share"]
        if old is None or new is None:
            continue
        for share in (old, new):
            if not 0 <= share <= 1:
                raise ValueError(
                    f"share shift {shift!r} has share {share}; shares are fractions from 0 to 1"
                )
        drop_pp = (old - new) * 100
        if drop_pp > max_drop_pp:
            alerts.append(_share_alert(collection, shift, drop_pp, max_drop_pp))
    return alerts


def _share_alert(collection: str, shift: dict, drop_pp: float, max_drop_pp: float) -> Alert:
    group = f"{shift['attribute']} = {shift['category']}"
    return Alert(
        key=f"share:{shift['attribute']}:{shift['category']}",
        kind="share_dropped",
        severity="warning",
        title=f"{collection}: share of {group} dropped by {drop_pp:.2f} percentage points",
        body=(
            f"The share of {group} fell from {shift['old_share']:.2%} to "
            f"{shift['new_share']:.2%}, a drop of {drop_pp:.2f} percentage points; "
            f"the limit is {max_drop_pp:g}."
        ),
    )


def alerts_for_quarantine_rate(
    collection: str, source_file: str, rows_read: int, rows_quarantined: int, max_rate: float
) -> list[Alert]:
    """Build an alert when more than `max_rate` (a fraction) of a file's rows were quarantined.

    A file with no rows read produces no alert.
    """
    if not 0 <= max_rate <= 1:
        raise ValueError(f"max_rate must be a fraction from 0 to 1; got {max_rate}")
    if rows_read < 0 or not 0 <= rows_quarantined <= rows_read:
        raise ValueError(
            f"source file {source_file}: rows_quarantined ({rows_quarantined}) must be from 0 "
            f"to rows_read ({rows_read})"
        )
    if rows_read == 0 or rows_quarantined / rows_read <= max_rate:
        return []
    rate = rows_quarantined / rows_read
    return [
        Alert(
            key=f"quarantine:{source_file}",
            kind="quarantine_rate",
            severity="warning",
            title=f"{collection}: {rate:.1%} of the rows of {source_file} were quarantined",
            body=(
                f"{rows_quarantined} of {rows_read} rows of {source_file} failed a check and "
                f"were quarantined ({rate:.1%}; the limit is {max_rate:.1%}). The quarantine "
                "table lists each row with its reasons."
            ),
        )
    ]


def alerts_for_rejected_file(collection: str, file_name: str, sha256: str, error: str) -> Alert:
    """Build the alert for a landed file that could not be read, with the reader's error."""
    return Alert(
        key=f"rejected:{sha256}",
        kind="batch_rejected",
        severity="critical",
        title=f"{collection}: landed file {file_name} was rejected",
        body=(
            f"{error}\nNothing of this file was loaded. Put a corrected file in the landing "
            "folder; its new content is picked up by the next run."
        ),
    )


def alerts_for_pending_withdrawals(collection: str, count_pending: int) -> list[Alert]:
    """Build an alert when consent withdrawals wait for a release that leaves their records out.

    The alert carries the count only: subject ids must not leave the warehouse in a message.
    """
    if count_pending < 0:
        raise ValueError(f"count_pending must be 0 or more; got {count_pending}")
    if count_pending == 0:
        return []
    people = "person has" if count_pending == 1 else "people have"
    withdrawals = "withdrawal waits" if count_pending == 1 else "withdrawals wait"
    return [
        Alert(
            key="withdrawals:pending",
            kind="withdrawal_pending",
            severity="warning",
            title=f"{collection}: {count_pending} consent {withdrawals} for a release",
            body=(
                f"{count_pending} {people} withdrawn consent, but the latest release still "
                "contains their records. Publish a new release to leave them out."
            ),
        )
    ]


def mask_channel(url: str) -> str:
    """Return the Apprise URL with its password, tokens and secret query values as ***."""
    return _split_secrets(url)[0]


def _split_secrets(url: str) -> tuple[str, list[str]]:
    """Return the masked URL and the secret parts it removed, to scrub them from other text.

    A URL that cannot be parsed is masked whole, because its secrets cannot be located.
    NOTE: the path of a generic webhook (json://, form://, xml://) is kept, so a token
    written there instead of in a secret-named query parameter is stored as written.
    """
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        return MASK, [url]
    if not parts.scheme or "://" not in url:
        return MASK, [url]

    scheme = parts.scheme.lower()
    secrets: list[str] = []
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    if password:
        secrets.append(password)
        userinfo = f"{user}:{MASK}"
    if scheme in TOKEN_HOST_SCHEMES and hostport:
        secrets.append(hostport)
        hostport = MASK

    segments = parts.path.split("/")
    if scheme in TOKEN_HOST_SCHEMES | TOKEN_PATH_SCHEMES:
        for index, segment in enumerate(segments):
            # A leading # or @ marks a Slack channel or user target, which is not a secret.
            if segment and not segment.startswith(("#", "@", "%23", "%40")):
                secrets.append(segment)
                segments[index] = MASK

    query = parts.query.split("&") if parts.query else []
    for index, item in enumerate(query):
        name, equals, value = item.partition("=")
        if value and any(word in name.lower() for word in SECRET_QUERY_WORDS):
            secrets.append(value)
            query[index] = f"{name}={MASK}"

    masked = f"{scheme}://{userinfo}{at}{hostport}{'/'.join(segments)}"
    masked += f"?{'&'.join(query)}" if query else ""
    masked += f"#{parts.fragment}" if parts.fragment else ""
    return masked, secrets + [unquote(s) for s in secrets]


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def send_alerts(
    connection: duckdb.DuckDBPyConnection,
    alerts: list[Alert],
    channels: list[str],
    suppress_for: timedelta,
) -> list[dict]:
    """Send each alert to each channel and record every attempt in the `alerts` table.

    Channels are Apprise URLs (forms as of Apprise 2.0.1), for example:

    - `json://host:port/path`: a generic webhook that receives a JSON POST.
    - `mailto://user:password@host:port?from=a@example.org&to=b@example.org`: SMTP without
      TLS. Use `mailtos://` with `mode=starttls` (the default) or `mode=ssl` for TLS.
    - `slack://TokenA/TokenB/TokenC/#channel`: a Slack incoming webhook.
    - `workflow://host:port/workflow/signature`: a Microsoft Teams channel through a Power
      Automate workflow, which is Apprise 2.0's plugin for Teams.

    An alert whose key was sent on a channel within `suppress_for` is recorded as suppressed
    and not sent again there. A channel that is down, rejects the message or has an invalid
    URL is recorded as failed with the error and logged, and the other channels still get the
    alert. A channel `prefect-block://TYPE/NAME` sends through a saved Prefect notification
    block, such as `slack-webhook/curators`. Without channels, each alert is logged and
    recorded with channel `none` and status `recorded`, with the same suppression. Returns the
    recorded rows as dicts, in the order of the attempts.
    """
    if suppress_for < timedelta(0):
        raise ValueError(f"suppress_for must be zero or positive; got {suppress_for}")
    logger = stage_logger()
    rows = []
    for alert in alerts:
        attempts = [
            _attempt(connection, alert, url, suppress_for, logger)
            for url in channels or [NO_CHANNEL]
        ]
        if any(attempt["status"] != "suppressed" for attempt in attempts):
            logger.warning("alert: %s", alert.title)
        rows += attempts

    counts = {status: sum(r["status"] == status for r in rows) for status in STATUSES}
    logger.info(
        "alerts: %d sent, %d suppressed, %d failed, %d recorded without a channel "
        "(%d alert(s), %d channel(s))",
        *counts.values(),
        len(alerts),
        len(channels),
    )
    return rows


def _attempt(
    connection: duckdb.DuckDBPyConnection,
    alert: Alert,
    url: str,
    suppress_for: timedelta,
    logger: logging.Logger | logging.LoggerAdapter,
) -> dict:
    channel, secrets = (NO_CHANNEL, []) if url == NO_CHANNEL else _split_secrets(url)
    error = None
    if suppress_for > timedelta(0) and _was_sent_since(
        connection, alert, channel, datetime.now(UTC) - suppress_for
    ):
        status = "suppressed"
    elif url == NO_CHANNEL:
        status = "recorded"
    else:
        error = _deliver(alert, url, secrets)
        status = "sent" if error is None else "failed"
    if error is not None:
        error = _scrub(error, secrets)
        logger.warning("alert %s not sent to %s: %s", alert.key, channel, error)

    return _record(connection, alert, channel, status, error)


def _record(
    connection: duckdb.DuckDBPyConnection,
    alert: Alert,
    channel: str,
    status: str,
    error: str | None,
) -> dict:
    row = {
        "alert_key": alert.key,
        "kind": alert.kind,
        "severity": alert.severity,
        "title": alert.title,
        "body": alert.body,
        "channel": channel,
        "status": status,
        "error": error,
        "created_at": datetime.now(UTC),
    }
    connection.execute("insert into alerts values (?, ?, ?, ?, ?, ?, ?, ?, ?)", list(row.values()))
    return row


def _was_sent_since(
    connection: duckdb.DuckDBPyConnection, alert: Alert, channel: str, since: datetime
) -> bool:
    # NOTE: channels are compared in their masked form, so two channels that differ only in a
    # masked token (two Slack webhooks without a #channel target) share one suppression window.
    count = fetch_value(
        connection,
        "select count(*) from alerts "
        "where alert_key = ? and channel = ? and status in ('sent', 'recorded') "
        "and created_at >= ?",
        [alert.key, channel, since],
    )
    return count > 0


class _ScrubSecrets(logging.Filter):
    """Mask a channel's secrets in Apprise's own log records, such as `Unparseable URL ...`."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _scrub(record.getMessage(), self.secrets)
        record.args = ()
        return True


def _deliver(alert: Alert, url: str, secrets: list[str]) -> str | None:
    """Send one alert to one Apprise URL; return None on success, else the error text."""
    if url.startswith(PREFECT_BLOCK_SCHEME):
        return _notify_block(alert, url)
    # Memory storage keeps Apprise from writing its cache under the user's home folder.
    notifier = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
    apprise_logger = logging.getLogger(apprise.LOGGER_NAME)
    scrub_filter = _ScrubSecrets(secrets)
    apprise_logger.addFilter(scrub_filter)
    try:
        return _notify(notifier, alert, url)
    finally:
        apprise_logger.removeFilter(scrub_filter)


def _notify_block(alert: Alert, url: str) -> str | None:
    """Send one alert through a saved Prefect notification block; None on success."""
    from prefect.blocks.core import Block

    name = url.removeprefix(PREFECT_BLOCK_SCHEME)
    # Loading calls the Prefect API, and a block's own client can raise any exception type.
    # A missing or broken block must not stop the other channels, so every error is returned.
    try:
        block = Block.load(name)
    except Exception as error:
        return (
            f"Prefect block {name} could not be loaded ({type(error).__name__}: {error}); "
            "save it on this Prefect server, or fix the name in `alerts.prefect_blocks`"
        )
    if not hasattr(block, "raise_on_failure"):
        return f"Prefect block {name} is a {type(block).__name__}, not a notification block"
    try:
        with block.raise_on_failure():
            block.notify(body=alert.body, subject=alert.title)
    except Exception as error:
        return f"Prefect block {name} failed: {type(error).__name__}: {error}"
    return None


def _notify(notifier: apprise.Apprise, alert: Alert, url: str) -> str | None:
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
        try:
            if not notifier.add(url):
                return (
                    "invalid Apprise URL: unknown scheme or missing parts; check it against the "
                    "service's URL form in the Apprise documentation"
                )
            if len(notifier) != 1:
                return f"the channel contains {len(notifier)} URLs; pass each as its own channel"
            result = notifier.notify(
                title=alert.title,
                body=alert.body,
                notify_type=NOTIFY_TYPES.get(alert.severity, apprise.NotifyType.INFO),
            )
        # A plugin can raise any exception type, and one channel must not stop the others.
        except Exception as error:
            return f"Apprise raised {type(error).__name__}: {error}"
        if result:
            return None
        lines = [line for line in captured.getvalue().splitlines() if line.strip()]
    return "; ".join(lines) or "Apprise reported a failure without a message"
