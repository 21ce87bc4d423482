-- subject_profiles: one row per demographic attribute or intersection and per distinct profile,
-- with the number of subjects that have it. A subject's profile lists how many of its records
-- fall in each group (category or intersection cell) among its known values, so a person with
-- three photos in the same group has [{group, 3}], and one with no known value has [].
-- Records without a subject id are people of their own. The bootstrap resamples subjects by
-- drawing profile counts, which keeps every subject's records together. A subject with one
-- record has the profile of its value alone, so those are counted per value without building
-- a list for each subject: a table of people, with one record each, stays cheap to profile.
with

subject_keys as (
    select
        batch_id,
        record_id,
        coalesce(subject_id, batch_id || '/' || record_id) as subject_key,
        count(*) over (partition by coalesce(subject_id, batch_id || '/' || record_id))
            as count_subject_records
    from record_keys
),

attribute_rows as (
    select
        batch_id,
        record_id,
        attribute as measure,
        value
    from attribute_values
),

intersection_rows as (
    select
        attribute_values.batch_id,
        attribute_values.record_id,
        spec_intersections.intersection as measure,
        -- Null unless every attribute of the intersection is known, as in coverage_by_intersection.
        case
            when count(attribute_values.value) = count(*)
                then string_agg(attribute_values.value, ' × ' order by spec_intersections.position)
        end as value
    from spec_intersections
    inner join attribute_values
        on spec_intersections.attribute = attribute_values.attribute
    group by attribute_values.batch_id, attribute_values.record_id, spec_intersections.intersection
),

measured_rows as (
    select 'attribute' as measure_kind, * from attribute_rows
    union all
    select 'intersection' as measure_kind, * from intersection_rows
),

single_record_profiles as (
    select
        measured_rows.measure_kind,
        measured_rows.measure,
        case
            when measured_rows.value is null then []
            else [{'group_name': measured_rows.value, 'count_records': 1}]
        end as profile,
        count(*) as count_subjects
    from measured_rows
    inner join subject_keys
        on measured_rows.batch_id = subject_keys.batch_id
        and measured_rows.record_id = subject_keys.record_id
    where subject_keys.count_subject_records = 1
    group by measured_rows.measure_kind, measured_rows.measure, measured_rows.value
),

counts_per_subject as (
    select
        measured_rows.measure_kind,
        measured_rows.measure,
        subject_keys.subject_key,
        measured_rows.value,
        count(*) as count_records
    from measured_rows
    inner join subject_keys
        on measured_rows.batch_id = subject_keys.batch_id
        and measured_rows.record_id = subject_keys.record_id
    where subject_keys.count_subject_records > 1
    group by all
),

profiles as (
    select
        measure_kind,
        measure,
        subject_key,
        coalesce(
            list({'group_name': value, 'count_records': count_records} order by value)
                filter (where value is not null),
            []
        ) as profile
    from counts_per_subject
    group by measure_kind, measure, subject_key
),

multi_record_profiles as (
    select
        measure_kind,
        measure,
        profile,
        count(*) as count_subjects
    from profiles
    group by measure_kind, measure, profile
),

all_profiles as (
    select * from single_record_profiles
    union all
    select * from multi_record_profiles
)

select
    measure_kind,
    measure,
    profile,
    sum(count_subjects) as count_subjects
from all_profiles
group by measure_kind, measure, profile
order by measure_kind, measure, count_subjects desc, cast(profile as varchar)
