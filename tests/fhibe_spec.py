"""Write a collection spec for the FHIBE-layout fixture, with every policy of a photo collection.

The minimum wages are made-up test values in each currency, not real wage levels.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.fhibe_fixture import FIXTURE_COUNTRY_MAP

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PEOPLE_SUITES = PROJECT_ROOT / "expectations" / "people"

SPEC_TEMPLATE = """\
spec_version: 1
collection:
  name: fhibe_fixture
  title: FHIBE-layout test collection
  purpose: Exercise the pipeline on consented photos of people in FHIBE's release layout.
  licence: Test data only.
source:
  format: fhibe
  root: {root}
  country_map: countries.csv
fields:
  age:
    role: context
    type: integer
    min: 0
    max: 130
    required: true
    supplied_by: self-reported
  age_group:
    role: demographic
    derived_from: age
    bins:
      - {{label: under 18, min: 0, max: 17}}
      - {{label: 18-29, min: 18, max: 29}}
      - {{label: 30-39, min: 30, max: 39}}
      - {{label: 40-49, min: 40, max: 49}}
      - {{label: 50-59, min: 50, max: 59}}
      - {{label: 60+, min: 60, max: null}}
  pronoun:
    role: context
    type: category_list
    categories: [She/her/hers, He/him/his, They/them/their, Ze/zir/zirs, None of the above,
                 Prefer not to say]
    required: true
    supplied_by: self-reported
  pronoun_group:
    role: demographic
    derived_from: pronoun
    groups:
      She/her/hers: [She/her/hers]
      He/him/his: [He/him/his]
      They/them/their: [They/them/their]
      Ze/zir/zirs: [Ze/zir/zirs]
    unassigned:
      None of the above: Not a pronoun group.
      Prefer not to say: Not disclosed.
    multiple: Several
  ancestry:
    role: context
    type: category_list
    supplied_by: self-reported
  ancestry_region:
    role: demographic
    derived_from: ancestry
    groups:
      Africa: [Northern Africa, Eastern Africa, Middle Africa, Southern Africa, Western Africa]
      Americas: [Caribbean, Central America, South America, Northern America]
      Asia: [Central Asia, Eastern Asia, South-eastern Asia, Southern Asia, Western Asia]
      Europe: [Eastern Europe, Northern Europe, Southern Europe, Western Europe]
      Oceania: [Australia and New Zealand, Melanesia, Micronesia, Polynesia]
    multiple: Several
  natural_skin_color:
    role: demographic
    categories: [I, II, III, IV, V, VI]
    supplied_by: self-reported
  nationality:
    role: context
    type: category_list
    supplied_by: self-reported
  location_country:
    role: context
    type: text
    supplied_by: self-reported
  location_region:
    role: context
    type: text
    supplied_by: self-reported
  scene:
    role: context
    type: text
    supplied_by: self-reported
intersections:
  - [pronoun_group, age_group]
dimensions:
  age_group: {{definition: Self-reported age in FHIBE's bins., rationale: Age changes appearance.}}
  pronoun_group: {{definition: Self-reported pronouns., rationale: Stands in for gender.}}
  ancestry_region:
    definition: Self-reported ancestry by continent.
    rationale: Appearance varies with ancestry.
  natural_skin_color:
    definition: Self-reported Fitzpatrick type.
    rationale: Models fail more often on dark skin.
measurement:
  small_cell_size: 2
consent:
  required_scopes: [evaluation]
  age_of_majority:
    default: 18
    by_country: {majority}
process:
  minimum_wage:
    Kenya: {{amount: 100, currency: KES}}
    Philippines: {{amount: 60, currency: PHP}}
    India: {{amount: {india_wage}, currency: INR}}
    Poland: {{amount: 30, currency: PLN}}
privacy:
  text_columns: [scene]
gates:
  suites: {suites}
"""


def write_fhibe_spec(
    folder: Path,
    root: Path,
    *,
    majority: dict[str, int] | None = None,
    india_wage: float = 90,
) -> Path:
    """Write `collection.yaml`, `countries.csv` and a small coverage suite into `folder`."""
    with (folder / "countries.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["free_text", "country", "region"])
        for key, (country, region) in FIXTURE_COUNTRY_MAP.items():
            writer.writerow([key, country, region])
    coverage = {
        "name": "fixture_coverage",
        "meta": {
            "measurement_table": "coverage_by_attribute",
            "index_columns": ["attribute", "category"],
        },
        "expectations": [
            {
                "type": "expect_groups_to_have_min_share",
                "kwargs": {"attribute": "natural_skin_color", "min_share": 0.1},
                "severity": "warning",
            }
        ],
    }
    (folder / "coverage.json").write_text(json.dumps(coverage))
    suites = [str(folder / "coverage.json")] + [
        str(PEOPLE_SUITES / f"{name}.json") for name in ("consent", "process", "privacy", "media")
    ]
    spec = SPEC_TEMPLATE.format(
        root=root,
        majority=json.dumps(majority or {"Japan": 18}),
        india_wage=india_wage,
        suites=json.dumps(suites),
    )
    path = folder / "collection.yaml"
    path.write_text(spec)
    return path
