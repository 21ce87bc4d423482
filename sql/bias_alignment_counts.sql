-- bias_alignment_counts: one row per bias-aligned cell of every pair the spec marks sensitive.
-- A cell is a group of the attribute with a value of the field. It is bias-aligned when its
-- lift is above 1 and the lower end of its 95% Wilson interval lies above the value's overall
-- share, so the interval of the lift excludes 1. The group's records with an aligned value are
-- bias-aligned; its records with any other known value of the field are bias-conflicting, so
-- count_conflicting is the same on every aligned cell of one group.
with

sensitive_pairs as (
    select
        attribute,
        field
    from spec_sensitive_pairs
),

cells as (
    select
        attribute,
        category,
        field,
        value,
        count_cell,
        count_category,
        share_in_category,
        share_in_category_lower,
        share_in_category_upper,
        share_overall,
        lift
    from association_cells
),

aligned_cells as (
    select cells.*
    from cells
    inner join sensitive_pairs
        on cells.attribute = sensitive_pairs.attribute
        and cells.field = sensitive_pairs.field
    where cells.lift > 1
        and cells.share_in_category_lower > cells.share_overall
),

group_totals as (
    select
        attribute,
        category,
        field,
        count_category - sum(count_cell) as count_conflicting
    from aligned_cells
    group by attribute, category, field, count_category
)

select
    aligned_cells.attribute,
    aligned_cells.category,
    aligned_cells.field,
    value as aligned_value,
    count_cell as count_aligned,
    group_totals.count_conflicting,
    count_category,
    group_totals.count_conflicting / count_category as share_conflicting,
    share_in_category,
    share_in_category_lower,
    share_in_category_upper,
    share_overall,
    lift
from aligned_cells
inner join group_totals
    on aligned_cells.attribute = group_totals.attribute
    and aligned_cells.category = group_totals.category
    and aligned_cells.field = group_totals.field
order by aligned_cells.attribute, aligned_cells.field, aligned_cells.category, aligned_value
