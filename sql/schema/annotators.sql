-- One row per annotator or QA reviewer, with optional self-reported demographics and pay.
create table if not exists annotators (
    annotator_id varchar not null,
    batch_id varchar not null,
    role varchar not null,
    age bigint,
    pronoun varchar[],
    ancestry varchar[],
    country varchar,
    pay_per_hour double,
    currency varchar,
    has_disclosed_demographics boolean not null
);
