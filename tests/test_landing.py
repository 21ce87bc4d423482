"""The landing folder: each new file content is ingested once, recorded, and a bad file is
rejected with its reason while the others load."""

from __future__ import annotations

import os
import time

import duckdb
import pytest

from flows.landing import ingest_landing
from flows.pipeline import run
from tasks.errors import LandingError, SpecError
from tasks.spec import load_spec
from tests.conftest import SMALL_ROWS, SMALL_SPEC

LANDING_SPEC = SMALL_SPEC.replace("  files: [people.csv]\n", "  files: []\n") + (
    "landing:\n  folder: landing\n  settle_seconds: 0\n"
)
BATCH_TWO = "person_id,sex,race,age,income\nq1,Female,A,25,low\nq2,Mal,A,45,high\n"
WRONG_COLUMNS = "nothing,here\n1,2\n"


@pytest.fixture
def landing_collection(make_collection, tmp_path):
    """Write the small collection fed only by its landing folder; return the spec path."""
    (tmp_path / "landing").mkdir()
    return make_collection(spec=LANDING_SPEC)


def land(tmp_path, name: str, text: str):
    path = tmp_path / "landing" / name
    path.write_text(text)
    return path


def landing_rows(tmp_path) -> list[tuple]:
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as connection:
        return connection.execute(
            "select file_name, status, error is not null from landing_files "
            "order by processed_at, file_name"
        ).fetchall()


def run_landing(spec_path, tmp_path):
    return ingest_landing(str(spec_path), str(tmp_path / "w.duckdb"))


def test_new_file_ingested_once(prefect_server, landing_collection, tmp_path):
    land(tmp_path, "batch-01.csv", SMALL_ROWS)

    first = run_landing(landing_collection, tmp_path)
    second = run_landing(landing_collection, tmp_path)

    assert [(b.source_file, b.rows_loaded) for b in first.batches] == [("batch-01.csv", 5)]
    assert first.gates is not None
    assert second.batches == []
    assert second.gates is None
    assert landing_rows(tmp_path) == [("batch-01.csv", "ingested", False)]


def test_counts_reconcile_with_quarantine(prefect_server, landing_collection, tmp_path):
    land(tmp_path, "batch-02.csv", BATCH_TWO)

    (batch,) = run_landing(landing_collection, tmp_path).batches

    assert (batch.rows_read, batch.rows_loaded, batch.rows_quarantined) == (2, 1, 1)


def test_copy_under_new_name_recorded(prefect_server, landing_collection, tmp_path):
    land(tmp_path, "batch-01.csv", SMALL_ROWS)
    run_landing(landing_collection, tmp_path)
    land(tmp_path, "batch-01-copy.csv", SMALL_ROWS)

    report = run_landing(landing_collection, tmp_path)

    assert [(b.source_file, b.already_ingested) for b in report.batches] == [
        ("batch-01-copy.csv", True)
    ]
    assert report.gates is None
    assert landing_rows(tmp_path) == [
        ("batch-01.csv", "ingested", False),
        ("batch-01-copy.csv", "already_ingested", False),
    ]


def test_two_copies_in_one_look_load_once(prefect_server, landing_collection, tmp_path):
    land(tmp_path, "a.csv", SMALL_ROWS)
    land(tmp_path, "b.csv", SMALL_ROWS)

    report = run_landing(landing_collection, tmp_path)

    assert [(b.source_file, b.already_ingested) for b in report.batches] == [
        ("a.csv", False),
        ("b.csv", True),
    ]
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as connection:
        assert connection.execute("select count(*) from records").fetchall() == [(5,)]


def test_corrected_file_replaces_batch(prefect_server, landing_collection, tmp_path):
    land(tmp_path, "batch-01.csv", SMALL_ROWS)
    first = run_landing(landing_collection, tmp_path)
    land(tmp_path, "batch-01.csv", SMALL_ROWS.replace("p5,Female,C,19,low", "p5,Female,C,20,low"))

    (batch,) = run_landing(landing_collection, tmp_path).batches

    assert batch.replaces_batch_id == first.batches[0].batch_id
    assert [status for _, status, _ in landing_rows(tmp_path)] == ["replaced", "ingested"]


def test_bad_file_rejected_others_loaded(prefect_server, landing_collection, tmp_path):
    land(tmp_path, "batch-01.csv", SMALL_ROWS)
    land(tmp_path, "broken.csv", WRONG_COLUMNS)

    with pytest.raises(LandingError, match=r"broken\.csv: input file .*column `sex`"):
        run_landing(landing_collection, tmp_path)

    assert landing_rows(tmp_path) == [
        ("batch-01.csv", "ingested", False),
        ("broken.csv", "rejected", True),
    ]
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as connection:
        assert connection.execute("select count(*) from records").fetchall() == [(5,)]


def test_wrong_delimiter_rejected(prefect_server, landing_collection, tmp_path):
    header, rows = SMALL_ROWS.split("\n", 1)
    land(tmp_path, "semicolons.csv", header + "\n" + rows.replace(",", ";"))
    land(tmp_path, "batch-01.csv", SMALL_ROWS)

    with pytest.raises(LandingError, match=r"none of its 5 lines splits on ',' into the 5 fields"):
        run_landing(landing_collection, tmp_path)

    assert landing_rows(tmp_path) == [
        ("batch-01.csv", "ingested", False),
        ("semicolons.csv", "rejected", True),
    ]


