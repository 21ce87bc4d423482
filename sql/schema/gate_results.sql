-- One row per expectation per gate run, summarising the GX validation result.
create table if not exists gate_results (
    gate_run_id varchar not null,
    suite varchar not null,
    measurement_table varchar not null,
    expectation_type varchar not null,
    severity varchar not null,
    is_success boolean not null,
    summary varchar not null,
    kwargs_json varchar not null,
    observed_json varchar
);
