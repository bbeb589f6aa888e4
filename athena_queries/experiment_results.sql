-- A/B test results per experiment and variant: exposure, conversion, uplift against control with a 95%
-- confidence interval, and the two-sided p-value of a two-proportion z-test.
--
-- Exposure: a user's first 'Experiment Viewed' event of the experiment in the period assigns the user to
-- its variation_id (later exposures to another variant are ignored). Conversion: the user completed a
-- feature (stage 'complete') at or after that exposure, in the period.
-- Control: the variant named 'control' (any case), else the smallest variation_id.
-- Returns one row per experiment and variant:
--   experiment_id, variation_id (varchar), is_control (boolean)
--   exposed, converted (bigint), conversion_rate (double)
--   uplift_abs (double)      conversion_rate - control conversion_rate (NULL on the control row)
--   uplift_rel (double)      uplift_abs / control conversion_rate (NULL when control converted nobody)
--   uplift_ci_low, uplift_ci_high (double)  95% CI of uplift_abs (unpooled standard error)
--   z_score, p_value (double)  two-proportion z-test with the pooled standard error, two-sided
--   verdict (varchar)        'control', 'not enough data', 'better than control', 'worse than control',
--                            'no significant difference' (at the 5% level)
-- "Not enough data": fewer than :min_exposed_per_variant exposed users in the variant or in control, or
-- fewer than 5 conversions or 5 non-conversions in the two arms together (the normal approximation of the
-- z-test needs both).
--
-- Parameters:
--   :start_date, :end_date     the period, 'YYYY-MM-DD', inclusive
--   :min_exposed_per_variant   integer, e.g. 100
-- Reads the partitions dt BETWEEN :start_date AND :end_date. Events deduplicated on event_id.
-- normal_cdf is Trino's; the local DuckDB adapter provides a function of the same name and meaning.
WITH deduplicated AS (
    SELECT event_id, user_key, event, stage, experiment_id, variation_id, event_time
    FROM (
        SELECT
            event_id,
            coalesce(user_id, anonymous_id) AS user_key,
            event,
            stage,
            experiment_id,
            variation_id,
            "timestamp" AS event_time,
            row_number() OVER (PARTITION BY event_id ORDER BY received_at) AS copy_number
        FROM events
        WHERE dt BETWEEN :start_date AND :end_date
    ) AS numbered
    WHERE copy_number = 1 AND user_key IS NOT NULL
),

exposures AS (
    SELECT
        experiment_id,
        variation_id,
        user_key,
        event_time AS exposed_at,
        row_number() OVER (PARTITION BY experiment_id, user_key ORDER BY event_time, event_id) AS exposure_number
    FROM deduplicated
    WHERE event = 'Experiment Viewed' AND experiment_id IS NOT NULL AND variation_id IS NOT NULL
),

conversions AS (
    SELECT
        x.experiment_id,
        x.variation_id,
        x.user_key,
        max(CASE WHEN e.user_key IS NOT NULL THEN 1 ELSE 0 END) AS converted
    FROM exposures AS x
    LEFT JOIN deduplicated AS e
        ON e.user_key = x.user_key AND e.stage = 'complete' AND e.event_time >= x.exposed_at
    WHERE x.exposure_number = 1
    GROUP BY x.experiment_id, x.variation_id, x.user_key
),

variants AS (
    SELECT experiment_id, variation_id, count(*) AS exposed, sum(converted) AS converted
    FROM conversions
    GROUP BY experiment_id, variation_id
),

controls AS (
    SELECT experiment_id, variation_id, exposed, converted
    FROM (
        SELECT
            experiment_id,
            variation_id,
            exposed,
            converted,
            row_number() OVER (
                PARTITION BY experiment_id
                ORDER BY CASE WHEN lower(variation_id) = 'control' THEN 0 ELSE 1 END, variation_id
            ) AS control_rank
        FROM variants
    ) AS ranked
    WHERE control_rank = 1
),

compared AS (
    SELECT
        v.experiment_id,
        v.variation_id,
        v.variation_id = c.variation_id AS is_control,
        v.exposed,
        v.converted,
        c.exposed AS control_exposed,
        c.converted AS control_converted,
        CAST(v.converted AS DOUBLE) / v.exposed AS conversion_rate,
        CAST(c.converted AS DOUBLE) / c.exposed AS control_rate,
        CAST(v.converted + c.converted AS DOUBLE) / (v.exposed + c.exposed) AS pooled_rate
    FROM variants AS v
    INNER JOIN controls AS c ON c.experiment_id = v.experiment_id
),

tested AS (
    SELECT
        *,
        conversion_rate - control_rate AS uplift,
        sqrt(
            conversion_rate * (1 - conversion_rate) / exposed + control_rate * (1 - control_rate) / control_exposed
        ) AS unpooled_se,
        sqrt(pooled_rate * (1 - pooled_rate) * (1e0 / exposed + 1e0 / control_exposed)) AS pooled_se,
        (
            exposed < :min_exposed_per_variant
            OR control_exposed < :min_exposed_per_variant
            OR converted + control_converted < 5
            OR (exposed + control_exposed) - (converted + control_converted) < 5
        ) AS too_small
    FROM compared
),

scored AS (
    SELECT
        *,
        CASE WHEN NOT is_control AND pooled_se > 0 THEN uplift / pooled_se END AS z_score
    FROM tested
),

with_p AS (
    SELECT
        *,
        2 * (1 - normal_cdf(0, 1, abs(z_score))) AS p_value
    FROM scored
)

SELECT
    experiment_id,
    variation_id,
    is_control,
    exposed,
    converted,
    conversion_rate,
    CASE WHEN NOT is_control THEN uplift END AS uplift_abs,
    CASE WHEN NOT is_control AND control_rate > 0 THEN uplift / control_rate END AS uplift_rel,
    CASE WHEN NOT is_control THEN uplift - 1.959963984540054e0 * unpooled_se END AS uplift_ci_low,
    CASE WHEN NOT is_control THEN uplift + 1.959963984540054e0 * unpooled_se END AS uplift_ci_high,
    z_score,
    p_value,
    CASE
        WHEN is_control THEN 'control'
        WHEN too_small OR p_value IS NULL THEN 'not enough data'
        WHEN p_value < 0.05 AND uplift > 0 THEN 'better than control'
        WHEN p_value < 0.05 AND uplift < 0 THEN 'worse than control'
        ELSE 'no significant difference'
    END AS verdict
FROM with_p
ORDER BY experiment_id, is_control DESC, variation_id
