-- crowdwork_summary: one row per measure of the annotation process, for the datasheet's
-- crowdwork section and the process gate.
with

workers as (
    select
        annotator_id,
        role,
        has_disclosed_demographics
    from annotators
),

labels as (
    select
        attribute,
        annotator_id,
        qa_annotator_id
    from annotations
),

per_role as (
    select
        'annotators_' || role as measure,
        count(*)::double as value
    from workers
    group by role
),

disclosure as (
    select
        'share_disclosing_demographics' as measure,
        avg(case when has_disclosed_demographics then 1.0 else 0.0 end) as value
    from workers
),

per_label as (
    select
        'annotators_per_label:' || attribute as measure,
        count(distinct annotator_id)::double as value
    from labels
    group by attribute
)

select measure, value from per_role
union all
select measure, value from disclosure
union all
select measure, value from per_label
order by measure
