-- coverage_by_stage: the share of every category of every demographic attribute after each
-- filter, so the datasheet can show how each one shifted the mix.
-- Stages: read (every row read, with the values a quarantined row would have had where they
-- could be read), loaded (every current record that passed the quarantine checks), after_duplicates
-- (exact duplicate images removed), released (withdrawals removed as well). Records of a
-- replaced batch are left out of every stage.
with

excluded as (
    select
        batch_id || ':' || record_id as record_key,
        reason
    from release_exclusions
),

all_values as (
    select
        batch_id || ':' || record_id as record_key,
        attribute,
        value
    from all_attribute_values
    where value is not null
        and batch_id || ':' || record_id not in (
            select record_key from excluded where reason = 'superseded'
        )
),

current_batches as (
    select batch_id
    from batches
    where batch_id not in (
        select replaces_batch_id from batches where replaces_batch_id is not null
    )
),

quarantined_values as (
    select
        spec_fields.field as attribute,
        json_extract_string(quarantine.demographic_values, '$.' || spec_fields.field) as value
    from quarantine
    cross join spec_fields
    where spec_fields.role = 'demographic'
        and quarantine.demographic_values is not null
        and quarantine.batch_id in (select batch_id from current_batches)
),

staged as (
    select 'read' as stage, 0 as stage_position, attribute, value
    from all_values

    union all

    select 'read' as stage, 0 as stage_position, attribute, value
    from quarantined_values
    where value is not null

    union all

    select 'loaded' as stage, 1 as stage_position, attribute, value
    from all_values

    union all

    select 'after_duplicates' as stage, 2 as stage_position, attribute, value
    from all_values
    where record_key not in (select record_key from excluded where reason = 'exact_duplicate')

    union all

    select 'released' as stage, 3 as stage_position, attribute, value
    from all_values
    where record_key not in (select record_key from excluded)
),

counted as (
    select
        stage,
        stage_position,
        attribute,
        value as category,
        count(*) as count_members
    from staged
    group by stage, stage_position, attribute, value
)

select
    stage,
    stage_position,
    attribute,
    category,
    count_members,
    count_members / sum(count_members) over (partition by stage, attribute) as share
from counted
order by attribute, category, stage_position
