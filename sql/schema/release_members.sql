-- One row per record per release: which records each release contains.
create table if not exists release_members (
    version varchar not null,
    batch_id varchar not null,
    record_id varchar not null
);