def test_rejected_file_not_retried(prefect_server, landing_collection, tmp_path):
    land(tmp_path, "broken.csv", WRONG_COLUMNS)
    with pytest.raises(LandingError):
        run_landing(landing_collection, tmp_path)

    report = run_landing(landing_collection, tmp_path)

    assert report.rejected == []


def test_unsettled_file_waits(prefect_server, make_collection, tmp_path):
    (tmp_path / "landing").mkdir()
    spec_path = make_collection(
        spec=LANDING_SPEC.replace("settle_seconds: 0", "settle_seconds: 600")
    )
    path = land(tmp_path, "batch-01.csv", SMALL_ROWS)

    waiting = run_landing(spec_path, tmp_path)
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))
    settled = run_landing(spec_path, tmp_path)

    assert waiting.batches == []
    assert [b.source_file for b in settled.batches] == ["batch-01.csv"]


def test_run_ingests_source_and_landing(prefect_server, make_collection, tmp_path):
    (tmp_path / "landing").mkdir()
    spec_path = make_collection(
        spec=SMALL_SPEC + "landing:\n  folder: landing\n  settle_seconds: 0\n"
    )
    land(tmp_path, "more.csv", "person_id,sex,race,age,income\nm1,Male,B,50,low\n")

    report = run(str(spec_path), str(tmp_path / "w.duckdb"), str(tmp_path / "releases"))

    assert [b.source_file for b in report.batches] == ["people.csv", "more.csv"]
    assert report.release.count_records == 6


def test_landing_flow_needs_landing(prefect_server, make_collection, tmp_path):
    spec_path = make_collection()

    with pytest.raises(SpecError, match="key `landing`: missing"):
        run_landing(spec_path, tmp_path)


@pytest.mark.parametrize(
    ("landing", "message"),
    [
        ("  folder: nowhere\n", r"key `landing.folder`: .*nowhere is not a folder"),
        ("  folder: landing\n  pattern: sub/*.csv\n", "names a sub-folder"),
        ("  folder: landing\n  settle_seconds: -1\n", "must be 0 or more"),
        (
            "  folder: landing\n  schedule: {cron: '0 * * *'}\n",
            "not a cron expression of five fields",
        ),
        (
            "  folder: landing\n  schedule: {cron: '0 * * * *', interval_seconds: 60}\n",
            "set exactly one of `cron`",
        ),
        ("  folder: landing\n  schedule: {interval_seconds: 0}\n", "must be at least 1"),
        (
            "  folder: landing\n  schedule: {cron: '61 * * * *'}\n",
            "'61 \\* \\* \\* \\*' is not a valid cron expression",
        ),
        (
            "  folder: landing\n  schedule: {cron: '0 * * * *', timezone: Mars/Olympus}\n",
            "unknown time zone 'Mars/Olympus'; use an IANA name",
        ),
        ("  folder: landing\n  watch: true\n", r"key `landing.watch`: unknown key"),
    ],
)
def test_bad_landing_section_rejected(make_collection, tmp_path, landing, message):
    (tmp_path / "landing").mkdir()
    spec_path = make_collection(spec=SMALL_SPEC + "landing:\n" + landing)

    with pytest.raises(SpecError, match=message):
        load_spec(spec_path)


def test_landing_schedule_read(make_collection, tmp_path):
    (tmp_path / "landing").mkdir()
    schedule = "{cron: '*/15 * * * *', timezone: Europe/Paris}"
    spec_path = make_collection(
        spec=SMALL_SPEC + f"landing:\n  folder: landing\n  schedule: {schedule}\n"
    )

    landing = load_spec(spec_path).landing

    assert (landing.cron, landing.interval_seconds, landing.timezone) == (
        "*/15 * * * *",
        None,
        "Europe/Paris",
    )
    assert landing.settle_seconds == 30


def test_no_files_without_landing_rejected(make_collection):
    spec_path = make_collection(spec=SMALL_SPEC.replace("files: [people.csv]", "files: []"))

    with pytest.raises(SpecError, match="key `source.files`: lists no files"):
        load_spec(spec_path)


def test_landing_leaves_summary_artifact(prefect_server, make_collection, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    (tmp_path / "landing").mkdir()
    spec_path = make_collection(spec=LANDING_SPEC.replace("name: small", "name: artifact_check"))
    land(tmp_path, "batch-01.csv", SMALL_ROWS)
    land(tmp_path, "broken.csv", WRONG_COLUMNS)
    with pytest.raises(LandingError):
        run_landing(spec_path, tmp_path)

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["artifact-check-landing-summary"])
            )
        )
    summary = max(artifacts, key=lambda a: a.created).data
    assert "1 new batch(es) ingested, 0 already ingested, 1 landed file(s) rejected." in summary
    assert "| batch-01.csv | 5 | 5 | 0 |" in summary
    assert "- `broken.csv`: input file" in summary
