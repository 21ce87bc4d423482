"""The deployment file names flows that exist, with parameters those flows accept."""

from __future__ import annotations

import inspect
from pathlib import Path

import yaml
from prefect.flows import load_flow_from_entrypoint

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def test_deployment_entrypoints_load():
    document = yaml.safe_load((PROJECT_ROOT / "deployments" / "prefect.yaml").read_text())
    assert document["deployments"]
    for deployment in document["deployments"]:
        path, name = deployment["entrypoint"].split(":")
        flow = load_flow_from_entrypoint(f"{PROJECT_ROOT / path}:{name}")
        accepted = set(inspect.signature(flow.fn).parameters)
        assert set(deployment["parameters"]) <= accepted, deployment["name"]
        assert (PROJECT_ROOT / deployment["parameters"]["spec_path"]).is_file()
