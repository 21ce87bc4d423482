-- associations: one row per pair of a demographic attribute and a label or context field.
-- Each pair is measured over the records of the next release where both values are known. Its
-- contingency table has count_categories rows (r, the attribute's categories present) and
-- count_values columns (k, the field's values present).
-- Pairs are left out when either field has more than $max_association_categories distinct known
-- values (free integers such as age), or when one field is derived from the other, because
-- such an association is true by construction. $derived_fields lists every derived field as a
-- struct (field, derived_from).
-- is_sensitive marks the pairs the spec lists under measurement.sensitive_pairs.
-- NOTE: values arrive as text, so a multi-select field is measured per combination of choices.
with

declared_fields as (
    select
        field,
        role,
        position
    from spec_fields
),

derivations as (
    select
        unnest(
            cast($derived_fields as struct(field varchar, derived_from varchar)[]),
            recursive := true
        )
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

distinct_values_per_field as (
    select
        field,
        count(distinct value) as count_distinct_values
    from known_values
    group by field
),

measurable_fields as (
    select
        declared_fields.field,
        declared_fields.role,
        declared_fields.position
    from declared_fields
    left join distinct_values_per_field
        on declared_fields.field = distinct_values_per_field.field
    where coalesce(distinct_values_per_field.count_distinct_values, 0)
        <= $max_association_categories
),

field_pairs as (
    select
        attributes.field as attribute,
        others.field,
        others.role as field_role,
        attributes.position as attribute_position,
        others.position as field_position
    from measurable_fields as attributes
    inner join measurable_fields as others
        on attributes.role = 'demographic'
        and others.role in ('label', 'context')
    where not exists (
        select 1
        from derivations
        where (derivations.field = attributes.field and derivations.derived_from = others.field)
            or (derivations.field = others.field and derivations.derived_from = attributes.field)
    )
),

paired_values as (
    select
        field_pairs.attribute,
        field_pairs.field,
        attribute_rows.value as category,
        field_rows.value
    from field_pairs
    inner join known_values as attribute_rows
        on field_pairs.attribute = attribute_rows.field
    inner join known_values as field_rows
        on field_pairs.field = field_rows.field
        and attribute_rows.record_id = field_rows.record_id
        and attribute_rows.batch_id = field_rows.batch_id
),

cell_counts as (
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
    from cell_counts
    group by attribute, field, category
),

value_counts as (
    select
        attribute,
        field,
        value,
        sum(count_cell) as count_value
    from cell_counts
    group by attribute, field, value
),

pair_counts as (
    select
        attribute,
        field,
        sum(count_cell) as count_records
    from cell_counts
    group by attribute, field
),

cells_with_margins as (
    select
        cell_counts.attribute,
        cell_counts.field,
        cast(cell_counts.count_cell as double) as count_cell,
        cast(category_counts.count_category as double) as count_category,
        cast(value_counts.count_value as double) as count_value,
        cast(pair_counts.count_records as double) as count_records
    from cell_counts
    inner join category_counts
        on cell_counts.attribute = category_counts.attribute
        and cell_counts.field = category_counts.field
        and cell_counts.category = category_counts.category
    inner join value_counts
        on cell_counts.attribute = value_counts.attribute
        and cell_counts.field = value_counts.field
        and cell_counts.value = value_counts.value
    inner join pair_counts
        on cell_counts.attribute = pair_counts.attribute
        and cell_counts.field = pair_counts.field
),

-- chi-square = n * (sum of O^2 / (row total * column total) - 1), which needs only the non-empty
-- cells. Mutual information is in nats: sum of p(a, f) * ln(p(a, f) / (p(a) * p(f))).
sums_over_cells as (
    select
        attribute,
        field,
        sum(count_cell * count_cell / (count_category * count_value)) as sum_observed_ratio,
        sum(
            count_cell / count_records
            * ln(count_cell * count_records / (count_category * count_value))
        ) as mutual_information
    from cells_with_margins
    group by attribute, field
),

category_entropy as (
    select
        category_counts.attribute,
        category_counts.field,
        count(*) as count_categories,
        -1 * sum(
            category_counts.count_category / pair_counts.count_records
            * ln(category_counts.count_category / pair_counts.count_records)
        ) as entropy
    from category_counts
    inner join pair_counts
        on category_counts.attribute = pair_counts.attribute
        and category_counts.field = pair_counts.field
    group by category_counts.attribute, category_counts.field
),

value_entropy as (
    select
        value_counts.attribute,
        value_counts.field,
        count(*) as count_values,
        -1 * sum(
            value_counts.count_value / pair_counts.count_records
            * ln(value_counts.count_value / pair_counts.count_records)
        ) as entropy
    from value_counts
    inner join pair_counts
        on value_counts.attribute = pair_counts.attribute
        and value_counts.field = pair_counts.field
    group by value_counts.attribute, value_counts.field
),

per_pair as (
    select
        field_pairs.attribute,
        field_pairs.field,
        field_pairs.field_role,
        field_pairs.attribute_position,
        field_pairs.field_position,
        coalesce(pair_counts.count_records, 0) as count_records,
        coalesce(category_entropy.count_categories, 0) as count_categories,
        coalesce(value_entropy.count_values, 0) as count_values,
        -- Clamped at 0 because rounding can leave a tiny negative value for independent fields.
        -- A case rather than greatest(), which would turn the null of a pair without records to 0.
        case
            when sums_over_cells.sum_observed_ratio < 1 then 0.0
            else pair_counts.count_records * (sums_over_cells.sum_observed_ratio - 1)
        end as chi_square,
        case
            when sums_over_cells.mutual_information < 0 then 0.0
            else sums_over_cells.mutual_information
        end as mutual_information,
        category_entropy.entropy as category_entropy,
        value_entropy.entropy as value_entropy
    from field_pairs
    left join pair_counts
        on field_pairs.attribute = pair_counts.attribute
        and field_pairs.field = pair_counts.field
    left join sums_over_cells
        on field_pairs.attribute = sums_over_cells.attribute
        and field_pairs.field = sums_over_cells.field
    left join category_entropy
        on field_pairs.attribute = category_entropy.attribute
        and field_pairs.field = category_entropy.field
    left join value_entropy
        on field_pairs.attribute = value_entropy.attribute
        and field_pairs.field = value_entropy.field
),

-- Bergsma's (2013) bias correction of Cramér's V, with r and k the table's rows and columns:
-- phi2 = chi2 / n, phi2_corrected = max(0, phi2 - (k - 1)(r - 1) / (n - 1)),
-- r_corrected = r - (r - 1)^2 / (n - 1), k_corrected = k - (k - 1)^2 / (n - 1).
corrected_terms as (
    select
        *,
        greatest(
            0.0,
            chi_square / count_records
            - (count_values - 1) * (count_categories - 1) / (count_records - 1)
        ) as phi_square_corrected,
        least(
            count_categories - power(count_categories - 1, 2) / (count_records - 1),
            count_values - power(count_values - 1, 2) / (count_records - 1)
        ) - 1 as smaller_dimension_corrected
    from per_pair
    where count_records > 1
)

select
    per_pair.attribute,
    per_pair.field,
    per_pair.field_role,
    per_pair.count_records,
    per_pair.count_categories,
    per_pair.count_values,
    case
        when per_pair.count_records > 0
            then (per_pair.count_categories - 1) * (per_pair.count_values - 1)
    end as degrees_of_freedom,
    -- Rounded to 12 decimals: DuckDB adds the cells in parallel, in no fixed order, and the
    -- last digits would otherwise differ between identical runs.
    round(per_pair.chi_square, 12) as chi_square,
    -- Null where V is undefined: a table with one row or one column, or fewer than 2 records.
    round(
        sqrt(
            corrected_terms.phi_square_corrected
            / nullif(greatest(corrected_terms.smaller_dimension_corrected, 0.0), 0.0)
        ),
        12
    ) as cramers_v_corrected,
    round(per_pair.mutual_information, 12) as mutual_information,
    -- Normalised by the arithmetic mean of the two entropies (natural logs), so 0 means
    -- independent and 1 means each field determines the other. Null when both entropies are 0.
    round(
        per_pair.mutual_information
        / nullif((per_pair.category_entropy + per_pair.value_entropy) / 2, 0.0),
        12
    ) as normalised_mutual_information,
    spec_sensitive_pairs.attribute is not null as is_sensitive
from per_pair
left join corrected_terms
    on per_pair.attribute = corrected_terms.attribute
    and per_pair.field = corrected_terms.field
left join spec_sensitive_pairs
    on per_pair.attribute = spec_sensitive_pairs.attribute
    and per_pair.field = spec_sensitive_pairs.field
order by per_pair.attribute_position, per_pair.field_position
