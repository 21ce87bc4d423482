-- coverage_by_attribute: one row per declared category of each demographic attribute.
-- Shares are of the records whose value is known; missing values are counted in missingness.
with

declared_categories as (
    select
        spec_categories.attribute,
        spec_categories.category,
        spec_categories.position,
        spec_categories.target_share
    from spec_categories
    inner join spec_fields
        on spec_categories.attribute = spec_fields.field
    where spec_fields.role = 'demographic'
),

attribute_rows as (
    select
        attribute,
        value
    from attribute_values
),

known_per_attribute as (
    select
        attribute,
        count(value) as count_known,
        count(*) as count_records
    from attribute_rows
    group by attribute
),

members_per_category as (
    select
        attribute,
        value as category,
        count(*) as count_members
    from attribute_rows
    where value is not null
    group by attribute, value
),

joined as (
    select
        declared_categories.attribute,
        declared_categories.category,
        declared_categories.position,
        declared_categories.target_share,
        coalesce(members_per_category.count_members, 0) as count_members,
        coalesce(known_per_attribute.count_known, 0) as count_known,
        coalesce(known_per_attribute.count_records, 0) as count_records
    from declared_categories
    left join members_per_category
        on declared_categories.attribute = members_per_category.attribute
        and declared_categories.category = members_per_category.category
    left join known_per_attribute
        on declared_categories.attribute = known_per_attribute.attribute
)

select
    attribute,
    category,
    position,
    count_members,
    count_known,
    count_records,
    count_members / nullif(count_known, 0) as share,
    target_share,
    count_members / nullif(count_known, 0) - target_share as gap,
    count_members = 0 as is_empty,
    count_members > 0 and count_members < $small_cell_size as is_small
from joined
order by attribute, position
