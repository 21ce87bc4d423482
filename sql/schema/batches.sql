-- One row per ingested batch (one source file); batch_id is the SHA-256 of the file's bytes.
-- A batch whose file name matches an earlier batch replaces it (replaces_batch_id).
create table if not exists batches (
    batch_id varchar primary key,
    collection varchar not null,
    source_file varchar not null,
    size_bytes bigint not null,
    count_rows_read bigint not null,
    count_rows_loaded bigint not null,
    count_rows_quarantined bigint not null,
    count_lines_skipped bigint not null,
    spec_sha256 varchar not null,
    ingested_at timestamptz not null,
    replaces_batch_id varchar
);
