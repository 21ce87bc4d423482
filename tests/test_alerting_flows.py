"""Alerts raised by the flows: gates, quarantine rates, share drops and pending withdrawals,
delivered to receivers on 127.0.0.1 through the channels a spec configures."""

from __future__ import annotations

import csv

import duckdb
import pytest

from flows.gates import check_gates
from flows.ingest import ingest
from flows.pipeline import run
from flows.release import release
from flows.withdraw import withdraw
from tasks.errors import SpecError
from tasks.spec import load_spec
from tests.conftest import SMALL_ROWS, SMALL_SPEC, SMALL_SUITE
from tests.fhibe_fixture import build_fhibe_collection
from tests.fhibe_spec import write_fhibe_spec
from tests.test_alerts import closed_port

BLOCKING_SUITE = {
    **SMALL_SUITE,
    "expectations": [
        {
            "type": "expect_groups_to_have_min_count",
            "kwargs": {"attribute": "race", "min_count": 2},
            "severity": "critical",
        },
        SMALL_SUITE["expectations"][1],
    ],
}
MORE_MEN = "".join(f"m{i},Male,A,30,low\n" for i in range(10))


def alerting_spec(*channels: str, extra: str = "") -> str:
    listed = ", ".join(f'"{c}"' for c in channels)
    return SMALL_SPEC + f"alerts:\n  channels: [{listed}]\n" + extra


def alert_rows(tmp_path) -> list[tuple]:
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as connection:
        return connection.execute(
            "select kind, status, channel from alerts order by created_at, kind"
        ).fetchall()


def kinds(received: list[dict]) -> list[str]:
    return sorted(message["title"] for message in received)


def test_blocking_gate_alert_reaches_webhook(prefect_server, make_collection, tmp_path, webhook):
    url, received = webhook
    spec_path = make_collection(spec=alerting_spec(url), suite=BLOCKING_SUITE)
    ingest(str(spec_path), str(tmp_path / "w.duckdb"))

    report = check_gates(str(spec_path), str(tmp_path / "w.duckdb"))

    assert report.outcome == "blocked"
    titles = kinds(received)
    assert titles == [
        "small: expect_groups_to_have_min_count on race blocks the release",
        "small: expect_groups_to_have_min_share on race failed as a warning",
    ]
    blocked = next(m for m in received if "blocks" in m["title"])
    assert "failed for" in blocked["message"]
    assert "B (observed 1)" in blocked["message"]
    assert blocked["type"] == "failure"
    assert {status for _, status, _ in alert_rows(tmp_path)} == {"sent"}


def test_gate_warnings_can_be_silenced(prefect_server, make_collection, tmp_path, webhook):
    url, received = webhook
    spec_path = make_collection(
        spec=alerting_spec(url, extra="  gate_warnings: false\n"), suite=BLOCKING_SUITE
    )
    ingest(str(spec_path), str(tmp_path / "w.duckdb"))

    check_gates(str(spec_path), str(tmp_path / "w.duckdb"))

    assert kinds(received) == ["small: expect_groups_to_have_min_count on race blocks the release"]


def test_repeat_gate_run_suppressed(prefect_server, make_collection, tmp_path, webhook):
    url, received = webhook
    spec_path = make_collection(spec=alerting_spec(url))
    ingest(str(spec_path), str(tmp_path / "w.duckdb"))

    check_gates(str(spec_path), str(tmp_path / "w.duckdb"))
    check_gates(str(spec_path), str(tmp_path / "w.duckdb"))

    assert len(received) == 1
    assert [status for _, status, _ in alert_rows(tmp_path)] == ["sent", "suppressed"]


def test_quarantine_rate_alert(prefect_server, make_collection, tmp_path, webhook):
    url, received = webhook
    rows = SMALL_ROWS.replace("p5,Female,C,19,low", "p5,Femme,C,19,low")
    spec_path = make_collection(
        rows=rows, spec=alerting_spec(url, extra="  max_quarantine_rate: 0.1\n")
    )

    ingest(str(spec_path), str(tmp_path / "w.duckdb"))

    assert kinds(received) == ["small: 20.0% of the rows of people.csv were quarantined"]
    assert "1 of 5 rows of people.csv failed a check" in received[0]["message"]


def test_quarantine_under_limit_silent(prefect_server, make_collection, tmp_path, webhook):
    url, received = webhook
    rows = SMALL_ROWS.replace("p5,Female,C,19,low", "p5,Femme,C,19,low")
    spec_path = make_collection(
        rows=rows, spec=alerting_spec(url, extra="  max_quarantine_rate: 0.2\n")
    )

    ingest(str(spec_path), str(tmp_path / "w.duckdb"))

    assert received == []


def test_share_drop_alert_after_release(prefect_server, make_collection, tmp_path, webhook):
    url, received = webhook
    spec_path = make_collection(spec=alerting_spec(url, extra="  gate_warnings: false\n"))
    arguments = (str(spec_path), str(tmp_path / "w.duckdb"), str(tmp_path / "releases"))
    run(*arguments)
    with (tmp_path / "people.csv").open("a") as handle:
        handle.write(MORE_MEN)

    second = run(*arguments)

    assert second.release.version == "1.1.0"
    # Female: 3 of 5 (60%) before, 3 of 15 (20%) after; a drop of 40 points.
    female = [m for m in received if "sex = Female" in m["title"]]
    assert [m["title"] for m in female] == [
        "small: share of sex = Female dropped by 40.00 percentage points"
    ]
    assert "fell from 60.00% to 20.00%, a drop of 40.00 percentage points" in female[0]["message"]
    assert "the limit is 5" in female[0]["message"]


