"""Gates: blocking and warning expectations, their messages, and what they record."""

from __future__ import annotations

import json

import duckdb
import pytest

from flows.gates import check_gates
from flows.pipeline import run
from tasks.errors import GateBlockedError
from tests.conftest import SMALL_SUITE

BLOCKING_SUITE = {
    "name": "small_coverage",
    "meta": {
        "measurement_table": "coverage_by_attribute",
        "index_columns": ["attribute", "category"],
    },
    "expectations": [
        {
            "type": "expect_groups_to_have_min_count",
            "kwargs": {"attribute": "race", "min_count": 2},
            "severity": "critical",
        },
        {
            "type": "expect_groups_to_have_min_share",
            "kwargs": {"attribute": "sex", "min_share": 0.45},
            "severity": "warning",
        },
    ],
}


def test_blocking_failure_stops_release(prefect_server, make_collection, tmp_path):
    spec_path = make_collection(suite=BLOCKING_SUITE)
    warehouse = tmp_path / "w.duckdb"
    releases = tmp_path / "releases"

    with pytest.raises(GateBlockedError) as raised:
        run(str(spec_path), str(warehouse), str(releases))

    message = str(raised.value)
    assert "expect_groups_to_have_min_count(attribute='race', min_count=2)" in message
    assert "B (observed 1)" in message
    assert "C (observed 1)" in message
    assert "A (observed" not in message
    assert not releases.exists() or not any(releases.iterdir())


def test_gate_results_recorded(prefect_server, make_collection, tmp_path):
    spec_path = make_collection(suite=BLOCKING_SUITE)
    warehouse = tmp_path / "w.duckdb"
    with pytest.raises(GateBlockedError):
        run(str(spec_path), str(warehouse), str(tmp_path / "releases"))

    with duckdb.connect(str(warehouse), read_only=True) as connection:
        runs = connection.execute(
            "select outcome, count_blocking_failures, count_warnings from gate_runs"
        ).fetchall()
        results = connection.execute(
            "select expectation_type, severity, is_success from gate_results order by severity"
        ).fetchall()
    assert runs == [("blocked", 1, 1)]
    assert results == [
        ("expect_groups_to_have_min_count", "blocking", False),
        ("expect_groups_to_have_min_share", "warning", False),
    ]


def test_warning_does_not_block(prefect_server, make_collection, tmp_path):
    spec_path = make_collection(suite=SMALL_SUITE)
    report = run(str(spec_path), str(tmp_path / "w.duckdb"), str(tmp_path / "releases"))

    assert report.gates.outcome == "warned"
    assert report.release.is_new
    assert report.release.version == "1.0.0"
    warning = report.gates.warnings[0].summary
    assert "expect_groups_to_have_min_share(attribute='race', min_share=0.3)" in warning
    assert "B (observed 0.25)" in warning
    assert "C (observed 0.25)" in warning


def test_validation_results_saved_as_gx_json(prefect_server, make_collection, tmp_path):
    spec_path = make_collection(suite=SMALL_SUITE)
    warehouse = tmp_path / "w.duckdb"
    run(str(spec_path), str(warehouse), str(tmp_path / "releases"))

    report = check_gates(str(spec_path), str(warehouse))
    saved = json.loads((report.validation_dir / "small_coverage.json").read_text())
    assert saved["success"] is False
    assert [r["expectation_config"]["type"] for r in saved["results"]] == [
        "expect_groups_to_have_min_count",
        "expect_groups_to_have_min_share",
    ]
    assert [r["expectation_config"]["severity"] for r in saved["results"]] == [
        "critical",
        "warning",
    ]


def test_run_leaves_prefect_artifacts(prefect_server, make_collection, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    spec_path = make_collection(suite=BLOCKING_SUITE)
    with pytest.raises(GateBlockedError):
        run(str(spec_path), str(tmp_path / "w.duckdb"), str(tmp_path / "releases"))

    keys = ["small-run-summary", "small-gate-results"]
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys))
        )
    latest = {}
    for artifact in sorted(artifacts, key=lambda a: a.created):
        latest[artifact.key] = artifact
    assert set(latest) == set(keys)
    summary = latest["small-run-summary"].data
    assert "gates blocked" in summary
    assert "A (observed" not in summary
    assert "B (observed 1)" in summary
    table = json.loads(latest["small-gate-results"].data)
    assert [row["outcome"] for row in table] == ["failed", "failed"]
    assert table[0]["severity"] == "blocking"
