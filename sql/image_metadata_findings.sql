-- image_metadata_findings: one row counting the released images whose source files carried
-- GPS or other identifying EXIF tags; released copies have them removed.
with

released_images as (
    select
        has_gps,
        identifying_exif_tags
    from images
    where (batch_id, image_id) in (select (batch_id, image_id) from release_candidates)
)

select
    count(*) as count_images,
    count(*) filter (where has_gps) as count_with_gps,
    count(*) filter (where len(identifying_exif_tags) > 0) as count_with_identifying_tags
from released_images
