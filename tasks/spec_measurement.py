"""The spec's `measurement.sensitive_pairs` and `measurement.bootstrap` settings.

A sensitive pair is a demographic attribute and a label or context field whose association
the curators want gated and whose bias-aligned and bias-conflicting records are published.
The bootstrap settings fix how many replicates give the confidence intervals of shares and
diversity indices, with which seed and at which confidence level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tasks.spec import FieldSpec, _Reader

DEFAULT_REPLICATES = 200
DEFAULT_SEED = 20261204
DEFAULT_CONFIDENCE = 0.95
MIN_REPLICATES = 20
MAX_REPLICATES = 100_000


@dataclass(frozen=True)
class SensitivePair:
    """A demographic attribute and a label or context field whose association is gated."""

    attribute: str
    field: str


@dataclass(frozen=True)
class BootstrapSettings:
    """How the bootstrap intervals are drawn: replicates, seed and confidence level."""

    replicates: int = DEFAULT_REPLICATES
    seed: int = DEFAULT_SEED
    confidence: float = DEFAULT_CONFIDENCE


def read_sensitive_pairs(
    reader: _Reader, value: Any, fields: tuple[FieldSpec, ...], max_categories: int
) -> tuple[SensitivePair, ...]:
    """Read `measurement.sensitive_pairs`: a list of {attribute, field} mappings.

    A pair whose field can take more values than `max_categories` is rejected here, because
    the associations table would leave it out and its gate could not judge it.
    """
    key = "measurement.sensitive_pairs"
    if value is None:
        return ()
    if not isinstance(value, list):
        raise reader.fail(key, "expected a list of mappings with `attribute` and `field`")
    by_name = {f.name: f for f in fields}
    demographic = sorted(f.name for f in fields if f.role == "demographic")
    others = sorted(f.name for f in fields if f.role in ("label", "context"))
    pairs: list[SensitivePair] = []
    for i, item in enumerate(value):
        item_key = f"{key}[{i}]"
        entry = reader.mapping(item, item_key, ("attribute", "field"))
        attribute = reader.text(entry, "attribute", item_key)
        field = reader.text(entry, "field", item_key)
        if attribute not in demographic:
            raise reader.fail(
                f"{item_key}.attribute",
                f"`{attribute}` is not a demographic field; expected one of: "
                f"{', '.join(demographic)}",
            )
        if field not in others:
            raise reader.fail(
                f"{item_key}.field",
                f"`{field}` is not a label or context field; expected one of: {', '.join(others)}",
            )
        derived = (by_name[attribute].derived_from, by_name[field].derived_from)
        if field in derived or attribute in derived:
            raise reader.fail(
                item_key,
                f"`{attribute}` and `{field}` are derived one from the other, so their "
                "association is complete by construction; pick another pair",
            )
        for name in (attribute, field):
            possible = _count_possible_values(by_name[name])
            if possible is not None and possible > max_categories:
                raise reader.fail(
                    item_key,
                    f"`{name}` can take {possible} values, more than "
                    f"measurement.max_association_categories ({max_categories}), so the pair "
                    "is not measured; pair a binned or grouped field, or raise that limit",
                )
        pair = SensitivePair(attribute, field)
        if pair in pairs:
            raise reader.fail(item_key, f"lists `{attribute}` with `{field}` twice")
        pairs.append(pair)
    return tuple(pairs)


def read_bootstrap(reader: _Reader, value: Any) -> BootstrapSettings:
    """Read `measurement.bootstrap`; every key has a default."""
    key = "measurement.bootstrap"
    if value is None:
        return BootstrapSettings()
    section = reader.mapping(value, key, ("replicates", "seed", "confidence"))
    replicates = reader.integer(section.get("replicates", DEFAULT_REPLICATES), f"{key}.replicates")
    if not MIN_REPLICATES <= replicates <= MAX_REPLICATES:
        raise reader.fail(
            f"{key}.replicates",
            f"got {replicates}; expected from {MIN_REPLICATES} to {MAX_REPLICATES:,}",
        )
    seed = reader.integer(section.get("seed", DEFAULT_SEED), f"{key}.seed")
    if seed < 0:
        raise reader.fail(f"{key}.seed", f"got {seed}; expected an integer of 0 or more")
    confidence = section.get("confidence", DEFAULT_CONFIDENCE)
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise reader.fail(f"{key}.confidence", f"expected a number, got {confidence!r}")
    if not 0.5 <= confidence < 1:
        raise reader.fail(
            f"{key}.confidence", f"got {confidence}; expected a level from 0.5 to below 1"
        )
    return BootstrapSettings(replicates=replicates, seed=seed, confidence=float(confidence))


def _count_possible_values(spec_field: FieldSpec) -> int | None:
    """Return how many values a field can take, or None when only the data can tell."""
    if spec_field.bins:
        return len(spec_field.bins)
    if spec_field.groups:
        return len(set(spec_field.groups.values())) + (spec_field.multiple_label is not None)
    if spec_field.categories:
        return len(spec_field.categories)
    if (
        spec_field.type == "integer"
        and spec_field.minimum is not None
        and spec_field.maximum is not None
    ):
        return spec_field.maximum - spec_field.minimum + 1
    return None
