-- One row per evaluation of the gates; outcome is passed, warned or blocked.
create table if not exists gate_runs (
    gate_run_id varchar primary key,
    collection varchar not null,
    spec_sha256 varchar not null,
    count_records bigint not null,
    outcome varchar not null,
    count_blocking_failures integer not null,
    count_warnings integer not null,
    evaluated_at timestamptz not null
);
