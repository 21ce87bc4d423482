-- One row per image of a collection of photos, with the results of its media checks.
create table if not exists images (
    image_id varchar not null,
    batch_id varchar not null,
    primary_subject_id varchar,
    path varchar not null,
    sha256 varchar not null,
    width bigint,
    height bigint,
    image_format varchar,
    dhash varchar,
    camera_make varchar,
    camera_model varchar,
    lens_model varchar,
    has_gps boolean not null,
    identifying_exif_tags varchar[] not null
);
