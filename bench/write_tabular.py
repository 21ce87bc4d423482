"""Write a sampled collection as delimited appearance files and a spec that reads them.

This is the layout for large row counts: one CSV row per appearance, split into files of at
most `rows_per_file` rows, each of which faircurate ingests as one batch.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import yaml

from bench.composition import Composition
from bench.sample import SampledCollection
from bench.spec_fields import (
    about_section,
    age_fields,
    ancestry_region_field,
    dimensions_section,
    pronoun_group_field,
    skin_color_field,
    write_coverage_suite,
)

COLUMNS = (
    "record_id",
    "subject_id",
    "image_id",
    "is_primary",
    "age",
    "pronoun",
    "ancestry",
    "natural_skin_color",
    "location_country",
    "user_hour_captured",
    "capture_month",
)


def appearance_table(collection: SampledCollection) -> pl.DataFrame:
    """Join appearances with their subject and image into one row per appearance."""
    subjects = collection.subjects.select(
        "subject_id",
        "age",
        "pronoun",
        pl.col("ancestry").list.first().alias("ancestry"),
        "natural_skin_color",
    )
    images = collection.images.select(
        "image_id",
        pl.col("country_text").alias("location_country"),
        pl.col("hour_window").alias("user_hour_captured"),
        pl.col("capture_date").str.slice(0, 7).alias("capture_month"),
    )
    return (
        collection.appearances.join(subjects, on="subject_id", how="left", maintain_order="left")
        .join(images, on="image_id", how="left", maintain_order="left")
        .with_columns(
            pl.concat_str("image_id", "subject_id", separator="-").alias("record_id"),
            pl.col("is_primary").cast(pl.String).str.to_lowercase(),
        )
        .select(COLUMNS)
    )


def write_tabular(
    collection: SampledCollection,
    composition: Composition,
    folder: Path,
    *,
    name: str,
    seed: int,
    rows_per_file: int,
) -> Path:
    """Write `appearances-NNNN.csv` files, `coverage.json` and `collection.yaml`; return the spec.

    Raises ValueError when `rows_per_file` is below 1.
    """
    if rows_per_file < 1:
        raise ValueError(f"rows_per_file must be at least 1, got {rows_per_file}")
    folder.mkdir(parents=True, exist_ok=True)
    table = appearance_table(collection)
    files = []
    for number, start in enumerate(range(0, table.height, rows_per_file), start=1):
        file_name = f"appearances-{number:04d}.csv"
        table.slice(start, rows_per_file).write_csv(folder / file_name, line_terminator="\n")
        files.append(file_name)
    suite = write_coverage_suite(folder)
    spec = _spec(
        composition, name=name, seed=seed, files=files, suite=suite.name, appearances=table.height
    )
    path = folder / "collection.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _spec(
    composition: Composition,
    *,
    name: str,
    seed: int,
    files: list[str],
    suite: str,
    appearances: int,
) -> dict:
    aliases = {
        spelling: country.name
        for country in composition.countries
        for spelling in country.misspellings
    }
    countries = [country.name for country in composition.countries]
    fields = {
        **age_fields(composition),
        "pronoun": {
            "role": "context",
            "categories": list(composition.pronouns.values),
            "required": True,
            "supplied_by": "self-reported",
        },
        "pronoun_group": pronoun_group_field(),
        "ancestry": {
            "role": "context",
            "categories": [r for group in composition.ancestry_groups.values() for r in group],
            "supplied_by": "self-reported",
        },
        "ancestry_region": ancestry_region_field(composition, multiple=False),
        "natural_skin_color": skin_color_field(composition),
        "location_country": {
            "role": "context",
            "categories": countries,
            "aliases": aliases,
            "supplied_by": "self-reported",
        },
        "user_hour_captured": {
            "role": "context",
            "categories": list(composition.hour_windows.values),
            "supplied_by": "self-reported",
        },
    }
    return {
        "spec_version": 1,
        "collection": about_section(name, "delimited", seed, appearances),
        "source": {
            "format": "delimited",
            "files": files,
            "delimiter": ",",
            "header": True,
            "id_column": "record_id",
        },
        "fields": fields,
        "intersections": [
            ["pronoun_group", "age_group"],
            ["natural_skin_color", "ancestry_region"],
        ],
        "dimensions": dimensions_section(),
        "measurement": {"small_cell_size": 30},
        "gates": {"suites": [suite]},
    }