def test_down_channel_spares_flow(prefect_server, make_collection, tmp_path, webhook):
    url, received = webhook
    down = f"json://127.0.0.1:{closed_port()}/alerts"
    spec_path = make_collection(spec=alerting_spec(down, url), suite=BLOCKING_SUITE)
    ingest(str(spec_path), str(tmp_path / "w.duckdb"))

    report = check_gates(str(spec_path), str(tmp_path / "w.duckdb"))

    assert report.outcome == "blocked"
    assert len(received) == 2
    assert {(status, channel) for _, status, channel in alert_rows(tmp_path)} == {
        ("failed", down),
        ("sent", url),
    }


def test_channels_from_environment(prefect_server, make_collection, tmp_path, webhook, monkeypatch):
    url, received = webhook
    monkeypatch.setenv("SMALL_ALERT_URLS", f"{url}?first=1, {url}?second=1")
    spec_path = make_collection(spec=SMALL_SPEC + "alerts:\n  channels_env: SMALL_ALERT_URLS\n")
    ingest(str(spec_path), str(tmp_path / "w.duckdb"))

    check_gates(str(spec_path), str(tmp_path / "w.duckdb"))

    assert len(received) == 2


def test_no_channel_records_alert(prefect_server, make_collection, tmp_path):
    spec_path = make_collection()
    ingest(str(spec_path), str(tmp_path / "w.duckdb"))

    check_gates(str(spec_path), str(tmp_path / "w.duckdb"))

    assert alert_rows(tmp_path) == [("gate_warned", "recorded", "none")]


def test_prefect_block_channel(prefect_server, make_collection, tmp_path, webhook):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    url, received = webhook
    CustomWebhookNotificationBlock(
        name="small-curators",
        url=url.replace("json://", "http://"),
        json_data={"title": "{{subject}}", "message": "{{body}}"},
    ).save("small-curators", overwrite=True)
    spec_path = make_collection(
        spec=SMALL_SPEC + "alerts:\n  prefect_blocks: [custom-webhook/small-curators]\n"
    )
    ingest(str(spec_path), str(tmp_path / "w.duckdb"))

    check_gates(str(spec_path), str(tmp_path / "w.duckdb"))

    assert kinds(received) == ["small: expect_groups_to_have_min_share on race failed as a warning"]
    assert alert_rows(tmp_path) == [
        ("gate_warned", "sent", "prefect-block://custom-webhook/small-curators")
    ]


def test_missing_prefect_block_recorded_failed(prefect_server, make_collection, tmp_path):
    spec_path = make_collection(
        spec=SMALL_SPEC + "alerts:\n  prefect_blocks: [custom-webhook/nobody-saved-this]\n"
    )
    ingest(str(spec_path), str(tmp_path / "w.duckdb"))

    check_gates(str(spec_path), str(tmp_path / "w.duckdb"))

    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as connection:
        ((status, error),) = connection.execute("select status, error from alerts").fetchall()
    assert status == "failed"
    assert "custom-webhook/nobody-saved-this could not be loaded" in error


def test_dry_run_writes_nothing(prefect_server, make_collection, tmp_path):
    spec_path = make_collection()
    arguments = (str(spec_path), str(tmp_path / "w.duckdb"), str(tmp_path / "releases"))
    ingest(*arguments[:2])

    planned = release(*arguments, dry_run=True)

    assert (planned.release.version, planned.release.count_records) == ("1.0.0", 5)
    assert planned.release.is_dry_run
    assert not planned.release.is_new
    assert not (tmp_path / "releases" / "1.0.0").exists()
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as connection:
        assert connection.execute("select count(*) from releases").fetchall() == [(0,)]


def test_pending_withdrawal_alert(prefect_server, tmp_path, webhook):
    url, received = webhook
    root = build_fhibe_collection(tmp_path / "release")
    spec_path = write_fhibe_spec(tmp_path, root)
    with spec_path.open("a") as handle:
        handle.write(
            f'alerts:\n  channels: ["{url}"]\n  gate_warnings: false\n  max_share_drop_pp: 100\n'
        )
    arguments = (str(spec_path), str(tmp_path / "w.duckdb"), str(tmp_path / "releases"))
    run(*arguments)
    withdrawals = tmp_path / "withdrawals.csv"
    with withdrawals.open("w", newline="") as handle:
        csv.writer(handle).writerows([["subject_id"], ["s01"]])

    withdraw(arguments[0], warehouse=arguments[1], withdrawals_file=str(withdrawals))
    pending = [m["title"] for m in received]
    release(*arguments)

    assert pending == ["fhibe_fixture: 1 consent withdrawal waits for a release"]
    assert "s01" not in received[0]["message"]
    assert len(received) == 1


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        ("  channels: [slack]\n", r"key `alerts.channels\[0\]`: expected an Apprise URL"),
        ("  prefect_blocks: [curators]\n", "is not a block name; write TYPE/NAME"),
        ("  max_quarantine_rate: 5\n", "must be 0 or more and at most 1"),
        ("  max_share_drop_pp: -1\n", "must be 0 or more"),
        ("  gate_warnings: sometimes\n", "expected true or false"),
        ("  suppress_for_hours: soon\n", "expected a number"),
    ],
)
def test_bad_alerts_section_rejected(make_collection, alerts, message):
    spec_path = make_collection(spec=SMALL_SPEC + "alerts:\n" + alerts)

    with pytest.raises(SpecError, match=message):
        load_spec(spec_path)


def test_landing_for_photos_rejected(tmp_path):
    root = build_fhibe_collection(tmp_path / "release")
    spec_path = write_fhibe_spec(tmp_path, root)
    (tmp_path / "landing").mkdir()
    with spec_path.open("a") as handle:
        handle.write("landing:\n  folder: landing\n")

    with pytest.raises(SpecError, match="landing folder is read for `source.format: delimited`"):
        load_spec(spec_path)
