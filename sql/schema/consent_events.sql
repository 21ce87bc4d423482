-- Append-only consent history: grants with their form, scopes and jurisdiction, and withdrawals.
create table if not exists consent_events (
    subject_id varchar not null,
    event varchar not null,
    form_version varchar,
    scopes varchar[],
    signed_on date,
    jurisdiction varchar,
    country_of_residence varchar,
    source varchar not null,
    recorded_at timestamptz not null
);
