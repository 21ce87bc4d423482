-- annotator_pay: one row per annotator or QA reviewer with their pay against the local
-- minimum wage of their country, from the spec's table.
with

workers as (
    select
        annotator_id,
        role,
        country,
        pay_per_hour,
        currency
    from annotators
),

joined as (
    select
        workers.annotator_id,
        workers.role,
        workers.country,
        workers.pay_per_hour,
        workers.currency,
        spec_minimum_wage.amount as minimum_wage,
        spec_minimum_wage.currency as minimum_wage_currency
    from workers
    left join spec_minimum_wage
        on workers.country = spec_minimum_wage.country
)

select
    annotator_id,
    role,
    country,
    pay_per_hour,
    currency,
    minimum_wage,
    minimum_wage_currency,
    case
        when currency = minimum_wage_currency then pay_per_hour / nullif(minimum_wage, 0)
    end as pay_ratio,
    coalesce(
        currency = minimum_wage_currency and pay_per_hour >= minimum_wage * $min_pay_ratio,
        false
    ) as is_paid_enough,
    case
        when pay_per_hour is null then 'pay not recorded'
        when minimum_wage is null then 'no minimum wage in the spec for ' || coalesce(country, 'an unknown country')
        when currency <> minimum_wage_currency
            then 'pay in ' || currency || ' but the minimum wage is in ' || minimum_wage_currency
        when pay_per_hour < minimum_wage * $min_pay_ratio then 'below the pay floor'
        else 'at or above the pay floor'
    end as pay_check
from joined
order by annotator_id
