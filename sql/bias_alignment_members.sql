-- bias_alignment_members: one row per record and sensitive pair, for the groups that have a
-- bias-aligned cell in bias_alignment_counts. alignment is `aligned` when the record's value is
-- an aligned value of its group and `conflicting` when it is another known value, so a group
-- with two aligned values still gives each record one row. Records whose attribute or field is
-- unknown belong to no group. A record in several groups of a multi-select attribute has a row
-- for each of them.
with

aligned_cells as (
    select
        attribute,
        category,
        field,
        aligned_value
    from bias_alignment_counts
),

aligned_groups as (
    select distinct
        attribute,
        category,
        field
    from aligned_cells
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
        aligned_groups.attribute,
        aligned_groups.category,
        aligned_groups.field,
        field_rows.value
    from aligned_groups
    inner join known_values as attribute_rows
        on aligned_groups.attribute = attribute_rows.field
        and aligned_groups.category = attribute_rows.value
    inner join known_values as field_rows
        on aligned_groups.field = field_rows.field
        and attribute_rows.batch_id = field_rows.batch_id
        and attribute_rows.record_id = field_rows.record_id
)

select
    members.batch_id,
    members.record_id,
    members.attribute,
    members.category,
    members.field,
    members.value,
    case when aligned_cells.aligned_value is null then 'conflicting' else 'aligned' end
        as alignment
from members
left join aligned_cells
    on members.attribute = aligned_cells.attribute
    and members.category = aligned_cells.category
    and members.field = aligned_cells.field
    and members.value = aligned_cells.aligned_value
order by members.attribute, members.field, members.category, members.batch_id, members.record_id
