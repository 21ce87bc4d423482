"""Alerts: builders, delivery to a local webhook and SMTP receiver, suppression and masking."""

from __future__ import annotations

import email
import email.policy
import socket
import socketserver
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from tasks.alerts import (
    Alert,
    alerts_for_gates,
    alerts_for_pending_withdrawals,
    alerts_for_quarantine_rate,
    alerts_for_share_drops,
    mask_channel,
    send_alerts,
)
from tasks.gates import GateReport, GateResult
from tasks.warehouse import connect

ALERTS_SQL = Path(__file__).resolve().parent.parent / "sql" / "schema" / "alerts.sql"
WINDOW = timedelta(minutes=10)

MIN_SHARE_FAILED = GateResult(
    suite="adult_coverage",
    measurement_table="coverage_by_attribute",
    expectation_type="expect_groups_to_have_min_share",
    severity="blocking",
    is_success=False,
    summary=(
        "adult_coverage: expect_groups_to_have_min_share(attribute='race', min_share=0.02) "
        "failed for Other (observed share 0.0083, count_members 406)"
    ),
    kwargs={"attribute": "race", "min_share": 0.02},
    observed={"failing_groups": {"Other": 0.0083}},
)
MIN_COUNT_WARNED = GateResult(
    suite="adult_coverage",
    measurement_table="coverage_by_attribute",
    expectation_type="expect_groups_to_have_min_count",
    severity="warning",
    is_success=False,
    summary="adult_coverage: expect_groups_to_have_min_count(attribute='sex', min_count=50) "
    "failed for Female (observed 12)",
    kwargs={"attribute": "sex", "min_count": 50},
    observed={"failing_groups": {"Female": 12}},
)
PASSED = GateResult(
    suite="adult_coverage",
    measurement_table="coverage_by_attribute",
    expectation_type="expect_groups_to_have_min_count",
    severity="blocking",
    is_success=True,
    summary="adult_coverage: expect_groups_to_have_min_count(attribute='race') passed",
    kwargs={"attribute": "race", "min_count": 2},
    observed=None,
)
INFO_FAILED = GateResult(
    suite="adult_diversity",
    measurement_table="diversity_by_attribute",
    expectation_type="expect_column_values_to_be_between",
    severity="info",
    is_success=False,
    summary="adult_diversity: expect_column_values_to_be_between(column='entropy') failed",
    kwargs={"column": "entropy", "min_value": 0.5},
    observed=[],
)


def make_report(*results: GateResult) -> GateReport:
    outcome = (
        "blocked"
        if any(r.severity == "blocking" and not r.is_success for r in results)
        else "warned"
    )
    return GateReport("20260101T000000Z-abc123", outcome, results, Path("validations"))


def closed_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on: bound once, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def connection(tmp_path):
    with connect(tmp_path / "w.duckdb") as connection:
        connection.execute(ALERTS_SQL.read_text())
        yield connection


class SMTPHandler(socketserver.StreamRequestHandler):
    """Speak the part of SMTP a client needs to hand over one message, and record it."""

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self):
        self.reply("220 127.0.0.1 test SMTP receiver")
        while line := self.rfile.readline():
            command = line.decode().strip().upper()
            if command.startswith("EHLO"):
                self.reply("250-127.0.0.1")
                self.reply("250 8BITMIME")
            elif command.startswith(("HELO", "MAIL", "RCPT", "RSET", "NOOP")):
                self.reply("250 OK")
            elif command == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                self.server.messages.append(self.read_data())
                self.reply("250 OK: queued")
            elif command == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")

    def read_data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)


