-- missingness: one row per field of the spec with its count and share of missing values.
with

field_rows as (
    select
        field,
        value
    from field_values
),

per_field as (
    select
        field,
        count(*) as count_records,
        count(*) - count(value) as count_missing
    from field_rows
    group by field
)

select
    spec_fields.field,
    spec_fields.role,
    spec_fields.supplied_by,
    spec_fields.position,
    coalesce(per_field.count_records, 0) as count_records,
    coalesce(per_field.count_missing, 0) as count_missing,
    per_field.count_missing / nullif(per_field.count_records, 0) as share_missing
from spec_fields
left join per_field
    on spec_fields.field = per_field.field
order by spec_fields.position
