-- release_exclusions: one row per record kept out of the next release, with the first reason.
-- Reasons: superseded (a later batch of the same source file replaced the record's batch),
-- withdrawn (the person withdrew consent), withdrawn_co_subject (another person in the same
-- image withdrew), exact_duplicate (the image's bytes equal an earlier image's).
-- record_keys gives image_id and subject_id, which are null for a table of people.
with

superseded_batches as (
    select replaces_batch_id as batch_id
    from batches
    where replaces_batch_id is not null
),

current_records as (
    select
        record_id,
        batch_id,
        image_id,
        subject_id
    from record_keys
    where batch_id not in (select batch_id from superseded_batches)
),

ordered_events as (
    select
        subject_id,
        event,
        row_number() over (
            partition by subject_id
            order by coalesce(signed_on, cast(recorded_at as date)) desc, recorded_at desc
        ) as recency
    from consent_events
),

withdrawn_subjects as (
    select subject_id
    from ordered_events
    where recency = 1 and event = 'withdrawn'
),

withdrawn_images as (
    select distinct current_records.image_id
    from current_records
    inner join withdrawn_subjects
        on current_records.subject_id = withdrawn_subjects.subject_id
),

ranked_images as (
    select
        image_id,
        row_number() over (partition by sha256 order by image_id) as copy_number
    from images
    where batch_id not in (select batch_id from superseded_batches)
),

duplicate_images as (
    select image_id
    from ranked_images
    where copy_number > 1
),

reasons as (
    select
        record_keys.record_id,
        record_keys.batch_id,
        record_keys.image_id,
        record_keys.subject_id,
        case
            when record_keys.batch_id in (select batch_id from superseded_batches)
                then 'superseded'
            when record_keys.subject_id in (select subject_id from withdrawn_subjects)
                then 'withdrawn'
            when record_keys.image_id in (select image_id from withdrawn_images)
                then 'withdrawn_co_subject'
            when record_keys.image_id in (select image_id from duplicate_images)
                then 'exact_duplicate'
        end as reason
    from record_keys
)

select
    record_id,
    batch_id,
    image_id,
    subject_id,
    reason
from reasons
where reason is not null
order by batch_id, record_id
