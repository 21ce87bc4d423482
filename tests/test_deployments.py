"""The deployment file names flows that exist, with parameters those flows accept, and the
deployments that `faircurate serve` builds match the spec."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint

from flows.serve import build_deployments, deployment_names
from tasks.spec import load_spec
from tests.conftest import ADULT_SPEC

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENTS = yaml.safe_load((PROJECT_ROOT / "deployments" / "prefect.yaml").read_text())[
    "deployments"
]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_deployment_entrypoint_loads(deployment):
    path, name = deployment["entrypoint"].split(":")
    flow = load_flow_from_entrypoint(f"{PROJECT_ROOT / path}:{name}")

    accepted = set(inspect.signature(flow.fn).parameters)
    assert set(deployment["parameters"]) <= accepted
    if "spec_path" in deployment["parameters"]:
        assert (PROJECT_ROOT / deployment["parameters"]["spec_path"]).is_file()


def test_landing_deployment_scheduled_like_spec():
    landing = next(d for d in DEPLOYMENTS if d["name"] == "adult-ingest-landing")

    spec = load_spec(PROJECT_ROOT / landing["parameters"]["spec_path"])

    assert landing["schedules"] == [{"cron": spec.landing.cron, "timezone": "UTC"}]


def test_serve_builds_adult_deployments(tmp_path):
    spec = load_spec(ADULT_SPEC)

    deployments = build_deployments(spec, str(tmp_path / "w.duckdb"), str(tmp_path / "releases"))

    assert deployment_names(spec) == [
        "ingest-landing/adult-ingest-landing",
        "release/adult-release",
    ]
    assert [d.name for d in deployments] == ["adult-ingest-landing", "adult-release"]
    (schedule,) = deployments[0].schedules
    assert schedule.schedule.cron == "0 * * * *"
    assert deployments[1].schedules == []
    assert deployments[1].parameters["releases_dir"] == str((tmp_path / "releases").resolve())
    assert deployments[0].parameters["spec_path"] == str(ADULT_SPEC.resolve())
