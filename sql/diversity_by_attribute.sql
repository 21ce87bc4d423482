-- diversity_by_attribute: one row per demographic attribute with its diversity indices.
-- k is the number of declared categories; p_i the share of category i among known values.
with

category_shares as (
    select
        attribute,
        count_members,
        count_known,
        share
    from coverage_by_attribute
),

per_attribute as (
    select
        attribute,
        any_value(count_known) as count_known,
        count(*) as count_declared,
        count(*) filter (where count_members > 0) as richness,
        -1 * sum(share * ln(share)) filter (where count_members > 0) as shannon_entropy,
        sum(share * share) as simpson_index
    from category_shares
    group by attribute
)

select
    attribute,
    count_known,
    count_declared,
    richness,
    richness / count_declared as coverage_of_categories,
    shannon_entropy,
    case when count_declared > 1 then shannon_entropy / ln(count_declared) end as evenness,
    simpson_index,
    1 / nullif(simpson_index, 0) as inverse_simpson,
    case
        when count_declared > 1 then (1 / nullif(simpson_index, 0) - 1) / (count_declared - 1)
    end as inverse_simpson_rescaled,
    exp(shannon_entropy) as effective_number_of_groups
from per_attribute
order by attribute
