"""Sample a FHIBE-shaped collection (subjects, images, appearances) from a composition.

Sampling uses one NumPy generator (PCG64) seeded by the caller and draws in a fixed order, so
the same seed and composition give the same collection with the same NumPy version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from bench.composition import Choice, Composition

SUBJECT_ID_DIGITS = 7
IMAGE_ID_DIGITS = 8


@dataclass(frozen=True)
class SampledCollection:
    """A sampled collection: one row per subject, per image and per appearance.

    `subjects` has subject_id, age, age_bin, pronoun, ancestry (a list of one or two
    sub-regions), natural_skin_color, country (index into the composition's countries),
    is_withdrawn. `images` has image_id, primary_subject_id, secondary_subject_id (null for an
    image of one person), country_text, region_text, hour_window, capture_date.
    `appearances` has one row per person per image, primary first: image_id, subject_id,
    is_primary.
    """

    subjects: pl.DataFrame
    images: pl.DataFrame
    appearances: pl.DataFrame


def sample_collection(composition: Composition, appearances: int, seed: int) -> SampledCollection:
    """Sample a collection of exactly `appearances` appearance rows.

    Raises ValueError when `appearances` is below 1.
    """
    if appearances < 1:
        raise ValueError(f"appearances must be at least 1, got {appearances}")
    rng = np.random.default_rng(seed)
    primary, people = _sample_images(rng, composition, appearances)
    subject_count = int(primary[-1]) + 1
    if subject_count == 1:
        # One subject cannot share an image with anyone, so each appearance is its own image.
        # NOTE: this can exceed the composition's images per subject, for tiny collections only.
        primary = np.zeros(appearances, dtype=np.int64)
        people = np.ones(appearances, dtype=np.int64)
    offset = rng.integers(1, max(subject_count, 2), size=primary.size)
    secondary = np.where(people == 2, (primary + offset) % subject_count, -1)

    subjects = _sample_subjects(rng, composition, subject_count)
    images = _sample_image_context(rng, composition, primary, secondary, subjects)
    image_index = np.repeat(np.arange(primary.size), people)
    position = np.arange(image_index.size) - np.repeat(np.cumsum(people) - people, people)
    subject_index = np.where(position == 0, primary[image_index], secondary[image_index])
    appearance_frame = pl.DataFrame(
        {
            "image_id": _ids("i", image_index, IMAGE_ID_DIGITS),
            "subject_id": _ids("s", subject_index, SUBJECT_ID_DIGITS),
            "is_primary": position == 0,
        }
    )
    return SampledCollection(subjects=subjects, images=images, appearances=appearance_frame)


def _sample_images(
    rng: np.random.Generator, composition: Composition, appearances: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return each image's primary subject index and number of people, totalling `appearances`."""
    per_subject = _mean(composition.images_per_subject)
    per_image = _mean(composition.people_per_image)
    subject_count = max(1, math.ceil(appearances / (per_subject * per_image) * 1.1))
    while True:
        counts = _draw(rng, composition.images_per_subject, subject_count)
        primary = np.repeat(np.arange(subject_count), counts.astype(np.int64))
        people = _draw(rng, composition.people_per_image, primary.size).astype(np.int64)
        if people.sum() >= appearances:
            break
        subject_count *= 2
    total = np.cumsum(people)
    last = int(np.searchsorted(total, appearances))
    primary, people = primary[: last + 1], people[: last + 1].copy()
    people[-1] = appearances - (int(total[last - 1]) if last > 0 else 0)
    return primary, people


def _sample_subjects(
    rng: np.random.Generator, composition: Composition, count: int
) -> pl.DataFrame:
    bins = composition.age_bins
    age_bin = rng.choice(len(bins.values), size=count, p=bins.probabilities)
    low = np.array([r[0] for r in composition.age_ranges])[age_bin]
    high = np.array([r[1] for r in composition.age_ranges])[age_bin]
    age = rng.integers(low, high + 1)
    pronoun = _draw(rng, composition.pronouns, count)
    first = _draw_ancestry(rng, composition, count)
    second = _draw_ancestry(rng, composition, count)
    has_second = (rng.random(count) < composition.second_ancestry_share) & (second != first)
    ancestry = pl.select(
        pl.when(pl.Series(has_second))
        .then(pl.concat_list(pl.Series(first), pl.Series(second)))
        .otherwise(pl.concat_list(pl.Series(first)))
    ).to_series()
    return pl.DataFrame(
        {
            "subject_id": _ids("s", np.arange(count), SUBJECT_ID_DIGITS),
            "age": age,
            "age_bin": np.array(bins.values)[age_bin],
            "pronoun": pronoun,
            "ancestry": ancestry,
            "natural_skin_color": _draw(rng, composition.skin_colors, count),
            "country": rng.integers(0, len(composition.countries), size=count),
            "is_withdrawn": rng.random(count) < composition.withdrawn_share,
        }
    )


def _draw_ancestry(rng: np.random.Generator, composition: Composition, count: int) -> np.ndarray:
    continents = _draw(rng, composition.continents, count)
    picks = rng.random(count)
    regions = np.empty(count, dtype=object)
    for continent, members in composition.ancestry_groups.items():
        chosen = continents == continent
        regions[chosen] = np.array(members)[(picks[chosen] * len(members)).astype(np.int64)]
    return regions.astype(str)


def _sample_image_context(
    rng: np.random.Generator,
    composition: Composition,
    primary: np.ndarray,
    secondary: np.ndarray,
    subjects: pl.DataFrame,
) -> pl.DataFrame:
    count = primary.size
    countries = composition.countries
    country = subjects["country"].to_numpy()[primary]
    misspelled = rng.random(count) < composition.country_misspelled_share
    spelling_pick = rng.random(count)
    names = np.array([c.name for c in countries])[country].astype(object)
    for index, entry in enumerate(countries):
        if not entry.misspellings:
            continue
        chosen = misspelled & (country == index)
        picks = (spelling_pick[chosen] * len(entry.misspellings)).astype(np.int64)
        names[chosen] = np.array(entry.misspellings)[picks]
    first_year, last_year = composition.capture_years
    days = rng.integers(0, (last_year - first_year + 1) * 365, size=count)
    dates = np.datetime64(f"{first_year}-01-01") + days.astype("timedelta64[D]")
    return pl.DataFrame(
        {
            "image_id": _ids("i", np.arange(count), IMAGE_ID_DIGITS),
            "primary_subject_id": _ids("s", primary, SUBJECT_ID_DIGITS),
            "secondary_subject_id": _ids("s", np.maximum(secondary, 0), SUBJECT_ID_DIGITS).zip_with(
                pl.Series(secondary >= 0), pl.Series([None] * count, dtype=pl.String)
            ),
            "country_text": names.astype(str),
            "region_text": np.array([c.region for c in countries])[country],
            "hour_window": _draw(rng, composition.hour_windows, count),
            "capture_date": dates.astype(str),
        }
    )


def _ids(prefix: str, numbers: np.ndarray, digits: int) -> pl.Series:
    """Return ids such as s0000001 for the 0-based `numbers`."""
    text = pl.Series(numbers + 1, dtype=pl.Int64).cast(pl.String).str.zfill(digits)
    return pl.select(pl.lit(prefix) + text).to_series()


def _draw(rng: np.random.Generator, choice: Choice, count: int) -> np.ndarray:
    index = rng.choice(len(choice.values), size=count, p=choice.probabilities)
    return np.array(choice.values)[index]


def _mean(choice: Choice) -> float:
    return float(sum(v * p for v, p in zip(choice.values, choice.probabilities, strict=True)))