@pytest.fixture
def smtp_receiver():
    """Start an SMTP receiver on 127.0.0.1 and yield its port and the list of raw messages."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTPHandler)
    server.daemon_threads = True
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], server.messages
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def statuses(connection) -> list[str]:
    rows = connection.execute("select status from alerts order by created_at").fetchall()
    return [status for (status,) in rows]


# Builders


def test_gate_alerts_for_failures_only():
    report = make_report(MIN_SHARE_FAILED, MIN_COUNT_WARNED, PASSED, INFO_FAILED)

    alerts = alerts_for_gates("adult", report)

    assert [a.kind for a in alerts] == ["gate_failed", "gate_warned"]
    assert [a.severity for a in alerts] == ["critical", "warning"]
    assert alerts[0].key == "gate:adult_coverage:expect_groups_to_have_min_share:race"
    assert alerts[0].body == MIN_SHARE_FAILED.summary


def test_gate_keys_differ_by_row_condition():
    results = [
        GateResult(
            "adult_intersections",
            "coverage_by_intersection",
            "expect_column_values_to_be_in_set",
            "warning",
            False,
            "failed",
            {"column": "is_small", "row_condition": f"intersection == '{name}'"},
            [],
        )
        for name in ("race × region", "sex × race")
    ]

    keys = [a.key for a in alerts_for_gates("adult", make_report(*results))]

    assert keys == [
        "gate:adult_intersections:expect_column_values_to_be_in_set:is_small where "
        "intersection == 'race × region'",
        "gate:adult_intersections:expect_column_values_to_be_in_set:is_small where "
        "intersection == 'sex × race'",
    ]


def test_gate_key_without_attribute_stable():
    result = GateResult(
        "s", "t", "expect_table_row_count_to_be_between", "blocking", False, "failed", {"a": 1}, 0
    )

    first = alerts_for_gates("adult", make_report(result))[0].key
    second = alerts_for_gates("adult", make_report(result))[0].key

    assert first == second
    assert first.startswith("gate:s:expect_table_row_count_to_be_between:kwargs-")


@pytest.mark.parametrize(
    ("old_share", "new_share", "count_alerts"),
    [
        pytest.param(0.30, 0.24, 1, id="drop_above_limit"),
        pytest.param(0.30, 0.25, 0, id="drop_at_limit"),
        pytest.param(0.30, 0.26, 0, id="drop_below_limit"),
        pytest.param(0.24, 0.30, 0, id="rise"),
        pytest.param(None, 0.30, 0, id="new_group"),
        pytest.param(0.30, None, 0, id="no_known_values"),
    ],
)
def test_share_drop_threshold(old_share, new_share, count_alerts):
    shift = {"attribute": "race", "category": "B", "old_share": old_share, "new_share": new_share}

    alerts = alerts_for_share_drops("adult", [shift], max_drop_pp=5)

    assert len(alerts) == count_alerts


def test_share_drop_alert_text():
    shift = {"attribute": "race", "category": "B", "old_share": 0.30, "new_share": 0.20}

    (alert,) = alerts_for_share_drops("adult", [shift], max_drop_pp=5)

    assert alert.key == "share:race:B"
    assert alert.kind == "share_dropped"
    assert "30.00% to 20.00%" in alert.body
    assert "10.00 percentage points" in alert.title


def test_share_drop_missing_key_rejected():
    with pytest.raises(ValueError, match="missing the keys new_share"):
        alerts_for_share_drops(
            "adult", [{"attribute": "race", "category": "B", "old_share": 0.3}], 5
        )


def test_share_drop_percent_share_rejected():
    shift = {"attribute": "race", "category": "B", "old_share": 30, "new_share": 20}

    with pytest.raises(ValueError, match="shares are fractions from 0 to 1"):
        alerts_for_share_drops("adult", [shift], max_drop_pp=5)


def test_share_drop_negative_limit_rejected():
    with pytest.raises(ValueError, match="max_drop_pp must be 0 or more"):
        alerts_for_share_drops("adult", [], max_drop_pp=-1)


@pytest.mark.parametrize(
    ("rows_read", "rows_quarantined", "count_alerts"),
    [
        pytest.param(1000, 51, 1, id="above_limit"),
        pytest.param(1000, 50, 0, id="at_limit"),
        pytest.param(1000, 0, 0, id="none_quarantined"),
        pytest.param(0, 0, 0, id="empty_file"),
    ],
)
def test_quarantine_rate_threshold(rows_read, rows_quarantined, count_alerts):
    alerts = alerts_for_quarantine_rate("adult", "adult.data", rows_read, rows_quarantined, 0.05)

    assert len(alerts) == count_alerts


def test_quarantine_alert_names_file_and_counts():
    (alert,) = alerts_for_quarantine_rate("adult", "adult.data", 200, 30, 0.05)

    assert alert.key == "quarantine:adult.data"
    assert "30 of 200 rows of adult.data" in alert.body


def test_quarantine_counts_inconsistent_rejected():
    with pytest.raises(ValueError, match=r"rows_quarantined \(20\) must be from 0 to rows_read"):
        alerts_for_quarantine_rate("adult", "adult.data", 10, 20, 0.05)


def test_quarantine_rate_percent_rejected():
    with pytest.raises(ValueError, match="max_rate must be a fraction from 0 to 1"):
        alerts_for_quarantine_rate("adult", "adult.data", 10, 1, 5)


def test_withdrawal_alert_carries_count():
    (alert,) = alerts_for_pending_withdrawals("fhibe", 3)

    assert alert.key == "withdrawals:pending"
    assert alert.kind == "withdrawal_pending"
    assert alert.body.startswith("3 people have withdrawn consent")
    assert "3 consent withdrawals" in alert.title


def test_withdrawal_alert_singular():
    (alert,) = alerts_for_pending_withdrawals("fhibe", 1)

    assert alert.title == "fhibe: 1 consent withdrawal waits for a release"
    assert alert.body.startswith("1 person has withdrawn consent")


def test_withdrawal_alert_none_pending():
    assert alerts_for_pending_withdrawals("fhibe", 0) == []


def test_withdrawal_negative_count_rejected():
    with pytest.raises(ValueError, match="count_pending must be 0 or more"):
        alerts_for_pending_withdrawals("fhibe", -1)


# Delivery


def test_gate_alert_reaches_webhook(connection, webhook):
    url, received = webhook
    alerts = alerts_for_gates("adult", make_report(MIN_SHARE_FAILED))

    rows = send_alerts(connection, alerts, [url], WINDOW)

    assert [r["status"] for r in rows] == ["sent"]
    assert len(received) == 1
    assert received[0]["title"] == alerts[0].title
    assert "expect_groups_to_have_min_share" in received[0]["message"]
    assert "Other (observed share 0.0083" in received[0]["message"]


def test_repeat_within_window_suppressed(connection, webhook):
    url, received = webhook
    alerts = alerts_for_gates("adult", make_report(MIN_SHARE_FAILED))

    send_alerts(connection, alerts, [url], WINDOW)
    rows = send_alerts(connection, alerts, [url], WINDOW)

    assert [r["status"] for r in rows] == ["suppressed"]
    assert len(received) == 1
    assert statuses(connection) == ["sent", "suppressed"]


def test_repeat_after_window_sent(connection, webhook):
    url, received = webhook
    alerts = alerts_for_gates("adult", make_report(MIN_SHARE_FAILED))
    send_alerts(connection, alerts, [url], WINDOW)
    connection.execute("update alerts set created_at = created_at - interval 11 minutes")

    rows = send_alerts(connection, alerts, [url], WINDOW)

    assert [r["status"] for r in rows] == ["sent"]
    assert len(received) == 2


def test_zero_window_never_suppresses(connection, webhook):
    url, received = webhook
    alerts = alerts_for_pending_withdrawals("fhibe", 2)

    send_alerts(connection, alerts, [url], timedelta(0))
    send_alerts(connection, alerts, [url], timedelta(0))

    assert len(received) == 2


def test_mail_reaches_smtp_receiver(connection, smtp_receiver):
    port, messages = smtp_receiver
    url = f"mailto://127.0.0.1:{port}?from=faircurate@example.org&to=curators@example.org"
    alerts = alerts_for_quarantine_rate("adult", "adult.data", 200, 30, 0.05)

    rows = send_alerts(connection, alerts, [url], WINDOW)

    assert [r["status"] for r in rows] == ["sent"]
    assert len(messages) == 1
    message = email.message_from_bytes(messages[0], policy=email.policy.default)
    assert message["subject"] == alerts[0].title
    assert message["to"] == "curators@example.org"


def test_down_channel_recorded_failed(connection):
    url = f"json://127.0.0.1:{closed_port()}/alerts"
    alerts = alerts_for_pending_withdrawals("fhibe", 2)

    rows = send_alerts(connection, alerts, [url], WINDOW)

    assert [r["status"] for r in rows] == ["failed"]
    assert "Connection error" in rows[0]["error"]
    assert statuses(connection) == ["failed"]


def test_down_channel_logged_once(connection, caplog):
    url = f"json://127.0.0.1:{closed_port()}/alerts"

    send_alerts(connection, alerts_for_pending_withdrawals("fhibe", 2), [url], WINDOW)

    lines = [r.getMessage() for r in caplog.records if r.name == "faircurate"]
    failures = [line for line in lines if line.startswith("alert withdrawals:pending not sent")]
    assert len(failures) == 1
    assert url in failures[0]


def test_earlier_failure_not_suppressing(connection, webhook):
    url, _ = webhook
    alert = Alert("test:retry", "gate_failed", "critical", "title", "body")
    connection.execute(
        "insert into alerts values (?, ?, ?, ?, ?, ?, 'failed', 'down', now())",
        [alert.key, alert.kind, alert.severity, alert.title, alert.body, url],
    )

    rows = send_alerts(connection, [alert], [url], WINDOW)

    assert [r["status"] for r in rows] == ["sent"]


def test_down_channel_spares_other_channels(connection, webhook):
    url, received = webhook
    down = f"json://127.0.0.1:{closed_port()}/alerts"
    alerts = alerts_for_pending_withdrawals("fhibe", 2)

    rows = send_alerts(connection, alerts, [down, url], WINDOW)

    assert [r["status"] for r in rows] == ["failed", "sent"]
    assert len(received) == 1


@pytest.mark.parametrize(
    ("url", "error"),
    [
        pytest.param("nonsense://127.0.0.1/x", "invalid Apprise URL", id="unknown_scheme"),
        pytest.param("not a url", "invalid Apprise URL", id="no_scheme"),
        pytest.param("json://127.0.0.1:1/a json://127.0.0.1:2/b", "contains 2 URLs", id="two_urls"),
    ],
)
def test_invalid_url_recorded_failed(connection, url, error):
    rows = send_alerts(connection, alerts_for_pending_withdrawals("fhibe", 2), [url], WINDOW)

    assert rows[0]["status"] == "failed"
    assert error in rows[0]["error"]


def test_negative_window_rejected(connection):
    with pytest.raises(ValueError, match="suppress_for must be zero or positive"):
        send_alerts(connection, [], [], timedelta(minutes=-1))


# Masking


def test_secrets_masked_in_table(connection, webhook):
    url, received = webhook
    port = url.split(":")[2].split("/")[0]
    with_secrets = f"json://curator:hunter2pw@127.0.0.1:{port}/alerts?token=abc123tok"
    down = f"mailto://curator:hunter2pw@127.0.0.1:{closed_port()}?from=a@example.org"

    send_alerts(
        connection, alerts_for_pending_withdrawals("fhibe", 2), [with_secrets, down], WINDOW
    )

    stored = connection.execute("select channel, coalesce(error, '') from alerts").fetchall()
    text = " ".join(" ".join(row) for row in stored)
    assert len(received) == 1
    assert "hunter2pw" not in text
    assert "abc123tok" not in text
    assert stored[0][0] == f"json://curator:***@127.0.0.1:{port}/alerts?token=***"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        pytest.param(
            "slack://T1ABCDEF/B2GHIJKL/C3mnopqrstuv/#curation",
            "slack://***/***/***/#curation",
            id="slack_webhook",
        ),
        pytest.param(
            "slack://xoxb-1234-abcd/#curation", "slack://***/#curation", id="slack_bot_token"
        ),
        pytest.param(
            "workflow://127.0.0.1:8443/wf123abc/sig456def",
            "workflow://127.0.0.1:8443/***/***",
            id="teams_workflow",
        ),
        pytest.param(
            "https://127.0.0.1/services/T1/B2/C3?sig=xyz",
            "https://127.0.0.1/***/***/***/***?sig=***",
            id="native_https",
        ),
        pytest.param(
            "mailto://bob:pw%40123@127.0.0.1:2525?from=a@example.org&to=c@example.org",
            "mailto://bob:***@127.0.0.1:2525?from=a@example.org&to=c@example.org",
            id="mailto_password",
        ),
        pytest.param(
            "json://127.0.0.1:8080/hook?apikey=k1&method=POST",
            "json://127.0.0.1:8080/hook?apikey=***&method=POST",
            id="json_query_key",
        ),
        pytest.param("json://127.0.0.1:8080/hook", "json://127.0.0.1:8080/hook", id="no_secret"),
        pytest.param("json://127.0.0.1:port/hook", "***", id="unparseable_port"),
        pytest.param("token-without-scheme", "***", id="no_scheme"),
    ],
)
def test_mask_channel_forms(url, masked):
    assert mask_channel(url) == masked
