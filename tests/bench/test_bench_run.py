"""The benchmark's size settings, its measured child jobs and its target verdicts."""

from __future__ import annotations

import pytest

from bench.generate import generate
from bench.measure import job_environment, run_job
from bench.report import target_rows, write_report
from bench.run import BenchSettingError, parse_sizes


def test_sizes_parse_suffixes():
    assert parse_sizes("10k, 100k,1M,10M,250") == [10_000, 100_000, 1_000_000, 10_000_000, 250]


@pytest.mark.parametrize("text", ["", "10x", "0", "-5", "1.5M", "1G"])
def test_invalid_size_rejected(text):
    with pytest.raises(BenchSettingError, match="BENCH_SIZES entry .* is invalid"):
        parse_sizes(text)


def test_duckdb_job_reports_rows_and_memory(tmp_path):
    folder = generate(tmp_path / "collection", 3000, layout="tabular", rows_per_file=1000).parent
    environment = job_environment(tmp_path / "prefect-home")

    result = run_job(
        "duckdb", [str(folder), str(tmp_path / "b.duckdb")], environment,
        tmp_path / "job.log", timeout_s=300,
    )  # fmt: skip

    assert result.error is None
    assert result.figures["rows_read"] == 3000
    assert result.figures["rows_loaded"] == 3000
    assert result.figures["load_measure_s"] > 0
    assert result.peak_rss_mb > 10


def test_failed_job_keeps_its_log_line(tmp_path):
    environment = job_environment(tmp_path / "prefect-home")

    result = run_job(
        "duckdb", [str(tmp_path / "none"), str(tmp_path / "b.duckdb")], environment,
        tmp_path / "job.log", timeout_s=300,
    )  # fmt: skip

    assert result.error is not None
    assert result.error.startswith("exit status 1:")
    assert str(tmp_path / "job.log") in result.error


def job(figures: dict | None = None, error: str | None = None, rss: float = 500.0) -> dict:
    return {"job": "x", "arguments": [], "wall_s": 10.0, "peak_rss_mb": rss,
            "figures": figures or {}, "error": error}  # fmt: skip


def results_with(pipeline_10m: dict) -> dict:
    def size(ingest: float, gates: float, script: float, validate: float) -> dict:
        return {
            "pipeline": job({"ingest_s": ingest, "gates_s": gates, "import_s": 5.0}),
            "duckdb": job({"load_measure_s": script}),
            "gx": job({"read_s": 1.0, "validate_s": validate}),
        }

    return {
        "sizes": [1_000_000, 10_000_000],
        "media_images": 10,
        "fixed": {
            "pipeline": [job({"import_s": 5.0}) | {"wall_s": 12.0}],
            "prefect": [job({"import_s": 2.0}) | {"wall_s": 10.0}],
        },
        "per_size": {
            "1000000": size(ingest=6.0, gates=4.0, script=2.0, validate=50.0),
            "10000000": {
                **size(ingest=60.0, gates=40.0, script=20.0, validate=500.0),
                "pipeline": pipeline_10m,
            },
        },  # fmt: skip
        "media": {
            "stage": job({"images": 100, "check_s": 2.0}),
            "loop": job({"images": 100, "check_s": 1.0}),
        },
    }


def test_targets_judged_from_figures():
    pipeline_10m = job({"ingest_s": 60.0, "gates_s": 40.0, "import_s": 5.0}, rss=2500.0)
    verdicts = {target: met for target, _, met in target_rows(results_with(pipeline_10m))}

    assert verdicts["marginal cost per 1M rows within 1.5x of the DuckDB script"] is False
    assert verdicts["gates at least 10x faster than stock GX"] is True
    assert verdicts["fixed cost of a tiny collection within 1.3x of a bare Prefect flow"] is True
    assert verdicts["ten times the rows for at most eleven times the time"] is True
    assert verdicts["peak resident memory at most 2 GB at 10,000,000 rows"] is False


def test_report_lists_stopped_job(tmp_path):
    stopped = job(error="exit status 1: Out of Memory Error", rss=2100.0)
    path = tmp_path / "BENCHMARKS.md"

    write_report(results_with(stopped), path)

    text = path.read_text()
    assert "- pipeline at 10,000,000 rows stopped: exit status 1: Out of Memory Error" in text
    assert "peak 2,100 MB" in text
    assert "## Targets" in text
