"""The collection generator: same seed same bytes, declared shares, output the pipeline reads."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from bench.composition import DEFAULT_COMPOSITION, CompositionError, load_composition
from bench.generate import OutputFolderError, generate, main
from bench.sample import sample_collection
from flows.ingest import ingest
from tasks.adapters.fhibe import METADATA_CSV

# Shares must lie within this many standard errors of the declared probability. With about 60
# shares checked, a correct sampler would fail for a new seed about once in 2,500 seeds.
STANDARD_ERRORS = 4.5


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def assert_shares(values: pl.Series, values_declared, probabilities, what: str) -> None:
    count = values.len()
    observed = values.value_counts()
    counts = dict(zip(observed[values.name].to_list(), observed["count"].to_list(), strict=True))
    assert set(counts) <= set(values_declared), f"{what}: undeclared values {set(counts)}"
    for value, probability in zip(values_declared, probabilities, strict=True):
        share = counts.get(value, 0) / count
        tolerance = STANDARD_ERRORS * math.sqrt(probability * (1 - probability) / count)
        assert abs(share - probability) <= tolerance, (
            f"{what} {value!r}: share {share:.4f}, declared {probability:.4f} +- {tolerance:.4f}"
        )


def test_fhibe_layout_same_seed_same_bytes(tmp_path):
    first = generate(tmp_path / "a", 120, seed=7, image_size=16)
    second = generate(tmp_path / "b", 120, seed=7, image_size=16)
    first_files = files_of(first.parent)
    assert len(first_files) > 200
    assert first_files == files_of(second.parent)


def test_tabular_layout_same_seed_same_bytes(tmp_path):
    first = generate(tmp_path / "a", 5000, seed=3, layout="tabular", rows_per_file=2000)
    second = generate(tmp_path / "b", 5000, seed=3, layout="tabular", rows_per_file=2000)
    assert sorted(files_of(first.parent)) == [
        "appearances-0001.csv",
        "appearances-0002.csv",
        "appearances-0003.csv",
        "collection.yaml",
        "coverage.json",
    ]
    assert files_of(first.parent) == files_of(second.parent)


def test_other_seed_other_rows(tmp_path):
    first = generate(tmp_path / "a", 500, seed=1, layout="tabular")
    second = generate(tmp_path / "b", 500, seed=2, layout="tabular")
    name = "appearances-0001.csv"
    assert (first.parent / name).read_bytes() != (second.parent / name).read_bytes()


@pytest.mark.parametrize("appearances", [1, 2, 11, 999, 20_000])
def test_sample_has_exact_row_count(appearances):
    collection = sample_collection(load_composition(), appearances, seed=5)
    assert collection.appearances.height == appearances
    primaries = collection.appearances.filter(pl.col("is_primary"))
    assert primaries.height == collection.images.height
    assert primaries["image_id"].n_unique() == collection.images.height
    per_image = collection.appearances.group_by("image_id").len()
    assert per_image["len"].max() <= 2


def test_sample_follows_declared_shares():
    composition = load_composition()
    collection = sample_collection(composition, 300_000, seed=11)
    subjects = collection.subjects
    images = collection.images

    assert_shares(
        subjects["pronoun"],
        composition.pronouns.values,
        composition.pronouns.probabilities,
        "pronoun",
    )
    assert_shares(
        subjects["natural_skin_color"],
        composition.skin_colors.values,
        composition.skin_colors.probabilities,
        "skin colour",
    )
    assert_shares(
        subjects["age_bin"],
        composition.age_bins.values,
        composition.age_bins.probabilities,
        "age bin",
    )
    continent_of = {r: c for c, regions in composition.ancestry_groups.items() for r in regions}
    continents = subjects["ancestry"].list.first().replace_strict(continent_of)
    assert_shares(
        continents,
        composition.continents.values,
        composition.continents.probabilities,
        "continent",
    )
    assert_shares(
        images["hour_window"],
        composition.hour_windows.values,
        composition.hour_windows.probabilities,
        "hour window",
    )
    # The last subject and image may be cut short to reach the exact row count.
    per_subject = images.group_by("primary_subject_id").len()["len"].head(subjects.height - 1)
    assert_shares(
        per_subject,
        composition.images_per_subject.values,
        composition.images_per_subject.probabilities,
        "images per subject",
    )
    people = images["secondary_subject_id"].is_not_null().cast(pl.Int64).head(images.height - 1)
    assert_shares(
        people + 1,
        composition.people_per_image.values,
        composition.people_per_image.probabilities,
        "people per image",
    )
    withdrawn = subjects["is_withdrawn"]
    assert_shares(
        withdrawn,
        (True, False),
        (composition.withdrawn_share, 1 - composition.withdrawn_share),
        "withdrawn",
    )


def test_sample_ages_inside_their_bins():
    composition = load_composition()
    subjects = sample_collection(composition, 5000, seed=2).subjects
    for label, (low, high) in zip(composition.age_bins.values, composition.age_ranges, strict=True):
        ages = subjects.filter(pl.col("age_bin") == label)["age"]
        assert ages.min() >= low
        assert ages.max() <= high


def test_secondary_person_differs_from_primary():
    images = sample_collection(load_composition(), 20_000, seed=4).images
    pairs = images.filter(pl.col("secondary_subject_id").is_not_null())
    assert pairs.height > 0
    assert (pairs["primary_subject_id"] != pairs["secondary_subject_id"]).all()


def test_pipeline_ingests_fhibe_layout(prefect_server, tmp_path):
    spec = generate(tmp_path / "collection", 150, seed=9, image_size=16)
    warehouse = tmp_path / "warehouse.duckdb"

    [batch] = ingest(str(spec), str(warehouse))

    assert batch.source_file == METADATA_CSV
    assert batch.rows_read == 150
    assert batch.rows_loaded == 150
    assert batch.rows_read == batch.rows_loaded + batch.rows_quarantined
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        [(records,)] = connection.execute("select count(*) from records").fetchall()
        [(images,)] = connection.execute("select count(*) from images").fetchall()
    assert records == 150
    assert images == len(list((tmp_path / "collection").rglob("main_*.png")))


def test_pipeline_quarantines_layout_without_images(prefect_server, tmp_path):
    spec = generate(tmp_path / "collection", 40, seed=9, image_size=None)

    [batch] = ingest(str(spec), str(tmp_path / "warehouse.duckdb"))

    assert batch.rows_read == 40
    assert batch.rows_loaded == 0
    assert batch.rows_quarantined == 40


def test_pipeline_ingests_tabular_layout(prefect_server, tmp_path):
    spec = generate(tmp_path / "collection", 2500, seed=9, layout="tabular", rows_per_file=1000)

    batches = ingest(str(spec), str(tmp_path / "warehouse.duckdb"))

    assert [b.rows_read for b in batches] == [1000, 1000, 500]
    for batch in batches:
        assert batch.rows_read == batch.rows_loaded + batch.rows_quarantined
    # Misspelled countries reach the warehouse under their spec alias, so nothing is quarantined.
    assert sum(b.rows_quarantined for b in batches) == 0


def test_non_empty_folder_rejected(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(OutputFolderError, match="is not empty; remove it or pass a new folder"):
        generate(tmp_path, 10)


def test_unknown_layout_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown layout 'parquet'"):
        generate(tmp_path / "out", 10, layout="parquet")


def test_zero_appearances_rejected(tmp_path):
    with pytest.raises(ValueError, match="appearances must be at least 1, got 0"):
        generate(tmp_path / "out", 0)


def test_image_size_too_small_rejected(tmp_path):
    with pytest.raises(ValueError, match="image_size must be at least 8 pixels, got 4"):
        generate(tmp_path / "out", 10, image_size=4)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        pytest.param(
            "pronoun",
            {"values": ["a", "b"], "weights": [1]},
            "expected 2 weights",
            id="weights_count",
        ),
        pytest.param(
            "pronoun",
            {"values": ["a", "b"], "weights": [0, 0]},
            "the weights sum to 0",
            id="weights_zero",
        ),
        pytest.param(
            "pronoun",
            {"values": ["a"], "weights": [-1]},
            "a number of 0 or more",
            id="weight_negative",
        ),
        pytest.param("pronoun", {"values": []}, "non-empty list of values", id="values_empty"),
        pytest.param("countries", [], "lists no country", id="countries_empty"),
        pytest.param("capture_years", [2024, 2022], "low <= high", id="years_reversed"),
        pytest.param(
            "age_bin", {"values": ["18-29"], "weights": [1]}, "is missing", id="ranges_missing"
        ),
        pytest.param(
            "age_bin",
            {"values": ["18-29"], "weights": [1], "ranges": 5},
            "expected a list, got 5",
            id="ranges_not_list",
        ),
        pytest.param(
            "people_per_image",
            {"values": [0, 1], "weights": [1, 0]},
            "whole numbers of 1 or more",
            id="zero_people",
        ),
        pytest.param(
            "consent",
            {"scopes": "evaluation", "withdrawn_share": 0.01},
            "expected a list, got 'evaluation'",
            id="scopes_not_list",
        ),
    ],
)
def test_invalid_composition_names_key(tmp_path, key, value, message):
    document = yaml.safe_load(DEFAULT_COMPOSITION.read_text())
    document[key] = value
    path = tmp_path / "composition.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(CompositionError, match=message) as raised:
        load_composition(path)
    assert raised.value.key.startswith(key)


def test_invalid_share_names_key(tmp_path):
    document = yaml.safe_load(DEFAULT_COMPOSITION.read_text())
    document["consent"]["withdrawn_share"] = 1.5
    path = tmp_path / "composition.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(CompositionError, match=r"consent.withdrawn_share.*from 0 to 1, got 1.5"):
        load_composition(path)


def test_missing_composition_file_rejected(tmp_path):
    with pytest.raises(CompositionError, match="file not found"):
        load_composition(tmp_path / "none.yaml")


def test_command_prints_spec_path(tmp_path, capsys):
    code = main([str(tmp_path / "out"), "--appearances", "30", "--layout", "tabular"])
    assert code == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "out" / "collection.yaml")


def test_command_reports_bad_composition(tmp_path, capsys):
    code = main([str(tmp_path / "out"), "--appearances", "5", "--composition", "none.yaml"])
    assert code == 1
    error = capsys.readouterr().err
    assert error.startswith("error: composition file none.yaml")
    assert "file not found" in error
