-- One row per rejected source row, with every reason it failed and the line as written.
-- source_line is null for a rejected whole file, such as a malformed JSON annotation file.
-- demographic_values is a JSON object of the demographic values the row would have had.
create table if not exists quarantine (
    batch_id varchar not null,
    source_file varchar not null,
    source_line bigint,
    reason_codes varchar[] not null,
    reasons varchar[] not null,
    raw_record varchar,
    demographic_values varchar,
    quarantined_at timestamptz not null
);
