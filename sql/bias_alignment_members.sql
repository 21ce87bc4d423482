-- bias_alignment_members: one row per record and bias-aligned cell of its group, for the cells
-- in bias_alignment_counts. alignment is `aligned` when the record has the cell's value and
-- `conflicting` when it has another known value. Records whose attribute or field is unknown
-- belong to no cell. A group with two aligned values puts each of its records in two rows.
with

aligned_cells as (
    select
        attribute,
        category,
        field,
        aligned_value
    from bias_alignment_counts
),

known_values as (
    select
        record_id,
        batch_id,
        field,
        value
    from field_values
    where value is not null
),

members as (
    select
        attribute_rows.batch_id,
        attribute_rows.record_id,
        aligned_cells.attribute,
        aligned_cells.category,
        aligned_cells.field,
        aligned_cells.aligned_value,
        field_rows.value
    from aligned_cells
    inner join known_values as attribute_rows
        on aligned_cells.attribute = attribute_rows.field
        and aligned_cells.category = attribute_rows.value
    inner join known_values as field_rows
        on aligned_cells.field = field_rows.field
        and attribute_rows.batch_id = field_rows.batch_id
        and attribute_rows.record_id = field_rows.record_id
)

select
    batch_id,
    record_id,
    attribute,
    category,
    field,
    aligned_value,
    value,
    case when value = aligned_value then 'aligned' else 'conflicting' end as alignment
from members
order by attribute, field, category, aligned_value, batch_id, record_id
