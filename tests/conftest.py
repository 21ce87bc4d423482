"""Shared fixtures: the bundled Adult collection and small collections written per test."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# Telemetry off for the test process and every command it starts, which inherit os.environ.
OFFLINE_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
}
for _name, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_name, _value)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ADULT_SPEC = PROJECT_ROOT / "examples" / "adult" / "collection.yaml"
FAIRCURATE = Path(sys.executable).parent / "faircurate"
# Real photos (public-domain portraits and LFW face crops) with their provenance, kept beside
# the checkout and never copied into it: the LFW crops may not be republished.
FACES_DIR = PROJECT_ROOT.parent / "shared" / "real-data" / "faces"

SMALL_SPEC = """\
spec_version: 1
collection:
  name: small
  title: A small test collection
  purpose: Exercise faircurate in tests.
source:
  format: delimited
  files: [people.csv]
  delimiter: ","
  header: true
  id_column: person_id
missing_values: ["?"]
fields:
  sex:
    role: demographic
    categories: [Female, Male]
    required: true
    supplied_by: self-reported
  race:
    role: demographic
    categories: [A, B, C]
    supplied_by: self-reported
  age:
    role: context
    type: integer
    min: 18
    max: 99
    required: true
    supplied_by: self-reported
  age_group:
    role: demographic
    derived_from: age
    bins:
      - {label: 18-39, min: 18, max: 39}
      - {label: 40+, min: 40, max: null}
  income:
    role: label
    categories: [low, high]
    aliases: {"low.": low, "high.": high}
    supplied_by: self-reported
intersections:
  - [sex, race]
dimensions:
  sex: {definition: Sex as reported., rationale: Each sex needs enough records.}
  race: {definition: Race as reported., rationale: Small groups get unstable estimates.}
  age_group: {definition: Age in two bins., rationale: Young and old should both appear.}
measurement:
  small_cell_size: 2
gates:
  suites: [coverage.json]
"""

SMALL_SUITE = {
    "name": "small_coverage",
    "meta": {
        "measurement_table": "coverage_by_attribute",
        "index_columns": ["attribute", "category"],
    },
    "expectations": [
        {
            "type": "expect_groups_to_have_min_count",
            "kwargs": {"attribute": "sex", "min_count": 1},
            "severity": "critical",
        },
        {
            "type": "expect_groups_to_have_min_share",
            "kwargs": {"attribute": "race", "min_share": 0.3},
            "severity": "warning",
        },
    ],
}

SMALL_ROWS = """\
person_id,sex,race,age,income
p1,Female,A,25,low
p2,Male,A,45,high.
p3,Female,B,33,low
p4,Male,?,61,high
p5,Female,C,19,low
"""


@pytest.fixture(scope="session")
def adult_spec() -> Path:
    return ADULT_SPEC


@pytest.fixture
def make_collection(tmp_path: Path):
    """Write a small collection (spec, data file, suite) into tmp_path and return the spec path.

    Pass `rows` to replace the CSV text, `spec` to replace the YAML text, `suite` to replace
    the coverage suite.
    """

    def write(rows: str = SMALL_ROWS, spec: str = SMALL_SPEC, suite: dict | None = None) -> Path:
        (tmp_path / "people.csv").write_text(textwrap.dedent(rows))
        (tmp_path / "coverage.json").write_text(json.dumps(suite or SMALL_SUITE))
        spec_path = tmp_path / "collection.yaml"
        spec_path.write_text(spec)
        return spec_path

    return write


@pytest.fixture
def webhook():
    """Start an HTTP receiver on 127.0.0.1 that records each POST body as parsed JSON."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"json://127.0.0.1:{server.server_port}/alerts", received
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def prefect_server():
    """Run flows against one temporary Prefect server (127.0.0.1) and database per session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


# Releases the tests published on real data. They are printed at the end of the run, so the
# test command also shows where a release is and what each gate decided.
PUBLISHED_RELEASES: list = []


def pytest_terminal_summary(terminalreporter) -> None:
    for report in PUBLISHED_RELEASES:
        gates = report.gates
        terminalreporter.write_line(
            f"release {report.release.version} of the bundled collection: {report.release.path} "
            f"({report.release.count_records:,} records)"
        )
        terminalreporter.write_line(
            f"  gates {gates.outcome}: {sum(r.is_success for r in gates.results)} passed, "
            f"blocking failures: {len(gates.blocking_failures)}, warnings: {len(gates.warnings)}"
        )
        for result in gates.results:
            outcome = "pass" if result.is_success else result.severity
            terminalreporter.write_line(f"  {outcome:<8} {result.summary}")
