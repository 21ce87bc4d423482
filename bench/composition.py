"""Read and validate the distributions that the collection generator samples from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tasks.errors import FaircurateError

DEFAULT_COMPOSITION = Path(__file__).resolve().parent / "composition.yaml"


class CompositionError(FaircurateError):
    """The composition file is missing, unreadable or has an invalid key."""

    def __init__(self, path: Path, key: str, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        where = f"key `{key}`: " if key else ""
        super().__init__(f"composition file {path}: {where}{problem}")


@dataclass(frozen=True)
class Choice:
    """Categorical values with their probabilities, which sum to 1."""

    values: tuple[Any, ...]
    probabilities: tuple[float, ...]


@dataclass(frozen=True)
class Country:
    """A country subjects can type, the region the country map gives it, and its misspellings."""

    name: str
    region: str
    misspellings: tuple[str, ...]


@dataclass(frozen=True)
class Composition:
    """Every distribution the generator samples from, as declared in a composition file."""

    path: Path
    images_per_subject: Choice
    people_per_image: Choice
    age_bins: Choice
    age_ranges: tuple[tuple[int, int], ...]
    pronouns: Choice
    ancestry_groups: dict[str, tuple[str, ...]]
    continents: Choice
    second_ancestry_share: float
    skin_colors: Choice
    hour_windows: Choice
    capture_years: tuple[int, int]
    countries: tuple[Country, ...]
    country_misspelled_share: float
    images_per_annotator: int
    qa_per_annotator: int
    demographics_disclosed_share: float
    pay_per_hour: dict[str, tuple[float, str]]
    minimum_wage: dict[str, tuple[float, str]]
    consent_scopes: tuple[str, ...]
    withdrawn_share: float


def load_composition(path: Path | str = DEFAULT_COMPOSITION) -> Composition:
    """Read a composition YAML file and raise CompositionError naming any invalid key."""
    path = Path(path)
    if not path.is_file():
        raise CompositionError(path, "", "file not found; pass an existing composition YAML file")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise CompositionError(path, "", f"invalid YAML: {error}") from None
    reader = _Reader(path, document)

    age = reader.section("age_bin")
    age_bins = reader.choice("age_bin")
    listed_ranges = reader.list_in(age, "ranges", "age_bin")
    ranges = tuple(reader.int_pair(r, f"age_bin.ranges[{i}]") for i, r in enumerate(listed_ranges))
    if len(ranges) != len(age_bins.values):
        raise reader.fail("age_bin.ranges", "needs one [min, max] range per value")
    if min(low for low, _ in ranges) < 18:
        raise reader.fail("age_bin.ranges", "starts below 18, but only adults take part")

    ancestry = reader.section("ancestry")
    groups = {str(k): tuple(map(str, v)) for k, v in reader.mapping(ancestry, "groups").items()}
    continents = reader.weighted(
        tuple(groups), ancestry.get("continent_weights"), "ancestry.continent_weights"
    )

    countries = tuple(
        Country(
            name=str(reader.required(entry, "name", f"countries[{i}]")),
            region=str(reader.required(entry, "region", f"countries[{i}]")),
            misspellings=tuple(map(str, entry.get("misspellings") or ())),
        )
        for i, entry in enumerate(reader.list("countries"))
    )
    if not countries:
        raise reader.fail("countries", "lists no country; add at least one")

    annotators = reader.section("annotators")
    consent = reader.section("consent")
    people_per_image = reader.choice("people_per_image")
    images_per_subject = reader.choice("images_per_subject")
    for key, choice in (
        ("people_per_image", people_per_image),
        ("images_per_subject", images_per_subject),
    ):
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in choice.values):
            raise reader.fail(
                f"{key}.values", f"expected whole numbers of 1 or more, got {list(choice.values)!r}"
            )
    return Composition(
        path=path,
        images_per_subject=images_per_subject,
        people_per_image=people_per_image,
        age_bins=age_bins,
        age_ranges=ranges,
        pronouns=reader.choice("pronoun"),
        ancestry_groups=groups,
        continents=continents,
        second_ancestry_share=reader.share(ancestry, "second_ancestry_share", "ancestry"),
        skin_colors=reader.choice("natural_skin_color"),
        hour_windows=reader.choice("hour_window"),
        capture_years=reader.int_pair(document.get("capture_years"), "capture_years"),
        countries=countries,
        country_misspelled_share=reader.share(document, "country_misspelled_share", ""),
        images_per_annotator=reader.positive_int(annotators, "images_per_annotator", "annotators"),
        qa_per_annotator=reader.positive_int(annotators, "qa_per_annotator", "annotators"),
        demographics_disclosed_share=reader.share(
            annotators, "demographics_disclosed_share", "annotators"
        ),
        pay_per_hour=reader.wages(annotators, "pay_per_hour"),
        minimum_wage=reader.wages(annotators, "minimum_wage"),
        consent_scopes=tuple(map(str, reader.list_in(consent, "scopes", "consent"))),
        withdrawn_share=reader.share(consent, "withdrawn_share", "consent"),
    )


class _Reader:
    def __init__(self, path: Path, document: Any) -> None:
        self.path = path
        if not isinstance(document, dict):
            raise self.fail("", "expected a mapping of distributions at the top level")
        self.document = document

    def fail(self, key: str, problem: str) -> CompositionError:
        return CompositionError(self.path, key, problem)

    def section(self, key: str) -> dict[str, Any]:
        return self.mapping(self.document, key)

    def mapping(self, parent: dict[str, Any], key: str) -> dict[str, Any]:
        value = parent.get(key)
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {value!r}")
        return value

    def list(self, key: str) -> list[Any]:
        value = self.document.get(key)
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list, got {value!r}")
        return value

    def list_in(self, parent: Any, key: str, where: str) -> list[Any]:
        value = self.required(parent, key, where)
        if not isinstance(value, list):
            raise self.fail(f"{where}.{key}", f"expected a list, got {value!r}")
        return value

    def required(self, parent: Any, key: str, where: str) -> Any:
        if not isinstance(parent, dict) or parent.get(key) is None:
            raise self.fail(f"{where}.{key}".lstrip("."), "is missing")
        return parent[key]

    def choice(self, key: str) -> Choice:
        section = self.section(key)
        values = section.get("values")
        if not isinstance(values, list) or not values:
            raise self.fail(f"{key}.values", "expected a non-empty list of values")
        return self.weighted(tuple(values), section.get("weights"), f"{key}.weights")

    def weighted(self, values: tuple[Any, ...], weights: Any, key: str) -> Choice:
        if weights is None:
            return Choice(values, tuple(1 / len(values) for _ in values))
        if not isinstance(weights, list) or len(weights) != len(values):
            raise self.fail(key, f"expected {len(values)} weights, one per value, got {weights!r}")
        if any(not isinstance(w, int | float) or isinstance(w, bool) or w < 0 for w in weights):
            raise self.fail(key, f"every weight must be a number of 0 or more, got {weights!r}")
        total = float(sum(weights))
        if total <= 0:
            raise self.fail(key, "the weights sum to 0; give at least one value a weight")
        return Choice(values, tuple(w / total for w in weights))

    def share(self, parent: dict[str, Any], key: str, where: str) -> float:
        name = f"{where}.{key}" if where else key
        value = parent.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            raise self.fail(name, f"expected a share from 0 to 1, got {value!r}")
        return float(value)

    def positive_int(self, parent: dict[str, Any], key: str, where: str) -> int:
        value = parent.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise self.fail(f"{where}.{key}", f"expected an integer of 1 or more, got {value!r}")
        return value

    def int_pair(self, value: Any, key: str) -> tuple[int, int]:
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or value[0] > value[1]
        ):
            raise self.fail(key, f"expected [low, high] integers with low <= high, got {value!r}")
        return value[0], value[1]

    def wages(self, parent: dict[str, Any], key: str) -> dict[str, tuple[float, str]]:
        table = self.mapping(parent, key)
        wages = {}
        for country, entry in table.items():
            if (
                not isinstance(entry, list)
                or len(entry) != 2
                or not isinstance(entry[0], int | float)
                or not isinstance(entry[1], str)
            ):
                raise self.fail(
                    f"annotators.{key}.{country}", f"expected [amount, CURRENCY], got {entry!r}"
                )
            wages[str(country)] = (float(entry[0]), entry[1])
        return wages
