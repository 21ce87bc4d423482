-- consent_status: one row per person in an image that the next release would contain, with
-- whether their latest consent grant covers the release.
with

candidates as (
    select
        record_id,
        image_id,
        subject_id,
        is_primary,
        age_at_capture
    from candidate_people
),

ranked_grants as (
    select
        subject_id,
        scopes,
        country_of_residence,
        row_number() over (
            partition by subject_id
            order by signed_on desc nulls last, recorded_at desc
        ) as recency
    from consent_events
    where event = 'granted'
),

latest_grants as (
    select
        subject_id,
        scopes,
        country_of_residence
    from ranked_grants
    where recency = 1
),

withdrawals as (
    select distinct subject_id
    from consent_events
    where event = 'withdrawn'
),

collection_events as (
    select count(*) as count_consent_events
    from consent_events
),

joined as (
    select
        candidates.record_id,
        candidates.image_id,
        candidates.subject_id,
        candidates.is_primary,
        candidates.age_at_capture,
        latest_grants.subject_id is not null as has_consent,
        coalesce(list_has_all(latest_grants.scopes, $required_scopes), false) as covers_scopes,
        latest_grants.country_of_residence,
        coalesce(spec_age_of_majority.age_of_majority, $default_age_of_majority)
            as age_of_majority,
        withdrawals.subject_id is not null as has_withdrawal_event
    from candidates
    left join latest_grants
        on candidates.subject_id = latest_grants.subject_id
    left join spec_age_of_majority
        on latest_grants.country_of_residence = spec_age_of_majority.country
    left join withdrawals
        on candidates.subject_id = withdrawals.subject_id
)

select
    joined.record_id,
    joined.image_id,
    joined.subject_id,
    joined.is_primary,
    joined.has_consent,
    joined.covers_scopes,
    joined.country_of_residence,
    joined.age_at_capture,
    joined.age_of_majority,
    coalesce(joined.age_at_capture >= joined.age_of_majority, false) as is_adult_at_capture,
    joined.has_withdrawal_event,
    collection_events.count_consent_events
from joined
cross join collection_events
order by joined.image_id, joined.subject_id
