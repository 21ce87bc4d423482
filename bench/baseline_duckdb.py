"""The DuckDB baseline: the loading and measurements a user would write by hand in one script.

It reads every appearance file of a tabular collection, checks and normalises the values as
the spec declares, keeps failing rows in a quarantine table and builds coverage per attribute
and per intersection, diversity indices and missingness. It computes fewer tables than the
pipeline's measure stage, which also builds associations, balancing weights and coverage by
stage.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from bench.composition import Composition

DEMOGRAPHIC_COLUMNS = ("age_group", "pronoun_group", "ancestry_region", "natural_skin_color")
INTERSECTIONS = (("pronoun_group", "age_group"), ("natural_skin_color", "ancestry_region"))
NAMED_PRONOUNS = ["She/her/hers", "He/him/his", "They/them/their", "Ze/zir/zirs"]

RAW_SQL = "create table raw as select * from read_csv(?, header = true, all_varchar = true)"

CHECKED_SQL = """
create table checked as
select
    trim(record_id) as record_id,
    trim(subject_id) as subject_id,
    trim(image_id) as image_id,
    trim(is_primary) = 'true' as is_primary,
    try_cast(trim(age) as bigint) as age,
    nullif(trim(pronoun), '') as pronoun,
    nullif(trim(ancestry), '') as ancestry,
    nullif(trim(natural_skin_color), '') as natural_skin_color,
    coalesce(aliases.country, nullif(trim(location_country), '')) as location_country,
    nullif(trim(user_hour_captured), '') as user_hour_captured,
    count(*) over (partition by trim(record_id)) as count_same_id
from raw
left join aliases on aliases.spelling = trim(raw.location_country)
"""

QUARANTINE_SQL = """
create table quarantine as
select * from checked
where age is null or pronoun is null or not (
    age between ? and 130
    and pronoun in (select unnest(?::varchar[]))
    and (ancestry is null or ancestry in (select region from regions))
    and (natural_skin_color is null or natural_skin_color in (select unnest(?::varchar[])))
    and (location_country is null or location_country in (select unnest(?::varchar[])))
    and (user_hour_captured is null or user_hour_captured in (select unnest(?::varchar[])))
    and count_same_id = 1
)
"""

RECORDS_SQL = """
create table records as
select
    checked.* exclude (count_same_id),
    age_bins.label as age_group,
    case when pronoun in (select unnest(?::varchar[])) then pronoun end as pronoun_group,
    regions.continent as ancestry_region
from checked
left join age_bins on checked.age between age_bins.low and age_bins.high
left join regions on regions.region = checked.ancestry
anti join quarantine using (record_id)
"""


def run_baseline(database: Path, files: list[Path], composition: Composition) -> dict[str, int]:
    """Load the files into `database`, build the measurement tables and return row counts."""
    with duckdb.connect(str(database)) as connection:
        connection.execute("set memory_limit = '1GB'")
        _create_lookup_tables(connection, composition)
        connection.execute(RAW_SQL, [[str(path) for path in files]])
        connection.execute(CHECKED_SQL)
        connection.execute(
            QUARANTINE_SQL,
            [
                min(low for low, _ in composition.age_ranges),
                list(composition.pronouns.values),
                list(composition.skin_colors.values),
                [country.name for country in composition.countries],
                list(composition.hour_windows.values),
            ],
        )
        connection.execute(RECORDS_SQL, [NAMED_PRONOUNS])
        _measure(connection)
        counts = {
            table: connection.execute(f"select count(*) from {table}").fetchall()[0][0]
            for table in ("raw", "records", "quarantine", "coverage_by_attribute",
                          "coverage_by_intersection", "diversity_by_attribute", "missingness")
        }  # fmt: skip
    return counts


def _create_lookup_tables(connection: duckdb.DuckDBPyConnection, composition: Composition) -> None:
    connection.execute("create table aliases (spelling varchar, country varchar)")
    connection.executemany(
        "insert into aliases values (?, ?)",
        [(s, c.name) for c in composition.countries for s in c.misspellings],
    )
    connection.execute("create table regions (region varchar, continent varchar)")
    connection.executemany(
        "insert into regions values (?, ?)",
        [(r, continent) for continent, rs in composition.ancestry_groups.items() for r in rs],
    )
    connection.execute("create table age_bins (label varchar, low bigint, high bigint)")
    bins = list(zip(composition.age_bins.values, composition.age_ranges, strict=True))
    connection.executemany(
        "insert into age_bins values (?, ?, ?)",
        [(label, low, 10_000 if i == len(bins) - 1 else high)
         for i, (label, (low, high)) in enumerate(bins)],
    )  # fmt: skip


def _measure(connection: duckdb.DuckDBPyConnection) -> None:
    per_attribute = " union all ".join(
        f"select '{column}' as attribute, {column} as category, count(*) as count_records "
        f"from records where {column} is not null group by {column}"
        for column in DEMOGRAPHIC_COLUMNS
    )
    connection.execute(
        f"create table coverage_by_attribute as select *, count_records / "
        f"sum(count_records) over (partition by attribute) as share from ({per_attribute})"
    )
    per_cell = " union all ".join(
        f"select '{a} x {b}' as intersection, {a} || ' | ' || {b} as cell, count(*) as "
        f"count_records from records group by {a}, {b}"
        for a, b in INTERSECTIONS
    )
    connection.execute(f"create table coverage_by_intersection as {per_cell}")
    connection.execute(
        """
        create table diversity_by_attribute as
        select
            attribute,
            count(*) as richness,
            -sum(share * ln(share)) as shannon_entropy,
            sum(share * share) as simpson_index,
            1 / sum(share * share) as inverse_simpson,
            exp(-sum(share * ln(share))) as effective_groups,
            case when count(*) > 1 then -sum(share * ln(share)) / ln(count(*)) end as evenness
        from coverage_by_attribute
        group by attribute
        """
    )
    columns = ("age", "pronoun", "ancestry", "natural_skin_color", "location_country",
               "user_hour_captured")  # fmt: skip
    missing = " union all ".join(
        f"select '{column}' as field, count(*) - count({column}) as count_missing, "
        f"(count(*) - count({column})) / count(*) as share_missing from records"
        for column in columns
    )
    connection.execute(f"create table missingness as {missing}")
