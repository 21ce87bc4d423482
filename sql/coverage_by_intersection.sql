-- coverage_by_intersection: one row per declared cell of each declared intersection.
-- A record counts towards an intersection only when all its attributes are known.
with

intersection_attributes as (
    select
        intersection,
        attribute,
        position
    from spec_intersections
),

member_values as (
    select
        intersection_attributes.intersection,
        intersection_attributes.position,
        attribute_values.record_id,
        attribute_values.value
    from intersection_attributes
    inner join attribute_values
        on intersection_attributes.attribute = attribute_values.attribute
),

cells_per_record as (
    select
        intersection,
        record_id,
        string_agg(value, ' × ' order by position) as cell,
        count(value) = count(*) as is_complete
    from member_values
    group by intersection, record_id
),

known_per_intersection as (
    select
        intersection,
        count(*) as count_known
    from cells_per_record
    where is_complete
    group by intersection
),

members_per_cell as (
    select
        intersection,
        cell,
        count(*) as count_members
    from cells_per_record
    where is_complete
    group by intersection, cell
),

joined as (
    select
        declared_cells.intersection,
        declared_cells.cell,
        declared_cells.position,
        coalesce(members_per_cell.count_members, 0) as count_members,
        coalesce(known_per_intersection.count_known, 0) as count_known
    from declared_cells
    left join members_per_cell
        on declared_cells.intersection = members_per_cell.intersection
        and declared_cells.cell = members_per_cell.cell
    left join known_per_intersection
        on declared_cells.intersection = known_per_intersection.intersection
)

select
    intersection,
    cell,
    position,
    count_members,
    count_known,
    count_members / nullif(count_known, 0) as share,
    count_members = 0 as is_empty,
    count_members > 0 and count_members < $small_cell_size as is_small
from joined
order by intersection, position
