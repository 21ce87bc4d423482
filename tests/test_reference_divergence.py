"""Jensen-Shannon divergence of each attribute's shares from the spec's target shares.

Expected values are computed here from the definition, in bits, with plain Python.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tasks.bootstrap import Replicates, replicate_indices
from tests.conftest import SMALL_SPEC
from tests.test_measurements import RECORDS, build_measurements


def js_divergence(shares: list[float], targets: list[float]) -> float:
    """Jensen-Shannon divergence in bits, with the targets scaled to sum to 1."""
    total = sum(targets)
    reference = [t / total for t in targets]
    middle = [(p + q) / 2 for p, q in zip(shares, reference, strict=True)]

    def half_kl(first: list[float]) -> float:
        return sum(f / 2 * math.log2(f / m) for f, m in zip(first, middle, strict=True) if f > 0)

    return half_kl(shares) + half_kl(reference)


def race_targets(targets: str) -> str:
    return SMALL_SPEC.replace(
        "    categories: [A, B, C]\n", f"    categories: [A, B, C]\n    target_shares: {targets}\n"
    )


def race_divergence(tmp_path, make_collection, targets: str) -> float | None:
    spec_path = make_collection(spec=race_targets(targets))
    rows = build_measurements(tmp_path / "w.duckdb", spec_path, RECORDS)["diversity_by_attribute"]
    return next(r for r in rows if r["attribute"] == "race")["js_divergence_from_target"]


def test_divergence_by_hand(tmp_path, make_collection):
    # Race in RECORDS: A 4 and B 1 of the 5 known, C none.
    divergence = race_divergence(tmp_path, make_collection, "{A: 0.5, B: 0.3, C: 0.2}")

    assert divergence == pytest.approx(js_divergence([0.8, 0.2, 0.0], [0.5, 0.3, 0.2]))


def test_divergence_scales_targets(tmp_path, make_collection):
    divergence = race_divergence(tmp_path, make_collection, "{A: 0.25, B: 0.25, C: 0.25}")

    assert divergence == pytest.approx(js_divergence([0.8, 0.2, 0.0], [1 / 3, 1 / 3, 1 / 3]))


def test_divergence_zero_at_target(tmp_path, make_collection):
    divergence = race_divergence(tmp_path, make_collection, "{A: 0.8, B: 0.2, C: 0.0}")

    assert divergence == pytest.approx(0.0, abs=1e-12)


def test_divergence_needs_every_target(tmp_path, make_collection):
    assert race_divergence(tmp_path, make_collection, "{A: 0.5, B: 0.3}") is None


def test_divergence_without_targets(tmp_path, make_collection):
    rows = build_measurements(tmp_path / "w.duckdb", make_collection(), RECORDS)

    assert [r["js_divergence_from_target"] for r in rows["diversity_by_attribute"]] == [None] * 3


def test_disjoint_shares_diverge_fully():
    replicates = Replicates(("a", "b"), np.array([[10.0, 0.0], [5.0, 5.0]]))
    values = replicate_indices(replicates, np.array([0.0, 1.0]))["js_divergence_from_target"]

    assert values[0] == pytest.approx(1.0)
    assert values[1] == pytest.approx(js_divergence([0.5, 0.5], [0.0, 1.0]))


def test_replicate_divergence_without_targets():
    replicates = Replicates(("a", "b"), np.array([[3.0, 1.0]]))

    assert np.isnan(replicate_indices(replicates)["js_divergence_from_target"][0])
