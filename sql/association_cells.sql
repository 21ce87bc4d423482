-- association_cells: one row per cell of every pair in associations. A cell is a category
-- (group) of the demographic attribute and a value of the label or context field. Cells cover
-- every category and value present among the records where both are known, so empty cells
-- appear with count 0. share_in_category is P(value | category) with its Wilson score interval
-- ($z = 1.959964 gives 95%), share_overall is P(value) over the pair's records, and lift is
-- their ratio.
with

measured_pairs as (
    select
        attribute,
        field
    from associations
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

paired_values as (
    select
        measured_pairs.attribute,
        measured_pairs.field,
        attribute_rows.value as category,
        field_rows.value
    from measured_pairs
    inner join known_values as attribute_rows
        on measured_pairs.attribute = attribute_rows.field
    inner join known_values as field_rows
        on measured_pairs.field = field_rows.field
        and attribute_rows.record_id = field_rows.record_id
        and attribute_rows.batch_id = field_rows.batch_id
),

observed_cells as (
    select
        attribute,
        field,
        category,
        value,
        count(*) as count_cell
    from paired_values
    group by attribute, field, category, value
),

category_counts as (
    select
        attribute,
        field,
        category,
        sum(count_cell) as count_category
    from observed_cells
    group by attribute, field, category
),

value_counts as (
    select
        attribute,
        field,
        value,
        sum(count_cell) as count_value
    from observed_cells
    group by attribute, field, value
),

pair_counts as (
    select
        attribute,
        field,
        sum(count_cell) as count_records
    from observed_cells
    group by attribute, field
),

all_cells as (
    select
        category_counts.attribute,
        category_counts.field,
        category_counts.category,
        value_counts.value,
        coalesce(observed_cells.count_cell, 0) as count_cell,
        category_counts.count_category,
        value_counts.count_value,
        pair_counts.count_records
    from category_counts
    inner join value_counts
        on category_counts.attribute = value_counts.attribute
        and category_counts.field = value_counts.field
    inner join pair_counts
        on category_counts.attribute = pair_counts.attribute
        and category_counts.field = pair_counts.field
    left join observed_cells
        on category_counts.attribute = observed_cells.attribute
        and category_counts.field = observed_cells.field
        and category_counts.category = observed_cells.category
        and value_counts.value = observed_cells.value
),

shares as (
    select
        *,
        count_cell / count_category as share_in_category,
        count_value / count_records as share_overall
    from all_cells
),

-- Wilson score interval for p = count_cell / m with m = count_category:
-- (p + z^2 / 2m +- z * sqrt(p (1 - p) / m + z^2 / 4m^2)) / (1 + z^2 / m).
wilson_terms as (
    select
        *,
        (share_in_category + $z * $z / (2 * count_category))
        / (1 + $z * $z / count_category) as wilson_centre,
        $z
        * sqrt(
            share_in_category * (1 - share_in_category) / count_category
            + $z * $z / (4 * count_category * count_category)
        )
        / (1 + $z * $z / count_category) as wilson_half_width
    from shares
),

intervals as (
    select
        *,
        share_in_category / share_overall as lift,
        -- Clamped to [0, 1] because rounding can put a bound slightly outside it at p = 0 or 1.
        greatest(0.0, wilson_centre - wilson_half_width) as share_in_category_lower,
        least(1.0, wilson_centre + wilson_half_width) as share_in_category_upper
    from wilson_terms
),

-- Ranked by |log lift| taken at the end of the lift's 95% interval nearest to 1 (0 when the
-- interval contains 1). A small cell thus ranks by the lift its few records can support rather
-- than by its noisy point estimate, and an empty cell, whose log lift is -infinity, still ranks.
-- The interval treats share_overall as exact, which is close when the pair has many records.
conservative_lifts as (
    select
        *,
        case
            when share_in_category_lower > share_overall
                then ln(share_in_category_lower / share_overall)
            when share_in_category_upper < share_overall
                then ln(share_in_category_upper / share_overall)
            else 0.0
        end as log_lift_conservative
    from intervals
)

select
    attribute,
    category,
    field,
    value,
    count_cell,
    count_category,
    count_value,
    count_records,
    share_in_category,
    share_overall,
    lift,
    share_in_category_lower,
    share_in_category_upper,
    log_lift_conservative,
    row_number() over (
        order by abs(log_lift_conservative) desc, count_cell desc, attribute, field, category, value
    ) as association_rank
from conservative_lifts
order by association_rank
