-- One row per alert per channel per attempt. status is sent, suppressed (already sent on that
-- channel within the suppression window), failed (error contains the reason) or recorded (the spec
-- configures no channel, so the alert was logged and kept here with channel `none`).
-- alert_key names what the alert is about and stays the same across runs.
-- channel is the Apprise URL with passwords and tokens replaced by ***, or prefect-block://TYPE/NAME.
create table if not exists alerts (
    alert_key varchar not null,
    kind varchar not null,
    severity varchar not null,
    title varchar not null,
    body varchar not null,
    channel varchar not null,
    status varchar not null,
    error varchar,
    created_at timestamptz not null
);
