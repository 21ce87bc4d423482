"""The Croissant document of a real Adult release, checked with mlcroissant 1.1.1 offline."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import ipaddress
import itertools
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import mlcroissant as mlc
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.pipeline import run
from tasks.croissant import CroissantError, build_croissant
from tasks.manifest import describe_files
from tasks.spec import load_spec

# Real Croissant files published by MLCommons, kept beside the checkout and only read here.
REAL_CROISSANT = Path(__file__).resolve().parents[2] / "shared" / "real-data" / "croissant"
MLCROISSANT = Path(sys.executable).parent / "mlcroissant"
# A proxy on the local discard port: a child process sends every HTTP request there, so no
# request leaves the machine and a fetch fails.
DISCARD_PORT_PROXY = "http://127.0.0.1:9"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")
# RAI properties of the vocabulary that neither dices-350 nor bigcode-the-stack uses.
RAI_TERMS_WITHOUT_EXAMPLE = {
    "rai:dataCollectionMissingData",
    "rai:dataCollectionTimeframe",
    "rai:dataReleaseMaintenancePlan",
}
ADULT_SMALL_CELLS_INTERSECTION = "sex × race × age_group"


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def read_release(folder: Path) -> tuple[dict, dict[str, pl.DataFrame]]:
    """Read a release's manifest and its measurement tables, keyed by table name."""
    manifest = read_json(folder / "manifest.json")
    measurements = {
        Path(entry["path"]).stem: pl.read_parquet(folder / entry["path"])
        for entry in manifest["files"]
        if entry["path"].startswith("measurements/")
    }
    return manifest, measurements


def write_croissant(document: dict, folder: Path) -> Path:
    """Write the document at the root of `folder`: contentUrl paths are relative to it."""
    path = folder / "croissant.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def write_small_release(folder: Path, table: pa.Table) -> dict:
    """Write `table` as data/records.parquet in `folder` and return a manifest for it."""
    (folder / "data").mkdir(parents=True)
    pq.write_table(table, folder / "data" / "records.parquet")
    return {
        "version": "1.0.0",
        "published_at": "2026-01-29T12:00:00+00:00",
        "files": describe_files(folder),
    }


