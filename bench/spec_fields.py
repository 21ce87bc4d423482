"""Spec sections that both generated layouts share: derived fields, dimensions and a suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.composition import Composition

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PEOPLE_SUITES = tuple(
    PROJECT_ROOT / "expectations" / "people" / f"{name}.json"
    for name in ("consent", "process", "privacy", "media")
)
DEMOGRAPHIC_FIELDS = ("age_group", "pronoun_group", "ancestry_region", "natural_skin_color")


def about_section(name: str, layout: str, seed: int, appearances: int) -> dict[str, Any]:
    return {
        "name": name,
        "title": f"Generated FHIBE-shaped collection ({layout}, {appearances:,} appearances)",
        "purpose": (
            f"Synthetic people sampled with seed {seed} from a declared composition, to test "
            "and benchmark faircurate. No record describes a real person."
        ),
        "licence": "Synthetic test data; no rights reserved.",
    }


def age_fields(composition: Composition) -> dict[str, Any]:
    low = min(r[0] for r in composition.age_ranges)
    bins = [
        {
            "label": label,
            "min": lower,
            "max": None if index == len(composition.age_ranges) - 1 else upper,
        }
        for index, (label, (lower, upper)) in enumerate(
            zip(composition.age_bins.values, composition.age_ranges, strict=True)
        )
    ]
    return {
        "age": {
            "role": "context",
            "type": "integer",
            "min": low,
            "max": 130,
            "required": True,
            "supplied_by": "self-reported",
        },
        "age_group": {"role": "demographic", "derived_from": "age", "bins": bins},
    }


def pronoun_group_field() -> dict[str, Any]:
    named = ["She/her/hers", "He/him/his", "They/them/their", "Ze/zir/zirs"]
    return {
        "role": "demographic",
        "derived_from": "pronoun",
        "groups": {name: [name] for name in named},
        "unassigned": {
            "None of the above": "Not a pronoun group.",
            "Prefer not to say": "Not disclosed.",
        },
    }


def ancestry_region_field(composition: Composition, *, multiple: bool) -> dict[str, Any]:
    field: dict[str, Any] = {
        "role": "demographic",
        "derived_from": "ancestry",
        "groups": {k: list(v) for k, v in composition.ancestry_groups.items()},
    }
    if multiple:
        field["multiple"] = "Several"
    return field


def skin_color_field(composition: Composition) -> dict[str, Any]:
    return {
        "role": "demographic",
        "categories": list(composition.skin_colors.values),
        "supplied_by": "self-reported",
    }


def dimensions_section() -> dict[str, Any]:
    return {
        "age_group": {
            "definition": "Self-reported age in FHIBE's evaluation bins.",
            "rationale": "Appearance and model error change with age.",
        },
        "pronoun_group": {
            "definition": "Self-reported pronouns.",
            "rationale": "Pronouns are the collection's only gender-related attribute.",
        },
        "ancestry_region": {
            "definition": "Self-reported ancestry, rolled up to continents.",
            "rationale": "Appearance varies with ancestry.",
        },
        "natural_skin_color": {
            "definition": "Self-reported Fitzpatrick skin type, I to VI.",
            "rationale": "Face models fail more often on darker skin.",
        },
    }


def write_coverage_suite(folder: Path) -> Path:
    """Write a coverage suite that warns when a group is empty or below 1% of the records.

    Both are warnings, because a small generated collection can miss a rare group by chance.
    """
    expectations = []
    for attribute in DEMOGRAPHIC_FIELDS:
        expectations.append(
            {
                "type": "expect_groups_to_have_min_count",
                "kwargs": {"attribute": attribute, "min_count": 1},
                "severity": "warning",
            }
        )
        expectations.append(
            {
                "type": "expect_groups_to_have_min_share",
                "kwargs": {"attribute": attribute, "min_share": 0.01},
                "severity": "warning",
            }
        )
    suite = {
        "name": "generated_coverage",
        "meta": {
            "measurement_table": "coverage_by_attribute",
            "index_columns": ["attribute", "category"],
        },
        "expectations": expectations,
    }
    path = folder / "coverage.json"
    path.write_text(json.dumps(suite, indent=2) + "\n", encoding="utf-8")
    return path
