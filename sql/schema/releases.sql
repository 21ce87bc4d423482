-- One row per published release.
create table if not exists releases (
    version varchar primary key,
    collection varchar not null,
    parent_version varchar,
    spec_sha256 varchar not null,
    gate_run_id varchar not null,
    gate_outcome varchar not null,
    count_records bigint not null,
    content_sha256 varchar not null,
    path varchar not null,
    published_at timestamptz not null,
    schema_signature varchar not null,
    bump varchar
);
