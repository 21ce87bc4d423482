"""Ingest on a local Dask cluster of two worker processes gives the same warehouse as by default."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from distributed import LocalCluster
from prefect.client.orchestration import get_client
from prefect_dask import DaskTaskRunner

from bench.generate import generate
from flows.cli import main
from flows.ingest import ingest
from tasks.runners import configured_task_runner
from tasks.settings import (
    DASK_ADDRESS_VARIABLE,
    DASK_WORKERS_VARIABLE,
    TASK_RUNNER_VARIABLE,
    RunnerSettings,
    SettingsError,
    runner_settings,
)

# Columns that record when a row was written, which differ between any two runs.
TIMESTAMP_COLUMNS = {"ingested_at", "quarantined_at", "recorded_at"}


@pytest.fixture(scope="module")
def dask_address():
    """Start a Dask cluster of two worker processes on 127.0.0.1 and stop it afterwards."""
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
    )  # fmt: skip
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def table_rows(warehouse: Path, table: str, order: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        columns = [
            name
            for (name,) in connection.execute(
                "select column_name from information_schema.columns where table_name = ? "
                "order by ordinal_position",
                [table],
            ).fetchall()
            if name not in TIMESTAMP_COLUMNS
        ]
        select = ", ".join(f'"{name}"' for name in columns)
        return connection.execute(f"select {select} from {table} order by {order}").fetchall()


def task_run_names(flow_run_id) -> set[str]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs()
    return {run.name.rsplit("-", 1)[0] for run in runs if run.flow_run_id == flow_run_id}


def ingest_both_ways(spec: Path, tmp_path: Path, address: str):
    default_warehouse = tmp_path / "default.duckdb"
    dask_warehouse = tmp_path / "dask.duckdb"
    default_batches = ingest(str(spec), str(default_warehouse))
    on_dask = ingest.with_options(task_runner=DaskTaskRunner(address=address))
    state = on_dask(str(spec), str(dask_warehouse), return_state=True)
    return default_batches, state, default_warehouse, dask_warehouse


def test_tabular_ingest_matches_on_dask(prefect_server, dask_address, tmp_path):
    spec = generate(tmp_path / "collection", 2500, seed=4, layout="tabular", rows_per_file=1000)
    # A row with an unknown pronoun checks that quarantine matches too.
    first_file = tmp_path / "collection" / "appearances-0001.csv"
    text = first_file.read_text().replace("She/her/hers", "Shee", 1)
    first_file.write_text(text)

    default_batches, state, default_wh, dask_wh = ingest_both_ways(spec, tmp_path, dask_address)
    dask_batches = state.result()

    assert [b.rows_read for b in dask_batches] == [1000, 1000, 500]
    assert [b.rows_quarantined for b in dask_batches] == [1, 0, 0]
    assert [(b.batch_id, b.rows_loaded) for b in dask_batches] == [
        (b.batch_id, b.rows_loaded) for b in default_batches
    ]
    assert table_rows(dask_wh, "records", "record_id") == table_rows(
        default_wh, "records", "record_id"
    )
    assert table_rows(dask_wh, "quarantine", "source_file, source_line") == table_rows(
        default_wh, "quarantine", "source_file, source_line"
    )
    assert table_rows(dask_wh, "batches", "source_file") == table_rows(
        default_wh, "batches", "source_file"
    )
    assert "prepare_batch" in task_run_names(state.state_details.flow_run_id)


def test_photo_ingest_matches_on_dask(prefect_server, dask_address, tmp_path):
    # About 130 images, so the check is split into several shards.
    spec = generate(tmp_path / "collection", 150, seed=4, image_size=16)

    default_batches, state, default_wh, dask_wh = ingest_both_ways(spec, tmp_path, dask_address)
    [dask_batch] = state.result()

    assert dask_batch.rows_loaded == 150
    assert dask_batch.rows_loaded == default_batches[0].rows_loaded
    for table, order in (
        ("records", "record_id"),
        ("images", "image_id"),
        ("annotations", "image_id, subject_id, attribute"),
        ("consent_events", "subject_id, event"),
    ):
        assert table_rows(dask_wh, table, order) == table_rows(default_wh, table, order), table
    assert "check_image_shard" in task_run_names(state.state_details.flow_run_id)


def test_default_settings_keep_prefect_runner():
    assert configured_task_runner(RunnerSettings("default", None, 2)) is None


def test_dask_settings_build_local_cluster():
    runner = configured_task_runner(RunnerSettings("dask", None, 3))
    assert isinstance(runner, DaskTaskRunner)
    assert runner.cluster_kwargs["n_workers"] == 3
    assert runner.cluster_kwargs["host"] == "127.0.0.1"


def test_dask_address_used_as_given():
    runner = configured_task_runner(RunnerSettings("dask", "tcp://127.0.0.1:8786", 2))
    assert runner.address == "tcp://127.0.0.1:8786"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        pytest.param(TASK_RUNNER_VARIABLE, "spark", "expected one of default, dask", id="runner"),
        pytest.param(DASK_ADDRESS_VARIABLE, "127.0.0.1", "expected a Dask scheduler", id="address"),
        pytest.param(DASK_WORKERS_VARIABLE, "0", "expected a whole number", id="workers_zero"),
        pytest.param(DASK_WORKERS_VARIABLE, "two", "expected a whole number", id="workers_word"),
    ],
)
def test_invalid_runner_setting_rejected(variable, value, message):
    with pytest.raises(SettingsError, match=f"{variable} is '{value}': {message}"):
        runner_settings({variable: value})


def test_command_reports_invalid_runner(tmp_path, monkeypatch, capsys):
    spec = generate(tmp_path / "collection", 10, layout="tabular")
    monkeypatch.setenv(TASK_RUNNER_VARIABLE, "spark")

    code = main(["ingest", str(spec), "--warehouse", str(tmp_path / "w.duckdb")])

    assert code == 1
    assert (
        f"error: environment variable {TASK_RUNNER_VARIABLE} is 'spark'" in capsys.readouterr().err
    )
    assert not (tmp_path / "w.duckdb").exists()
