-- annotator_agreement: one row per annotated attribute with declared categories, measuring
-- how far annotators agree on the same person in the same image with Krippendorff's alpha for
-- nominal values. A unit is one (image, person, attribute); only units with at least two
-- labels are pairable. With n_uc the labels of value c in unit u, m_u the labels in u,
-- n = sum of m_u and n_c = sum over u of n_uc, the coincidence matrix has diagonal
-- o_cc = sum over u of n_uc (n_uc - 1) / (m_u - 1), and
-- alpha = 1 - (n - 1) * (n - sum of o_cc) / (n^2 - sum of n_c^2).
-- Every label counts, so an annotator who labelled a unit twice counts twice.
-- Annotation values are JSON text, so a string label is unquoted, and a FHIBE-style number
-- prefix such as `5. ` is removed, as ingest does for the records' values.
-- NOTE: the spec's aliases are not applied to annotation values.
with

categorical_attributes as (
    select distinct attribute
    from spec_categories
),

released_units as (
    select distinct
        record_keys.batch_id,
        record_keys.image_id,
        record_keys.subject_id
    from record_keys
    inner join release_candidates
        on record_keys.batch_id = release_candidates.batch_id
        and record_keys.record_id = release_candidates.record_id
),

labels as (
    select
        annotations.attribute,
        annotations.batch_id,
        annotations.image_id,
        annotations.subject_id,
        annotations.annotator_id,
        regexp_replace(
            case
                when annotations.value like '"%"'
                    then json_extract_string(annotations.value, '$')
                else annotations.value
            end,
            '^[0-9]+\. ',
            ''
        ) as value
    from annotations
    inner join released_units
        on annotations.batch_id = released_units.batch_id
        and annotations.image_id = released_units.image_id
        and annotations.subject_id = released_units.subject_id
    where annotations.value is not null
        and annotations.attribute in (select attribute from categorical_attributes)
),

unit_sizes as (
    select
        attribute,
        batch_id,
        image_id,
        subject_id,
        count(*) as count_labels
    from labels
    group by attribute, batch_id, image_id, subject_id
    having count(*) >= 2
),

unit_values as (
    select
        labels.attribute,
        labels.batch_id,
        labels.image_id,
        labels.subject_id,
        labels.value,
        count(*) as count_value,
        any_value(unit_sizes.count_labels) as count_labels
    from labels
    inner join unit_sizes
        on labels.attribute = unit_sizes.attribute
        and labels.batch_id = unit_sizes.batch_id
        and labels.image_id = unit_sizes.image_id
        and labels.subject_id = unit_sizes.subject_id
    group by labels.attribute, labels.batch_id, labels.image_id, labels.subject_id, labels.value
),

value_totals as (
    select
        attribute,
        value,
        sum(count_value) as count_value
    from unit_values
    group by attribute, value
),

per_attribute as (
    select
        unit_values.attribute,
        count(distinct (unit_values.batch_id, unit_values.image_id, unit_values.subject_id))
            as count_units,
        sum(unit_values.count_value) as count_labels,
        sum(
            unit_values.count_value * (unit_values.count_value - 1)
            / (unit_values.count_labels - 1)
        ) as coincidence_diagonal
    from unit_values
    group by unit_values.attribute
),

squared_totals as (
    select
        attribute,
        sum(count_value * count_value) as sum_squared_values
    from value_totals
    group by attribute
)

select
    per_attribute.attribute,
    per_attribute.count_units,
    per_attribute.count_labels,
    -- Undefined when every label has the same value, because no disagreement is possible.
    1 - (per_attribute.count_labels - 1)
    * (per_attribute.count_labels - per_attribute.coincidence_diagonal)
    / nullif(
        per_attribute.count_labels * per_attribute.count_labels
        - squared_totals.sum_squared_values,
        0
    ) as krippendorffs_alpha
from per_attribute
inner join squared_totals
    on per_attribute.attribute = squared_totals.attribute
order by per_attribute.attribute
