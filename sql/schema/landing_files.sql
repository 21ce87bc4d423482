-- One row per file name and content seen in the landing folder, so each is picked up once.
-- status is one of:
--   ingested: loaded as a new batch;
--   already_ingested: the same bytes were loaded before, under this or another name;
--   replaced: a later file of the same name replaced its batch;
--   rejected: the file could not be read, and error names the problem and what to do.
-- A corrected file has new content, so it gets a row of its own and is ingested.
create table if not exists landing_files (
    file_sha256 varchar not null,
    file_name varchar not null,
    size_bytes bigint not null,
    status varchar not null,
    batch_id varchar,
    error varchar,
    processed_at timestamptz not null,
    primary key (file_sha256, file_name)
);
