-- One row per label an annotator drew on a person in an image.
create table if not exists annotations (
    batch_id varchar not null,
    image_id varchar not null,
    subject_id varchar,
    attribute varchar not null,
    value varchar,
    annotator_id varchar,
    qa_annotator_id varchar,
    supplied_by varchar not null
);
