"""Tests for load_spec: a valid spec loads, and every invalid spec raises a SpecError.

Each SpecError message names the key and states what is expected, so the tests match on
"key `<key>`: <problem>", the part of the message that does not depend on the spec's path.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tasks.errors import SpecError
from tasks.spec import load_spec
from tests.conftest import ADULT_SPEC, SMALL_SPEC

# SMALL_SPEC for a file without a header line, so source.columns lists every column.
HEADERLESS_SPEC = SMALL_SPEC.replace(
    "  header: true\n", "  header: false\n  columns: [person_id, sex, race, age, income]\n"
)


def spec_error_pattern(key: str, problem: str) -> str:
    """Return a regular expression for the stable part of a SpecError message."""
    return re.escape(f"key `{key}`: {problem}")


@pytest.mark.parametrize(
    ("base", "old", "new", "expected"),
    [
        pytest.param(
            SMALL_SPEC,
            "spec_version: 1\n",
            "spec_version: 1\ncolour: blue\n",
            spec_error_pattern("colour", "unknown key; expected one of: spec_version, collection"),
            id="unknown top-level key",
        ),
        pytest.param(
            SMALL_SPEC,
            "spec_version: 1\n",
            "spec_version: 2\n",
            spec_error_pattern("spec_version", "expected 1, got 2"),
            id="spec_version not 1",
        ),
        pytest.param(
            SMALL_SPEC,
            "    categories: [Female, Male]\n",
            "    categores: [Female, Male]\n",
            spec_error_pattern("fields.sex.categores", "unknown key; expected one of: role, type"),
            id="unknown key in field",
        ),
        pytest.param(
            SMALL_SPEC,
            "    role: label\n",
            "    role: outcome\n",
            spec_error_pattern(
                "fields.income.role", "expected one of: demographic, label, context; got 'outcome'"
            ),
            id="role not allowed",
        ),
        pytest.param(
            SMALL_SPEC,
            "    categories: [A, B, C]\n",
            "",
            spec_error_pattern(
                "fields.race.categories",
                "a demographic field needs type category and a list of categories",
            ),
            id="demographic without categories",
        ),
        pytest.param(
            HEADERLESS_SPEC,
            "    categories: [Female, Male]\n",
            "    column: gender\n    categories: [Female, Male]\n",
            spec_error_pattern("fields.sex.column", "column `gender` is not in source.columns"),
            id="column not in source.columns",
        ),
        pytest.param(
            SMALL_SPEC,
            "categories: [A, B, C]",
            "categories: [A, B, A]",
            spec_error_pattern("fields.race.categories", "lists `A` twice"),
            id="duplicate category",
        ),
        pytest.param(
            SMALL_SPEC,
            '"high.": high',
            '"high.": rich',
            spec_error_pattern(
                "fields.income.aliases.high.", "maps to `rich`, which is no category"
            ),
            id="alias to non-category",
        ),
        pytest.param(
            SMALL_SPEC,
            "{label: 40+, min: 40, max: null}",
            "{label: 45+, min: 45, max: null}",
            spec_error_pattern(
                "fields.age_group.bins[1].min", "bins must be contiguous and ascending"
            ),
            id="bins not contiguous",
        ),
        pytest.param(
            SMALL_SPEC,
            "    derived_from: age\n",
            "    derived_from: years\n",
            spec_error_pattern(
                "fields.age_group.derived_from", "`years` is not a field read from a source column"
            ),
            id="derived_from missing field",
        ),
        pytest.param(
            SMALL_SPEC,
            "  - [sex, race]\n",
            "  - [sex, income]\n",
            spec_error_pattern("intersections[0]", "`income` is not a demographic field"),
            id="intersection with non-demographic field",
        ),
        pytest.param(
            SMALL_SPEC,
            "  race: {definition: Race as reported., "
            "rationale: Small groups get unstable estimates.}\n",
            "",
            spec_error_pattern(
                "dimensions.race",
                "missing; every demographic field needs a definition and a rationale",
            ),
            id="demographic field without dimension",
        ),
        pytest.param(
            SMALL_SPEC,
            "  sex: {definition: Sex as reported., rationale: Each sex needs enough records.}\n",
            "  sex: {definition: Sex as reported.}\n",
            spec_error_pattern(
                "dimensions.sex.rationale", "missing; write the rationale of `sex` as a sentence"
            ),
            id="dimension without rationale",
        ),
        pytest.param(
            SMALL_SPEC,
            "suites: [coverage.json]",
            "suites: [absent.json]",
            re.escape("key `gates.suites[0]`: suite file ") + r".*absent\.json not found",
            id="suite file not found",
        ),
        pytest.param(
            SMALL_SPEC,
            "    supplied_by: self-reported\n",
            "    supplied_by: guessed\n",
            spec_error_pattern(
                "fields.sex.supplied_by",
                "expected one of: self-reported, annotator, derived, exif; got 'guessed'",
            ),
            id="supplied_by not allowed",
        ),
    ],
)
def test_invalid_spec_names_key(make_collection, base, old, new, expected):
    assert old in base
    spec_path = make_collection(spec=base.replace(old, new, 1))

    with pytest.raises(SpecError, match=expected):
        load_spec(spec_path)


@pytest.mark.parametrize(
    ("spec_text", "expected"),
    [
        pytest.param(None, "file not found; pass the path of a collection spec", id="missing file"),
        pytest.param("spec_version: 1\nfields: [sex, race\n", "invalid YAML", id="invalid YAML"),
    ],
)
def test_unreadable_spec_raises(tmp_path: Path, spec_text, expected):
    spec_path = tmp_path / "collection.yaml"
    if spec_text is not None:
        spec_path.write_text(spec_text)

    with pytest.raises(SpecError, match=expected):
        load_spec(spec_path)


def test_python_tag_not_executed(make_collection, tmp_path: Path):
    created = tmp_path / "created_by_yaml"
    spec_path = make_collection(
        spec=f"spec_version: !!python/object/apply:os.mkdir ['{created}']\n"
    )

    with pytest.raises(SpecError, match="invalid YAML: could not determine a constructor"):
        load_spec(spec_path)
    assert not created.exists()


def test_header_spec_with_id_column_loads(make_collection):
    # A file with a header names its own columns, so source.columns may be left out.
    spec = load_spec(make_collection())

    assert spec.source.id_column == "person_id"


def test_headerless_spec_loads(make_collection):
    spec = load_spec(make_collection(spec=HEADERLESS_SPEC))

    assert spec.source.columns == ("person_id", "sex", "race", "age", "income")


def test_headerless_unknown_id_column_raises(make_collection):
    spec_text = HEADERLESS_SPEC.replace("id_column: person_id", "id_column: passport")

    expected = spec_error_pattern("source.id_column", "column `passport` is not in source.columns")
    with pytest.raises(SpecError, match=expected):
        load_spec(make_collection(spec=spec_text))


def test_adult_spec_loads():
    spec = load_spec(ADULT_SPEC)

    assert spec.name == "adult"
    assert [f.name for f in spec.demographic_fields] == ["age_group", "sex", "race", "region"]
    assert len(spec.suites) == 5
    assert [p.name for p in spec.source.files] == ["adult.data", "adult.test"]
    assert spec.source.header is False
    assert spec.field("income").aliases == {"<=50K.": "<=50K", ">50K.": ">50K"}
