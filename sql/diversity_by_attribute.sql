-- diversity_by_attribute: one row per demographic attribute with its diversity indices.
-- k is the number of declared categories; p_i the share of category i among known values.
-- js_divergence_from_target compares the shares with the spec's target_shares q_i, scaled to
-- sum to 1: JSD = (KL(p || m) + KL(q || m)) / 2 with m = (p + q) / 2, in bits, so 0 means the
-- same distribution and 1 disjoint ones. It is null unless every category has a target.
with

category_shares as (
    select
        attribute,
        count_members,
        count_known,
        share,
        target_share
    from coverage_by_attribute
),

target_totals as (
    select
        attribute,
        count(*) as count_declared,
        count(target_share) as count_targets,
        sum(target_share) as sum_targets
    from category_shares
    group by attribute
),

divergence_terms as (
    select
        category_shares.attribute,
        coalesce(category_shares.share, 0.0) as p,
        category_shares.target_share / nullif(target_totals.sum_targets, 0) as q
    from category_shares
    inner join target_totals
        on category_shares.attribute = target_totals.attribute
    where target_totals.count_targets = target_totals.count_declared
        and category_shares.count_known > 0
),

divergences as (
    select
        attribute,
        sum(
            case when p > 0 then p / 2 * log2(p / ((p + q) / 2)) else 0.0 end
            + case when q > 0 then q / 2 * log2(q / ((p + q) / 2)) else 0.0 end
        ) as js_divergence_from_target
    from divergence_terms
    where q is not null
    group by attribute
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
    exp(shannon_entropy) as effective_number_of_groups,
    divergences.js_divergence_from_target
from per_attribute
left join divergences using (attribute)
order by attribute