def copy_with_changed_records(release: Path, target: Path) -> Path:
    """Copy a release folder and invert one byte in the middle of its data/records.parquet."""
    shutil.copytree(release, target)
    records_file = target / "data" / "records.parquet"
    content = bytearray(records_file.read_bytes())
    content[len(content) // 2] ^= 0xFF
    records_file.write_bytes(bytes(content))
    return target


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def field_by_name(record_set: dict, name: str) -> dict:
    return next(field for field in record_set["field"] if field["name"] == name)


def record_set_by_id(document: dict, record_set_id: str) -> dict:
    return next(r for r in document["recordSet"] if r["@id"] == record_set_id)


def decoded(record: dict, record_set_id: str) -> dict:
    """Strip the record set from mlcroissant's keys and decode its text values from bytes."""
    return {
        key.removeprefix(f"{record_set_id}/"): value.decode() if isinstance(value, bytes) else value
        for key, value in record.items()
    }


@pytest.fixture
def without_network(monkeypatch):
    """Make network access fail instead of happening, in this process and in child processes.

    Sockets of this process may connect only to loopback addresses (Prefect's test server
    listens there), and child processes send HTTP requests to the local discard port.
    """
    connect = socket.socket.connect

    def connect_to_loopback_only(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                is_loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                is_loopback = host == "localhost"
            if not is_loopback:
                raise OSError(f"network access to {host} is blocked in this test")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect_to_loopback_only)
    for variable in PROXY_VARIABLES:
        monkeypatch.setenv(variable, DISCARD_PORT_PROXY)
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("no_proxy", "")


@pytest.fixture(scope="module")
def adult_release(prefect_server, tmp_path_factory, adult_spec) -> Path:
    folder = tmp_path_factory.mktemp("croissant")
    report = run(str(adult_spec), str(folder / "w.duckdb"), str(folder / "releases"))
    return report.release.path


@pytest.fixture(scope="module")
def spec(adult_spec):
    return load_spec(adult_spec)


@pytest.fixture(scope="module")
def adult_croissant(adult_release, spec) -> tuple[Path, dict]:
    manifest, measurements = read_release(adult_release)
    document = build_croissant(spec, adult_release, manifest, measurements)
    return write_croissant(document, adult_release), document


@pytest.fixture(scope="module")
def document(adult_croissant) -> dict:
    return adult_croissant[1]


@pytest.fixture(scope="module")
def real_examples() -> dict[str, dict]:
    return {path.name: read_json(path) for path in sorted(REAL_CROISSANT.glob("*.json"))}


# Validation and loading with mlcroissant


@pytest.mark.usefixtures("without_network")
def test_validate_cli_accepts_document(adult_croissant):
    """`mlcroissant validate` needs no network: the @context is inline and files are local."""
    path, _ = adult_croissant
    completed = subprocess.run(
        [str(MLCROISSANT), "validate", "--jsonld", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "error" not in output.lower(), output
    assert "warning" not in output.lower(), output
    assert "Done." in output, output


@pytest.mark.usefixtures("without_network")
def test_dataset_loads_without_issues(adult_croissant):
    path, _ = adult_croissant
    dataset = mlc.Dataset(jsonld=str(path))
    assert dataset.metadata.ctx.issues.errors == set()
    assert dataset.metadata.ctx.issues.warnings == set()


@pytest.mark.usefixtures("without_network")
def test_records_match_parquet_rows(adult_croissant, adult_release):
    path, _ = adult_croissant
    dataset = mlc.Dataset(jsonld=str(path))
    records = [decoded(r, "records") for r in itertools.islice(dataset.records("records"), 5)]
    expected = pl.read_parquet(adult_release / "data" / "records.parquet").head(5).to_dicts()
    assert len(records) == 5
    for record, row in zip(records, expected, strict=True):
        assert record == row


@pytest.mark.usefixtures("without_network")
def test_measurement_records_match_parquet(adult_croissant, adult_release):
    path, _ = adult_croissant
    dataset = mlc.Dataset(jsonld=str(path))
    records = [
        decoded(r, "diversity_by_attribute") for r in dataset.records("diversity_by_attribute")
    ]
    table = adult_release / "measurements" / "diversity_by_attribute.parquet"
    assert records == pl.read_parquet(table).to_dicts()


@pytest.mark.usefixtures("without_network")
def test_tampered_copy_fails_hash_check(adult_croissant, adult_release, tmp_path):
    _, document = adult_croissant
    copy = copy_with_changed_records(adult_release, tmp_path / "release")
    dataset = mlc.Dataset(jsonld=str(write_croissant(document, copy)))

    with pytest.raises(mlc.GenerationError, match=r"Download\(data/records\.parquet\)") as raised:
        next(iter(dataset.records("records")))
    assert "Hash of downloaded file" in str(raised.value.__cause__)


def test_build_rejects_tampered_release(adult_release, spec, tmp_path):
    copy = copy_with_changed_records(adult_release, tmp_path / "release")
    manifest, measurements = read_release(copy)
    with pytest.raises(CroissantError, match=r"records\.parquet has sha256 \w+, but the manifest"):
        build_croissant(spec, copy, manifest, measurements)


# Files, record sets and fields


def test_file_object_hashes_match_files(document, adult_release):
    file_objects = [d for d in document["distribution"] if d["@type"] == "cr:FileObject"]
    assert file_objects
    for file_object in file_objects:
        path = adult_release / file_object["contentUrl"]
        assert file_object["sha256"] == sha256_of(path), file_object["contentUrl"]
        assert file_object["contentSize"] == f"{path.stat().st_size} B", file_object["contentUrl"]
        assert file_object["encodingFormat"] == "application/x-parquet"


def test_every_parquet_file_is_described(document, adult_release):
    manifest = read_json(adult_release / "manifest.json")
    parquet = {e["path"] for e in manifest["files"] if e["path"].endswith(".parquet")}
    described = {d["contentUrl"] for d in document["distribution"]}
    sources = {
        field["source"]["fileObject"]["@id"]
        for record_set in document["recordSet"]
        for field in record_set["field"]
    }
    assert described == parquet
    assert sources == parquet


def test_fields_cover_every_column(document, adult_release):
    for record_set in document["recordSet"]:
        file_id = record_set["field"][0]["source"]["fileObject"]["@id"]
        columns = pq.read_schema(adult_release / file_id).names
        assert [f["name"] for f in record_set["field"]] == columns, file_id
        assert [f["source"]["extract"]["column"] for f in record_set["field"]] == columns


@pytest.mark.parametrize(
    ("record_set_id", "column", "data_type"),
    [
        pytest.param("records", "age", "sc:Integer", id="integer"),
        pytest.param("records", "sex", "sc:Text", id="string"),
        pytest.param("coverage_by_attribute", "share", "sc:Float", id="double"),
        pytest.param("coverage_by_attribute", "is_small", "sc:Boolean", id="boolean"),
    ],
)
def test_field_type_follows_parquet(document, record_set_id, column, data_type):
    field = field_by_name(record_set_by_id(document, record_set_id), column)
    assert field["dataType"] == data_type


def test_records_key_is_record_id(document):
    assert record_set_by_id(document, "records")["key"] == {"@id": "records/record_id"}


def test_spec_description_reaches_field(document, spec):
    field = field_by_name(record_set_by_id(document, "records"), "sex")
    assert spec.field("sex").description in field["description"]


# Structure compared with the real Croissant examples (keys, not values)


def test_top_level_keys_match_wildchat(document, real_examples):
    wildchat = real_examples["1.1_huggingface-wildchat_metadata.json"]
    expected = {key for key in wildchat if not key.startswith("prov:")}
    assert expected <= set(document)


def test_top_level_keys_are_croissant_keys(document, real_examples):
    known = set().union(*(set(example) for example in real_examples.values()))
    # mlcroissant recommends datePublished, which none of the examples sets.
    known.add("datePublished")
    ours = {key for key in document if not key.startswith("rai:")}
    assert ours - known == set()


def test_context_has_rai_prefix(document):
    assert document["@context"]["rai"] == "http://mlcommons.org/croissant/RAI/"


def test_conforms_to_both_specs(document):
    assert document["conformsTo"] == [
        "http://mlcommons.org/croissant/1.1",
        "http://mlcommons.org/croissant/RAI/1.0",
    ]


def test_file_object_shape_matches_recipes(document, real_examples):
    recipe = real_examples["1.0_recipes_enum.json"]["distribution"][0]
    ours = document["distribution"][0]
    assert set(recipe) <= set(ours)
    assert set(ours) - set(recipe) == {"contentSize"}


def test_record_set_shape_matches_recipes(document, real_examples):
    recipe = real_examples["1.0_recipes_enum.json"]["recordSet"][0]
    assert set(record_set_by_id(document, "records")) == set(recipe)


def test_field_shape_matches_recipes(document, real_examples):
    recipe = real_examples["1.0_recipes_enum.json"]["recordSet"][0]["field"][0]
    ours = field_by_name(record_set_by_id(document, "records"), "age")
    assert set(ours) == set(recipe)
    assert set(ours["source"]) == set(recipe["source"])
    assert set(ours["source"]["extract"]) == set(recipe["source"]["extract"])


def test_rai_keys_named_as_examples(document, real_examples):
    examples = {
        key
        for name in ("1.0_dices-350_metadata.json", "1.0_bigcode-the-stack_metadata.json")
        for key in real_examples[name]
        if key.startswith("rai:")
    }
    ours = {key for key in document if key.startswith("rai:")}
    assert ours - examples <= RAI_TERMS_WITHOUT_EXAMPLE


def test_rai_keys_cover_bigcode_example(document, real_examples):
    bigcode = real_examples["1.0_bigcode-the-stack_metadata.json"]
    assert {key for key in bigcode if key.startswith("rai:")} <= set(document)


# Responsible AI properties of the Adult release


def test_rai_values_are_nonempty_text(document):
    properties = {key: value for key, value in document.items() if key.startswith("rai:")}
    assert properties
    for key, value in properties.items():
        values = value if isinstance(value, list) else [value]
        assert values, key
        for item in values:
            assert isinstance(item, str), key
            assert item.strip(), key


def test_biases_report_female_share(document):
    sex_findings = [text for text in document["rai:dataBiases"] if text.startswith("sex:")]
    assert len(sex_findings) == 1
    assert "Female 33.15%" in sex_findings[0]
    assert "less than 40.00%" in sex_findings[0]


def test_biases_report_sensitive_pair(document):
    findings = [text for text in document["rai:dataBiases"] if text.startswith("associations:")]

    assert findings == [
        "associations: sensitive pairs with a bias-corrected Cramér's V above 0.1: "
        "sex × income (V 0.215). Warning from gate suite `adult_associations`: Above a "
        "bias-corrected Cramér's V of 0.1, a model can learn the attribute as a shortcut to "
        "the label. The datasheet lists the bias-conflicting records and the balancing weights "
        "that correct for it."
    ]


def test_biases_report_small_race_groups(document, adult_release):
    _, measurements = read_release(adult_release)
    small = measurements["coverage_by_attribute"].filter(
        (pl.col("attribute") == "race") & (pl.col("share") < 0.05)
    )
    race_findings = [text for text in document["rai:dataBiases"] if text.startswith("race:")]
    assert small.height == 3
    assert len(race_findings) == 1
    for row in small.iter_rows(named=True):
        assert f"{row['category']} {row['share'] * 100:.2f}%" in race_findings[0]


def test_biases_report_small_cells(document, adult_release):
    _, measurements = read_release(adult_release)
    cells = measurements["coverage_by_intersection"].filter(
        pl.col("intersection") == ADULT_SMALL_CELLS_INTERSECTION
    )
    count_small = int(cells["is_small"].sum())
    findings = [
        text
        for text in document["rai:dataBiases"]
        if text.startswith(f"{ADULT_SMALL_CELLS_INTERSECTION}:")
    ]
    assert count_small > 0
    assert len(findings) == 1
    assert f"{count_small} of {cells.height} cells are small (fewer than 30 records)" in findings[0]


def test_missing_data_lists_measured_shares(document, adult_release):
    _, measurements = read_release(adult_release)
    missing = measurements["missingness"].filter(pl.col("count_missing") > 0)
    text = document["rai:dataCollectionMissingData"]
    assert missing.height > 0
    for row in missing.iter_rows(named=True):
        assert f"{row['field']} {row['share_missing'] * 100:.2f}%" in text, row["field"]


def test_preprocessing_lists_spec_steps(document):
    steps = document["rai:dataPreprocessingProtocol"]
    assert "faircurate trimmed every value and read empty values and `?` as missing." in steps
    assert "`income`: mapped `<=50K.` to `<=50K`, `>50K.` to `>50K`." in steps
    assert any(step.startswith("`age_group`: binned `age` into 17-24") for step in steps)
    assert any("No row failed a check." in step for step in steps)


def test_use_cases_are_allowed_uses(document, spec):
    assert document["rai:dataUseCases"] == list(spec.about["allowed_uses"])


def test_social_impact_quotes_risks(document, spec):
    assert document["rai:dataSocialImpact"] == spec.datasheet["uses"]["risks"]


def test_sensitive_information_names_demographics(document, spec):
    items = document["rai:personalSensitiveInformation"]
    demographics = [item for item in items if item.startswith("Demographic fields")]
    assert items[0] == spec.datasheet["composition"]["sensitive_data"]
    assert len(demographics) == 1
    for field in spec.demographic_fields:
        assert field.name in demographics[0]


def test_collection_quotes_how_collected(document, spec):
    text = document["rai:dataCollection"]
    assert text.startswith(" ".join(spec.datasheet["collection_process"]["how_collected"].split()))
    assert "Timeframe: The 1994 census database." in text


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("rai:dataAnnotationProtocol", id="no_annotators"),
        pytest.param("rai:annotatorDemographics", id="no_annotator_demographics"),
        pytest.param("rai:dataReleaseMaintenancePlan", id="no_maintenance_answers"),
        pytest.param("rai:dataCollectionTimeframe", id="timeframe_not_iso"),
    ],
)
def test_rai_property_without_facts_omitted(document, key):
    assert key not in document


def test_iso_timeframe_is_published(adult_release, spec):
    answers = {**spec.datasheet, "collection_process": {"timeframe": "1994/1995"}}
    manifest, measurements = read_release(adult_release)
    document = build_croissant(
        dataclasses.replace(spec, datasheet=answers), adult_release, manifest, measurements
    )
    assert document["rai:dataCollectionTimeframe"] == ["1994/1995"]
    assert "rai:dataCollection" not in document


def test_maintenance_answers_fill_plan(adult_release, spec):
    maintenance = {"maintainer": "The curators.", "withdrawals": "Removed in the next release."}
    answers = {**spec.datasheet, "maintenance": maintenance}
    manifest, measurements = read_release(adult_release)
    document = build_croissant(
        dataclasses.replace(spec, datasheet=answers), adult_release, manifest, measurements
    )
    assert document["rai:dataReleaseMaintenancePlan"] == (
        "Maintainer: The curators. Withdrawals: Removed in the next release."
    )


def test_annotators_fill_annotation_properties(adult_release, spec):
    manifest, measurements = read_release(adult_release)
    measurements["crowdwork_summary"] = pl.DataFrame(
        {
            "measure": [
                "annotators_annotator",
                "annotators_per_label:face_box",
                "annotators_qa",
                "share_disclosing_demographics",
            ],
            "value": [3.0, 2.0, 1.0, 0.5],
        }
    )
    document = build_croissant(spec, adult_release, manifest, measurements)
    protocol = document["rai:dataAnnotationProtocol"]
    assert "3 annotators, 1 QA reviewer" in protocol
    assert "Distinct annotators per label: face_box 2." in protocol
    assert document["rai:annotatorDemographics"] == [
        "50% of the 4 annotators and QA reviewers disclosed their demographics. The release "
        "publishes only this share, not the demographics themselves."
    ]


# Parquet types beyond the Adult columns, and input guards


def typed_table(with_struct: bool) -> pa.Table:
    columns = {
        "record_id": pa.array(["a", "b"]),
        "captured_on": pa.array([datetime.date(2024, 1, 2), None], pa.date32()),
        "captured_at": pa.array([datetime.datetime(2024, 1, 2, 3, 4, 5), None], pa.timestamp("us")),
        "pronoun": pa.array([["She/her/hers", "They/them/their"], []], pa.list_(pa.string())),
        "weight": pa.array([1.5, None], pa.float32()),
        "is_primary": pa.array([True, False]),
        "scene": pa.array(["indoor", "outdoor"]).dictionary_encode(),
    }
    if with_struct:
        columns["box"] = pa.array(
            [{"x": 1, "y": 2}, None], pa.struct([("x", pa.int64()), ("y", pa.int64())])
        )
    return pa.table(columns)


@pytest.mark.parametrize(
    ("column", "data_type", "is_array"),
    [
        pytest.param("captured_on", "sc:Date", None, id="date"),
        pytest.param("captured_at", "sc:DateTime", None, id="timestamp"),
        pytest.param("pronoun", "sc:Text", True, id="list_of_strings"),
        pytest.param("weight", "sc:Float", None, id="float32"),
        pytest.param("is_primary", "sc:Boolean", None, id="boolean"),
        pytest.param("scene", "sc:Text", None, id="dictionary_string"),
        pytest.param("box", "sc:Text", None, id="struct"),
    ],
)
def test_parquet_type_maps_to_croissant(tmp_path, spec, column, data_type, is_array):
    manifest = write_small_release(tmp_path, typed_table(with_struct=True))
    document = build_croissant(spec, tmp_path, manifest, {})
    field = field_by_name(record_set_by_id(document, "records"), column)
    assert field["dataType"] == data_type
    assert field.get("isArray") == is_array


def test_struct_column_is_described(tmp_path, spec):
    manifest = write_small_release(tmp_path, typed_table(with_struct=True))
    document = build_croissant(spec, tmp_path, manifest, {})
    field = field_by_name(record_set_by_id(document, "records"), "box")
    assert "Parquet type `struct<x: int64, y: int64>`" in field["description"]


@pytest.mark.usefixtures("without_network")
def test_list_column_loads_as_list(tmp_path, spec):
    manifest = write_small_release(tmp_path, typed_table(with_struct=False))
    document = build_croissant(spec, tmp_path, manifest, {})
    dataset = mlc.Dataset(jsonld=str(write_croissant(document, tmp_path)))
    first = next(iter(dataset.records("records")))
    assert dataset.metadata.ctx.issues.errors == set()
    assert first["records/pronoun"] == [b"She/her/hers", b"They/them/their"]
    assert first["records/captured_on"] == datetime.datetime(2024, 1, 2)


def test_missing_folder_is_rejected(tmp_path, spec):
    manifest = {"version": "1.0.0", "published_at": "2026-01-29T12:00:00+00:00", "files": []}
    with pytest.raises(CroissantError, match="release folder .* not found"):
        build_croissant(spec, tmp_path / "absent", manifest, {})


@pytest.mark.parametrize("key", ["version", "published_at", "files"])
def test_manifest_without_key_is_rejected(tmp_path, spec, key):
    manifest = write_small_release(tmp_path, typed_table(with_struct=False))
    del manifest[key]
    with pytest.raises(CroissantError, match=f"has no `{key}`"):
        build_croissant(spec, tmp_path, manifest, {})


def test_path_outside_folder_is_rejected(tmp_path, spec):
    release = tmp_path / "release"
    manifest = write_small_release(release, typed_table(with_struct=False))
    pq.write_table(typed_table(with_struct=False), tmp_path / "outside.parquet")
    manifest["files"].append({"path": "../outside.parquet", "bytes": 1, "sha256": "0" * 64})
    with pytest.raises(CroissantError, match="`../outside.parquet`, which is outside the release"):
        build_croissant(spec, release, manifest, {})


def test_listed_file_missing_is_rejected(tmp_path, spec):
    manifest = write_small_release(tmp_path, typed_table(with_struct=False))
    manifest["files"].append({"path": "data/images.parquet", "bytes": 1, "sha256": "0" * 64})
    with pytest.raises(CroissantError, match=r"data/images\.parquet not found"):
        build_croissant(spec, tmp_path, manifest, {})


def test_manifest_without_parquet_is_rejected(tmp_path, spec):
    (tmp_path / "datasheet.md").write_text("# Datasheet\n", encoding="utf-8")
    manifest = {
        "version": "1.0.0",
        "published_at": "2026-01-29T12:00:00+00:00",
        "files": describe_files(tmp_path),
    }
    with pytest.raises(CroissantError, match="lists no Parquet file"):
        build_croissant(spec, tmp_path, manifest, {})


def test_invalid_validation_file_is_rejected(tmp_path, spec):
    manifest = write_small_release(tmp_path, typed_table(with_struct=False))
    (tmp_path / "validation").mkdir()
    (tmp_path / "validation" / "coverage.json").write_text("{}", encoding="utf-8")
    manifest["files"] = describe_files(tmp_path)
    with pytest.raises(CroissantError, match=r"coverage\.json is not a GX validation result"):
        build_croissant(spec, tmp_path, manifest, {})


def test_measurement_without_column_is_rejected(adult_release, spec):
    manifest, measurements = read_release(adult_release)
    measurements["missingness"] = measurements["missingness"].drop("share_missing")
    with pytest.raises(CroissantError, match="`missingness` has no column `share_missing`"):
        build_croissant(spec, adult_release, manifest, measurements)
