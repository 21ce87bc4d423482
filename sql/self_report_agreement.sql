-- self_report_agreement: one row per self-reported categorical field that annotators also
-- labelled, comparing the two on the same person in the same image with Cohen's kappa:
-- kappa = (p_o - p_e) / (1 - p_e), where p_o is the share of pairs that agree and p_e the
-- agreement expected by chance, sum over c of P(self = c) * P(annotator = c).
-- A person labelled by several annotators gives one pair per label. Only records of the next
-- release count, and pairs where either value is missing are left out.
-- Annotation values are JSON text, so a string label is unquoted, and a FHIBE-style number
-- prefix such as `5. ` is removed, as ingest does for the records' values.
-- NOTE: the spec's aliases are not applied to annotation values.
with

self_reported_fields as (
    select spec_fields.field
    from spec_fields
    where spec_fields.supplied_by = 'self-reported'
        and spec_fields.field in (select attribute from spec_categories)
),

released_people as (
    select
        record_keys.batch_id,
        record_keys.record_id,
        record_keys.image_id,
        record_keys.subject_id
    from record_keys
    inner join release_candidates
        on record_keys.batch_id = release_candidates.batch_id
        and record_keys.record_id = release_candidates.record_id
),

self_values as (
    select
        released_people.batch_id,
        released_people.image_id,
        released_people.subject_id,
        field_values.field,
        field_values.value
    from field_values
    inner join released_people
        on field_values.batch_id = released_people.batch_id
        and field_values.record_id = released_people.record_id
    where field_values.field in (select field from self_reported_fields)
        and field_values.value is not null
),

annotation_labels as (
    select
        batch_id,
        image_id,
        subject_id,
        attribute,
        regexp_replace(
            case when value like '"%"' then json_extract_string(value, '$') else value end,
            '^[0-9]+\. ',
            ''
        ) as value
    from annotations
    where value is not null
),

pairs as (
    select
        self_values.field,
        self_values.value as self_value,
        annotation_labels.value as annotator_value
    from self_values
    inner join annotation_labels
        on self_values.batch_id = annotation_labels.batch_id
        and self_values.image_id = annotation_labels.image_id
        and self_values.subject_id = annotation_labels.subject_id
        and self_values.field = annotation_labels.attribute
),

pair_counts as (
    select
        field,
        count(*) as count_pairs,
        count(*) filter (where self_value = annotator_value) as count_agreeing
    from pairs
    group by field
),

self_margins as (
    select
        field,
        self_value as value,
        count(*) as count_self
    from pairs
    group by field, self_value
),

annotator_margins as (
    select
        field,
        annotator_value as value,
        count(*) as count_annotator
    from pairs
    group by field, annotator_value
),

chance_agreement as (
    select
        self_margins.field,
        sum(
            self_margins.count_self * annotator_margins.count_annotator
            / (pair_counts.count_pairs * pair_counts.count_pairs)
        ) as expected_agreement
    from self_margins
    inner join annotator_margins
        on self_margins.field = annotator_margins.field
        and self_margins.value = annotator_margins.value
    inner join pair_counts
        on self_margins.field = pair_counts.field
    group by self_margins.field
),

agreement as (
    select
        pair_counts.field,
        pair_counts.count_pairs,
        pair_counts.count_agreeing / pair_counts.count_pairs as observed_agreement,
        -- No shared value at all means chance agreement 0, not a missing row.
        coalesce(chance_agreement.expected_agreement, 0.0) as expected_agreement
    from pair_counts
    left join chance_agreement
        on pair_counts.field = chance_agreement.field
)

select
    field as attribute,
    count_pairs,
    observed_agreement,
    expected_agreement,
    -- Undefined when chance agreement is 1, which happens when both sides used the same
    -- single value.
    (observed_agreement - expected_agreement) / nullif(1 - expected_agreement, 0) as cohens_kappa
from agreement
order by attribute
