-- balancing_weights: one row per non-empty cell of every pair in association_cells, with the
-- weight per record that gives each non-empty cell of a pair the same total weight:
-- weight = count_records / (count_nonempty_cells * count_cell). Each cell's weights then sum
-- to count_records / count_nonempty_cells, and all weights of a pair sum to count_records.
-- A model builder picks one pair and gives each record the weight of its cell. Records where
-- either value of that pair is unknown have no cell here and need a weight of their own.
with

nonempty_cells as (
    select
        attribute,
        category,
        field,
        value,
        count_cell,
        count_records
    from association_cells
    where count_cell > 0
),

cells_per_pair as (
    select
        attribute,
        field,
        count(*) as count_nonempty_cells
    from nonempty_cells
    group by attribute, field
)

select
    nonempty_cells.attribute,
    nonempty_cells.category,
    nonempty_cells.field,
    nonempty_cells.value,
    nonempty_cells.count_cell,
    nonempty_cells.count_records,
    cells_per_pair.count_nonempty_cells,
    nonempty_cells.count_records
    / (cells_per_pair.count_nonempty_cells * nonempty_cells.count_cell) as weight
from nonempty_cells
inner join cells_per_pair
    on nonempty_cells.attribute = cells_per_pair.attribute
    and nonempty_cells.field = cells_per_pair.field
order by
    nonempty_cells.attribute,
    nonempty_cells.field,
    nonempty_cells.category,
    nonempty_cells.value
