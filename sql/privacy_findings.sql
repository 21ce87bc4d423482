-- privacy_findings: one row per free-text column named in the spec's privacy policy and kind
-- of personal data, with the number of released rows whose text matches it.
with

patterns as (
    select * from (values
        ('email_address', '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}'),
        ('phone_number', '(\+|\b)\d[\d ().-]{7,}\d\b'),
        ('exact_date', '\b(19|20)\d\d-\d\d-\d\d\b|\b\d{1,2}/\d{1,2}/(19|20)\d\d\b'),
        ('street_address',
            '\b\d{1,5} +[A-Z][a-z]+( [A-Z][a-z]+)* (Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|Blvd|Drive|Dr)\b'),
        ('person_name', '\b(Mr|Mrs|Ms|Miss|Dr|Prof)\.? [A-Z][a-z]+|\b[Mm]y name is [A-Z][a-z]+')
    ) as kinds (kind, pattern)
),

scanned_columns as (
    select field
    from spec_privacy_columns
),

texts as (
    select
        field_values.field,
        field_values.value
    from field_values
    inner join scanned_columns
        on field_values.field = scanned_columns.field
    where field_values.value is not null
),

matches as (
    select
        texts.field,
        patterns.kind,
        count(*) as count_rows
    from texts
    inner join patterns
        on regexp_matches(texts.value, patterns.pattern)
    group by texts.field, patterns.kind
)

select
    scanned_columns.field,
    patterns.kind,
    coalesce(matches.count_rows, 0) as count_rows
from scanned_columns
cross join patterns
left join matches
    on scanned_columns.field = matches.field
    and patterns.kind = matches.kind
order by scanned_columns.field, patterns.kind
