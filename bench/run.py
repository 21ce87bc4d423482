"""Benchmark faircurate's stages against a DuckDB script, stock GX and a bare Prefect flow.

Usage: python -m bench.run  (or `make bench`)

Environment:
- BENCH_SIZES: appearance rows per size, comma-separated, with k or M allowed
  (default: 10k,100k,1M,10M).
- BENCH_MEDIA_IMAGES: images for the media comparison (default: 2000).
- BENCH_REPEATS: runs of the tiny collection and of the bare flow (default: 3).
- BENCH_TIMEOUT: seconds before a job is stopped (default: 1800).
- BENCH_OUTPUT: the Markdown file written (default: BENCHMARKS.md).
- BENCH_RETRY_MEMORY_LIMIT: DuckDB memory limit for a second try of a pipeline job that ran
  out of memory at the default limit (default: 4GB).

Generated collections are kept under build/bench/data and reused by later runs, because the
same seed and size give the same files. Results go to build/bench/results.json.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench.measure import PROJECT_ROOT, JobResult, job_environment, run_job
from bench.report import write_report
from tasks.settings import MEMORY_LIMIT_VARIABLE

SEED = 20251105
TINY_ROWS = 100
DEFAULT_SIZES = "10k,100k,1M,10M"
MEDIA_IMAGE_SIZE = 256
SIZE_FORMAT = re.compile(r"^(\d+)([kM]?)$")


class BenchSettingError(ValueError):
    """An environment variable of the benchmark has an invalid value."""


def parse_sizes(text: str) -> list[int]:
    """Parse "10k,1M" into [10000, 1000000]; raise BenchSettingError naming a bad entry."""
    sizes = []
    for entry in text.split(","):
        match = SIZE_FORMAT.match(entry.strip())
        if not match or int(match.group(1)) == 0:
            raise BenchSettingError(
                f"BENCH_SIZES entry {entry.strip()!r} is invalid; write positive row counts "
                "such as 10000, 100k or 1M, separated by commas"
            )
        sizes.append(int(match.group(1)) * {"": 1, "k": 1_000, "M": 1_000_000}[match.group(2)])
    return sizes


def _positive_setting(name: str, default: int) -> int:
    text = os.environ.get(name, str(default)).strip()
    if not text.isdigit() or int(text) < 1:
        raise BenchSettingError(f"{name} is {text!r}; set it to a whole number of 1 or more")
    return int(text)


def main() -> int:
    try:
        sizes = parse_sizes(os.environ.get("BENCH_SIZES", DEFAULT_SIZES))
        media_images = _positive_setting("BENCH_MEDIA_IMAGES", 2000)
        repeats = _positive_setting("BENCH_REPEATS", 3)
        timeout = _positive_setting("BENCH_TIMEOUT", 1800)
    except BenchSettingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    output = Path(os.environ.get("BENCH_OUTPUT", "BENCHMARKS.md"))
    work = PROJECT_ROOT / "build" / "bench"
    environment = job_environment(work / "prefect-home")
    runner = _Runner(work, environment, timeout)
    generator = _Generator(environment)

    # The first flow in a new Prefect home creates its database, so it is run and not counted.
    runner.run("prefect", [], "warm-up")
    fixed = {
        "pipeline": [
            runner.pipeline(generator.tabular(work, TINY_ROWS), f"tiny-{i}") for i in range(repeats)
        ],
        "prefect": [runner.run("prefect", [], f"bare-{i}") for i in range(repeats)],
    }
    per_size = {}
    for size in sizes:
        folder = generator.tabular(work, size)
        per_size[size] = {
            "pipeline": runner.pipeline(folder, str(size)),
            "duckdb": runner.duckdb(folder, str(size)),
            "gx": runner.run("gx", [str(folder)], f"gx-{size}"),
        }
        if str(size) in runner.first_tries:
            per_size[size]["pipeline at the default memory limit"] = runner.first_tries[str(size)]
        _print_size(size, per_size[size])
    media = runner.media(generator.images(work, media_images), media_images)

    results = {
        "sizes": sizes,
        "fixed": {k: [asdict(r) for r in v] for k, v in fixed.items()},
        "per_size": {str(s): {k: asdict(r) for k, r in v.items()} for s, v in per_size.items()},
        "media": {k: asdict(r) for k, r in media.items()},
        "media_images": media_images,
        "finished_at": f"{datetime.now(UTC):%Y-%m-%d %H:%M}",
        # Linux starts a forked child's peak RSS at its parent's, so this is every job's floor.
        "runner_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    (work / "results.json").write_text(json.dumps(results, indent=2))
    write_report(results, output)
    print(f"wrote {output} and {work / 'results.json'}")
    return 0


class _Runner:
    def __init__(self, work: Path, environment: dict[str, str], timeout: float) -> None:
        self.work = work
        self.environment = environment
        self.timeout = timeout
        # Pipeline jobs that ran out of memory at the default limit, by size label.
        self.first_tries: dict[str, JobResult] = {}

    def run(self, job: str, arguments: list[str], label: str) -> JobResult:
        result = run_job(
            job,
            arguments,
            self.environment,
            self.work / "logs" / f"{job}-{label}.log",
            self.timeout,
        )
        state = "ok" if result.ok else result.error
        figures = f"{result.wall_s:8.2f} s  {result.peak_rss_mb:8.0f} MB"
        print(f"  {job:<12} {label:<10} {figures}  {state}", flush=True)
        return result

    def pipeline(self, folder: Path, label: str) -> JobResult:
        result = self._pipeline_once(folder, label, self.environment)
        self.first_tries.pop(label, None)
        log = self.work / "logs" / f"pipeline-{label}.log"
        if result.error is not None and "OutOfMemoryException" in log.read_text(errors="replace"):
            retry_limit = os.environ.get("BENCH_RETRY_MEMORY_LIMIT", "4GB")
            environment = self.environment | {MEMORY_LIMIT_VARIABLE: retry_limit}
            self.first_tries[label] = result
            result = self._pipeline_once(folder, f"{label}-retry", environment)
            result.figures["memory_limit"] = retry_limit
        return result

    def _pipeline_once(self, folder: Path, label: str, environment: dict[str, str]) -> JobResult:
        warehouse = self.work / "warehouses" / f"pipeline-{label}.duckdb"
        _remove_database(warehouse)
        saved, self.environment = self.environment, environment
        try:
            arguments = [str(folder / "collection.yaml"), str(warehouse)]
            return self.run("pipeline", arguments, label)
        finally:
            self.environment = saved
            _remove_database(warehouse)

    def duckdb(self, folder: Path, label: str) -> JobResult:
        database = self.work / "warehouses" / f"duckdb-{label}.duckdb"
        _remove_database(database)
        database.parent.mkdir(parents=True, exist_ok=True)
        result = self.run("duckdb", [str(folder), str(database)], label)
        _remove_database(database)
        return result

    def media(self, folder: Path, images: int) -> dict[str, JobResult]:
        arguments = [str(folder), str(folder / "paths.txt")]
        return {
            "stage": self.run("media-stage", arguments, str(images)),
            "loop": self.run("media-loop", arguments, str(images)),
        }


class _Generator:
    """Generate collections in child processes, so this process stays small.

    Linux starts a forked child's peak resident memory at its parent's, so a large parent
    would raise every job's measured peak.
    """

    def __init__(self, environment: dict[str, str]) -> None:
        self.environment = environment

    def tabular(self, work: Path, rows: int) -> Path:
        """Return the folder of a generated tabular collection, generating it the first time."""
        folder = work / "data" / f"tabular-{rows}"
        if not (folder / "collection.yaml").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            self._generate(folder, rows, ["--layout", "tabular", "--name", "bench"])
        return folder

    def images(self, work: Path, images: int) -> Path:
        """Return a FHIBE-layout folder of `images` PNG files with their list in paths.txt."""
        folder = work / "data" / f"media-{images}"
        paths_file = folder / "paths.txt"
        if not paths_file.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            composition = _single_person_composition(work)
            options = ["--image-size", str(MEDIA_IMAGE_SIZE), "--composition", str(composition)]
            self._generate(folder, images, options)
            paths = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("main_*.png"))
            paths_file.write_text("\n".join(paths) + "\n")
        return folder

    def _generate(self, folder: Path, rows: int, options: list[str]) -> None:
        command = [sys.executable, "-m", "bench.generate", str(folder), "--appearances",
                   str(rows), "--seed", str(SEED), *options]  # fmt: skip
        subprocess.run(command, check=True, env=self.environment, cwd=PROJECT_ROOT)


def _single_person_composition(work: Path) -> Path:
    """Write a composition with one person per image, so the image count equals the rows."""
    import yaml

    from bench.composition import DEFAULT_COMPOSITION

    document = yaml.safe_load(DEFAULT_COMPOSITION.read_text())
    document["people_per_image"]["weights"] = [1, 0]
    path = work / "media-composition.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    return path


def _remove_database(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)
    shutil.rmtree(path.with_name(path.name + ".tmp"), ignore_errors=True)


def _print_size(size: int, results: dict[str, JobResult]) -> None:
    pipeline = results["pipeline"]
    duckdb = results["duckdb"]
    if pipeline.ok and duckdb.ok:
        stages = pipeline.figures["ingest_s"] + pipeline.figures["gates_s"]
        ratio = stages / duckdb.figures["load_measure_s"]
        script = duckdb.figures["load_measure_s"]
        print(
            f"{size:>12,} rows: pipeline stages {stages:.2f} s, DuckDB script {script:.2f} s, "
            f"ratio {ratio:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
