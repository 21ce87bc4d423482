"""The consent, process, privacy and media policies of a collection of photos of people.

They are read from the spec's `consent`, `process`, `privacy` and `media` sections. A collection
with images must declare `consent`; the other sections have defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tasks.spec import _Reader

DEFAULT_AGE_OF_MAJORITY = 18
DEFAULT_NEAR_DUPLICATE_DISTANCE = 4


@dataclass(frozen=True)
class ConsentPolicy:
    """What a consent record must cover for a person to appear in a release."""

    required_scopes: tuple[str, ...] = ()
    default_age_of_majority: int = DEFAULT_AGE_OF_MAJORITY
    age_of_majority: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class MinimumWage:
    """A local minimum wage per hour in a currency."""

    amount: float
    currency: str


@dataclass(frozen=True)
class ProcessPolicy:
    """Pay floors for annotators and QA reviewers; a `min_pay_ratio` of 1.0 is the wage itself."""

    minimum_wage: dict[str, MinimumWage] = field(default_factory=dict)
    min_pay_ratio: float = 1.0


@dataclass(frozen=True)
class PrivacyPolicy:
    """The free-text columns to scan for personal data before a release."""

    text_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class PeoplePolicies:
    """All policies of a collection; empty for a table without images."""

    consent: ConsentPolicy | None = None
    process: ProcessPolicy = field(default_factory=ProcessPolicy)
    privacy: PrivacyPolicy = field(default_factory=PrivacyPolicy)
    near_duplicate_distance: int = DEFAULT_NEAR_DUPLICATE_DISTANCE


def read_policies(reader: _Reader, top: dict[str, Any], has_images: bool) -> PeoplePolicies:
    """Validate the policy sections; a collection with images must have a consent section."""
    if has_images and "consent" not in top:
        raise reader.fail(
            "consent",
            "missing; a collection of photos of people needs a consent policy "
            "(required_scopes and age_of_majority)",
        )
    consent = _read_consent(reader, top["consent"]) if "consent" in top else None
    media = reader.mapping(top.get("media", {}), "media", ("near_duplicate_distance",))
    distance = reader.integer(
        media.get("near_duplicate_distance", DEFAULT_NEAR_DUPLICATE_DISTANCE),
        "media.near_duplicate_distance",
    )
    if not 0 <= distance <= 64:
        raise reader.fail("media.near_duplicate_distance", "expected 0 to 64 bits")
    return PeoplePolicies(
        consent=consent,
        process=_read_process(reader, top.get("process", {})),
        privacy=_read_privacy(reader, top.get("privacy", {})),
        near_duplicate_distance=distance,
    )


def _read_consent(reader: _Reader, value: Any) -> ConsentPolicy:
    section = reader.mapping(value, "consent", ("required_scopes", "age_of_majority"))
    scopes = reader.strings(section.get("required_scopes"), "consent.required_scopes")
    majority = reader.mapping(
        section.get("age_of_majority", {}), "consent.age_of_majority", ("default", "by_country")
    )
    default = reader.integer(
        majority.get("default", DEFAULT_AGE_OF_MAJORITY), "consent.age_of_majority.default"
    )
    by_country = reader.mapping(
        majority.get("by_country", {}), "consent.age_of_majority.by_country"
    )
    ages = {
        str(country): reader.integer(age, f"consent.age_of_majority.by_country.{country}")
        for country, age in by_country.items()
    }
    return ConsentPolicy(
        required_scopes=scopes, default_age_of_majority=default, age_of_majority=ages
    )


def _read_process(reader: _Reader, value: Any) -> ProcessPolicy:
    section = reader.mapping(value, "process", ("minimum_wage", "min_pay_ratio"))
    wages = {}
    table = reader.mapping(section.get("minimum_wage", {}), "process.minimum_wage")
    for country, entry in table.items():
        key = f"process.minimum_wage.{country}"
        wage = reader.mapping(entry, key, ("amount", "currency"))
        amount = wage.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
            raise reader.fail(f"{key}.amount", f"expected a non-negative number, got {amount!r}")
        wages[str(country)] = MinimumWage(float(amount), reader.text(wage, "currency", key))
    ratio = section.get("min_pay_ratio", 1.0)
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or ratio <= 0:
        raise reader.fail("process.min_pay_ratio", f"expected a positive number, got {ratio!r}")
    return ProcessPolicy(minimum_wage=wages, min_pay_ratio=float(ratio))


def _read_privacy(reader: _Reader, value: Any) -> PrivacyPolicy:
    section = reader.mapping(value, "privacy", ("text_columns",))
    columns = reader.strings(section.get("text_columns", []), "privacy.text_columns")
    return PrivacyPolicy(text_columns=columns)
