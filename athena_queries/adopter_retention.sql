-- Retention of feature adopters: of the users who used a feature on a cohort day, how many came back
-- 1, 7 and 30 days later (D1, D7, D30).
--
-- Cohort: the users who used the feature (stage 'use' or 'complete') on cohort_day. Rows are produced
-- for the cohorts whose measured day (cohort_day + horizon) falls in the period, so every figure is final.
-- Returns one row per feature, horizon and cohort day (cohorts without adopters have no row):
--   feature (varchar), horizon_days (integer: 1, 7 or 30), cohort_day (date)
--   cohort_users (bigint)        adopters of the feature on cohort_day
--   retained_users (bigint)      of them, users with any event on cohort_day + horizon_days
--   returning_adopters (bigint)  of them, users who used the feature again on cohort_day + horizon_days
--   retention_rate (double)      retained_users / cohort_users
--   feature_retention_rate (double) returning_adopters / cohort_users
--
-- Parameters:
--   :start_date, :end_date  the period (the measured days), 'YYYY-MM-DD', inclusive
--   :lookback_start_date    :start_date minus 30 days (the D30 cohort of the first measured day)
-- Reads the partitions dt BETWEEN :lookback_start_date AND :end_date. Events deduplicated on event_id.
WITH deduplicated AS (
    SELECT user_key, feature, stage, dt
    FROM (
        SELECT
            coalesce(user_id, anonymous_id) AS user_key,
            feature,
            stage,
            dt,
            row_number() OVER (PARTITION BY event_id ORDER BY received_at) AS copy_number
        FROM events
        WHERE dt BETWEEN :lookback_start_date AND :end_date
    ) AS numbered
    WHERE copy_number = 1 AND user_key IS NOT NULL
),

adoptions AS (
    SELECT DISTINCT feature, user_key, CAST(dt AS DATE) AS adoption_day
    FROM deduplicated
    WHERE feature IS NOT NULL AND stage IN ('use', 'complete')
),

activity AS (
    SELECT DISTINCT user_key, CAST(dt AS DATE) AS activity_day
    FROM deduplicated
),

horizons AS (
    SELECT horizon_days
    FROM (VALUES 1, 7, 30) AS h (horizon_days)
),

cohorts AS (
    SELECT a.feature, h.horizon_days, a.adoption_day AS cohort_day, a.user_key
    FROM adoptions AS a
    CROSS JOIN horizons AS h
    WHERE
        date_diff('day', a.adoption_day, CAST(:start_date AS DATE)) <= h.horizon_days
        AND date_diff('day', a.adoption_day, CAST(:end_date AS DATE)) >= h.horizon_days
),

outcomes AS (
    SELECT
        c.feature,
        c.horizon_days,
        c.cohort_day,
        c.user_key,
        max(CASE WHEN act.user_key IS NOT NULL THEN 1 ELSE 0 END) AS retained,
        max(CASE WHEN again.user_key IS NOT NULL THEN 1 ELSE 0 END) AS returned
    FROM cohorts AS c
    LEFT JOIN activity AS act
        ON act.user_key = c.user_key AND date_diff('day', c.cohort_day, act.activity_day) = c.horizon_days
    LEFT JOIN adoptions AS again
        ON
            again.user_key = c.user_key
            AND again.feature = c.feature
            AND date_diff('day', c.cohort_day, again.adoption_day) = c.horizon_days
    GROUP BY c.feature, c.horizon_days, c.cohort_day, c.user_key
)

SELECT
    feature,
    horizon_days,
    cohort_day,
    count(*) AS cohort_users,
    sum(retained) AS retained_users,
    sum(returned) AS returning_adopters,
    CAST(sum(retained) AS DOUBLE) / count(*) AS retention_rate,
    CAST(sum(returned) AS DOUBLE) / count(*) AS feature_retention_rate
FROM outcomes
GROUP BY feature, horizon_days, cohort_day
ORDER BY feature, horizon_days, cohort_day
