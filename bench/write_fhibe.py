"""Write a sampled collection in the FHIBE release layout, with a spec and a country map.

The layout is the one tasks/adapters/fhibe.py reads: the metadata CSV with one row per person
per image, one folder per image under its primary subject with `main_<image_id>.png` and
`main_annos_<image_id>.json`, the two annotator files and the consent events.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml
from PIL import Image

from bench.composition import Composition
from bench.sample import SampledCollection
from bench.spec_fields import (
    PEOPLE_SUITES,
    about_section,
    age_fields,
    ancestry_region_field,
    dimensions_section,
    pronoun_group_field,
    skin_color_field,
    write_coverage_suite,
)
from tasks.adapters.fhibe import (
    ANNOTATOR_COLUMNS,
    ANNOTATOR_CSV,
    APPEARANCE_COLUMNS,
    CONSENT_COLUMNS,
    CONSENT_CSV,
    METADATA_CSV,
    QA_ANNOTATOR_CSV,
    RAW_IMAGES_DIR,
)

RELEASE_FOLDER = "release"


def write_fhibe(
    collection: SampledCollection,
    composition: Composition,
    folder: Path,
    *,
    name: str,
    seed: int,
    image_size: int | None,
) -> Path:
    """Write the release folder, `countries.csv`, `coverage.json` and `collection.yaml`.

    `image_size` is the side in pixels of each square PNG of random pixels; None writes no
    image files, and the adapter then quarantines every row as `image_missing`. Returns the
    path of the spec. Raises ValueError when `image_size` is below 8, the smallest side whose
    perceptual hash still differs between random images.
    """
    if image_size is not None and image_size < 8:
        raise ValueError(f"image_size must be at least 8 pixels, got {image_size}")
    folder.mkdir(parents=True, exist_ok=True)
    root = folder / RELEASE_FOLDER
    annotators, qa_annotators = _annotators(composition, collection.images.height)
    _write_metadata(root, collection, composition)
    _write_image_folders(root, collection, annotators, qa_annotators, image_size, seed)
    _write_csv(root / ANNOTATOR_CSV, ANNOTATOR_COLUMNS, annotators)
    _write_csv(root / QA_ANNOTATOR_CSV, ANNOTATOR_COLUMNS, qa_annotators)
    _write_csv(root / CONSENT_CSV, CONSENT_COLUMNS, _consent_rows(collection, composition))
    _write_country_map(folder / "countries.csv", composition)
    suite = write_coverage_suite(folder)
    spec = _spec(
        composition,
        name=name,
        seed=seed,
        suite=suite.name,
        appearances=collection.appearances.height,
    )
    path = folder / "collection.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _numbered(values: list[str], catalogue: tuple[str, ...]) -> str:
    """Format values as FHIBE writes a multi-select cell: "['0. She/her/hers']"."""
    return str([f"{catalogue.index(value)}. {value}" for value in values])


def _write_metadata(root: Path, collection: SampledCollection, composition: Composition) -> None:
    pronouns = tuple(composition.pronouns.values)
    regions = tuple(r for group in composition.ancestry_groups.values() for r in group)
    countries = tuple(c.name for c in composition.countries)
    skin = tuple(composition.skin_colors.values)
    subjects = {row["subject_id"]: row for row in collection.subjects.iter_rows(named=True)}
    images = {row["image_id"]: row for row in collection.images.iter_rows(named=True)}
    rows = []
    for image_id, subject_id, is_primary in collection.appearances.iter_rows():
        subject = subjects[subject_id]
        image = images[image_id]
        nationality = countries[subject["country"]]
        rows.append(
            (
                subject_id,
                image_id,
                str(is_primary),
                str(subject["age"]),
                _numbered([subject["pronoun"]], pronouns),
                _numbered(subject["ancestry"], regions),
                _numbered([nationality], countries),
                f"{skin.index(subject['natural_skin_color']) + 1}. {subject['natural_skin_color']}",
                image["country_text"],
                image["region_text"],
                image["hour_window"],
                image["capture_date"],
            )
        )
    _write_csv(root / METADATA_CSV, APPEARANCE_COLUMNS, rows)


def _write_image_folders(
    root: Path,
    collection: SampledCollection,
    annotators: list[tuple],
    qa_annotators: list[tuple],
    image_size: int | None,
    seed: int,
) -> None:
    pixels = np.random.default_rng([seed, 1])
    people: dict[str, list[str]] = {}
    for image_id, subject_id, _ in collection.appearances.iter_rows():
        people.setdefault(image_id, []).append(subject_id)
    for number, (image_id, primary_id) in enumerate(
        collection.images.select("image_id", "primary_subject_id").iter_rows()
    ):
        folder = root / RAW_IMAGES_DIR / primary_id / image_id
        folder.mkdir(parents=True, exist_ok=True)
        side = image_size or 64
        if image_size is not None:
            noise = pixels.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(noise, "RGB").save(buffer, format="PNG")
            (folder / f"main_{image_id}.png").write_bytes(buffer.getvalue())
        annotator = annotators[number % len(annotators)][0]
        qa = qa_annotators[number % len(qa_annotators)][0]
        document = _annotation_document(people[image_id], side, annotator, qa)
        (folder / f"main_annos_{image_id}.json").write_text(
            json.dumps(document, indent=1), encoding="utf-8"
        )


def _annotation_document(
    subject_ids: list[str], side: int, annotator: str, qa: str
) -> dict[str, Any]:
    width = side // len(subject_ids)
    subject_annotation = []
    for position, subject_id in enumerate(subject_ids):
        left = position * width
        boxes = {
            "face_bbox": [left + width // 4, side // 8, width // 2, side // 3],
            "person_bbox": [left, 0, width, side],
        }
        subject_annotation.append(
            {
                "subject_id": subject_id,
                "annotations": [
                    {
                        "attribute": attribute,
                        "value": box,
                        "annotator_id": annotator,
                        "qa_annotator_id": qa,
                    }
                    for attribute, box in boxes.items()
                ],
            }
        )
    return {
        "image": {"width": side, "height": side},
        "image_annotation": {},
        "subject_annotation": subject_annotation,
    }


def _annotators(composition: Composition, image_count: int) -> tuple[list[tuple], list[tuple]]:
    """Return annotator and QA rows, paid as the composition declares, in ANNOTATOR_COLUMNS."""
    count = max(1, math.ceil(image_count / composition.images_per_annotator))
    qa_count = max(1, math.ceil(count / composition.qa_per_annotator))
    rng = np.random.default_rng([image_count, 2])
    pronouns = tuple(composition.pronouns.values)
    regions = tuple(r for group in composition.ancestry_groups.values() for r in group)
    countries = list(composition.pay_per_hour)

    def rows(prefix: str, total: int) -> list[tuple]:
        result = []
        for number in range(total):
            country = countries[number % len(countries)]
            pay, currency = composition.pay_per_hour[country]
            if rng.random() < composition.demographics_disclosed_share:
                age = str(int(rng.integers(18, 66)))
                pronoun = _numbered([pronouns[int(rng.integers(0, 2))]], pronouns)
                ancestry = _numbered([regions[int(rng.integers(0, len(regions)))]], regions)
            else:
                age, pronoun, ancestry = "", "", ""
            result.append(
                (
                    f"{prefix}{number + 1:04d}",
                    age,
                    pronoun,
                    ancestry,
                    country,
                    f"{pay:.2f}",
                    currency,
                )
            )
        return result

    return rows("ann", count), rows("qa", qa_count)


def _consent_rows(collection: SampledCollection, composition: Composition) -> list[tuple]:
    first_year, last_year = composition.capture_years
    scopes = str(list(composition.consent_scopes))
    countries = [c.name for c in composition.countries]
    rows = []
    withdrawn = []
    for subject_id, country, is_withdrawn in collection.subjects.select(
        "subject_id", "country", "is_withdrawn"
    ).iter_rows():
        name = countries[country]
        rows.append((subject_id, "granted", "v1", scopes, f"{first_year - 1}-12-01", name, name))
        if is_withdrawn:
            withdrawn.append(
                (subject_id, "withdrawn", "v1", scopes, f"{last_year + 1}-01-15", name, name)
            )
    return rows + withdrawn


def _write_country_map(path: Path, composition: Composition) -> None:
    rows = []
    for country in composition.countries:
        for text in (country.name, *country.misspellings):
            rows.append((text.lower(), country.name, country.region))
    _write_csv(path, ("free_text", "country", "region"), rows)


def _write_csv(path: Path, header: tuple[str, ...], rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _spec(composition: Composition, *, name: str, seed: int, suite: str, appearances: int) -> dict:
    wages = {
        country: {"amount": amount, "currency": currency}
        for country, (amount, currency) in composition.minimum_wage.items()
    }
    fields = {
        **age_fields(composition),
        "pronoun": {
            "role": "context",
            "type": "category_list",
            "categories": list(composition.pronouns.values),
            "required": True,
            "supplied_by": "self-reported",
        },
        "pronoun_group": pronoun_group_field(),
        "ancestry": {"role": "context", "type": "category_list", "supplied_by": "self-reported"},
        "ancestry_region": ancestry_region_field(composition, multiple=True),
        "natural_skin_color": skin_color_field(composition),
        "nationality": {
            "role": "context",
            "type": "category_list",
            "supplied_by": "self-reported",
        },
        "location_country": {"role": "context", "type": "text", "supplied_by": "self-reported"},
        "location_region": {"role": "context", "type": "text", "supplied_by": "self-reported"},
    }
    return {
        "spec_version": 1,
        "collection": about_section(name, "FHIBE layout", seed, appearances),
        "source": {"format": "fhibe", "root": RELEASE_FOLDER, "country_map": "countries.csv"},
        "fields": fields,
        "intersections": [["pronoun_group", "age_group"]],
        "dimensions": dimensions_section(),
        "measurement": {"small_cell_size": 30},
        "consent": {
            "required_scopes": [composition.consent_scopes[0]],
            "age_of_majority": {"default": 18},
        },
        "process": {"minimum_wage": wages},
        "privacy": {"text_columns": ["location_region"]},
        "gates": {"suites": [suite, *(str(path) for path in PEOPLE_SUITES)]},
    }


def image_paths(root: Path, collection: SampledCollection) -> list[str]:
    """Return every image file's path relative to the release folder, in image order."""
    return [
        f"{RELEASE_FOLDER}/{RAW_IMAGES_DIR}/{primary}/{image}/main_{image}.png"
        for image, primary in collection.images.select("image_id", "primary_subject_id").iter_rows()
    ]


__all__ = ["image_paths", "pl", "write_fhibe"]
