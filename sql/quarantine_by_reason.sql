-- quarantine_by_reason: one row per source file and reason code with the rows it rejected.
-- A row that failed several checks counts once under each of its reasons.
with

reasons as (
    select
        source_file,
        unnest(reason_codes) as reason_code
    from quarantine
)

select
    source_file,
    reason_code,
    count(*) as count_rows
from reasons
group by source_file, reason_code
order by source_file, reason_code
