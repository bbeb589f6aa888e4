-- Retention of feature adopters: of the persons who adopted a feature on a cohort day, how many came back
-- 1, 7 and 30 days later (D1, D7, D30).
--
-- Cohort: the persons who adopted the feature (stage 'use' or 'complete') on cohort_day. Rows are produced
-- for the cohorts whose measured day (cohort_day + horizon) falls in the period, so every figure is final.
-- Persons come from the base view person_events (de-duplicated, identity-resolved; docs/metrics.md): a
-- visitor who adopted anonymously and came back signed in is retained.
-- Returns one row per feature, horizon and cohort day (cohorts without adopters have no row):
--   feature (varchar), horizon_days (integer: 1, 7 or 30), cohort_day (date)
--   cohort_adopters (bigint)        adopters of the feature on cohort_day
--   retained_adopters (bigint)      of them, persons with any event on cohort_day + horizon_days
--   returning_adopters (bigint)     of them, persons who adopted the feature again on cohort_day + horizon_days
--   retention_rate (double)         retained_adopters / cohort_adopters
--   feature_retention_rate (double) returning_adopters / cohort_adopters
--
-- Parameters:
--   :start_date, :end_date  the period (the measured days), 'YYYY-MM-DD', inclusive
--   :lookback_start_date    :start_date minus 30 days (the D30 cohort of the first measured day)
-- Reads person_events with :scan_start_date = :lookback_start_date.
WITH scoped AS (
    SELECT person_id, feature, stage, day
    FROM person_events
    WHERE person_id IS NOT NULL AND dt BETWEEN :lookback_start_date AND :end_date
),

adoptions AS (
    SELECT DISTINCT feature, person_id, day AS adoption_day
    FROM scoped
    WHERE feature IS NOT NULL AND stage IN ('use', 'complete')
),

activity AS (
    SELECT DISTINCT person_id, day AS activity_day
    FROM scoped
),

horizons AS (
    SELECT horizon_days
    FROM (VALUES 1, 7, 30) AS h (horizon_days)
),

cohorts AS (
    SELECT a.feature, h.horizon_days, a.adoption_day AS cohort_day, a.person_id
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
        c.person_id,
        max(CASE WHEN act.person_id IS NOT NULL THEN 1 ELSE 0 END) AS retained,
        max(CASE WHEN again.person_id IS NOT NULL THEN 1 ELSE 0 END) AS returned
    FROM cohorts AS c
    LEFT JOIN activity AS act
        ON act.person_id = c.person_id AND date_diff('day', c.cohort_day, act.activity_day) = c.horizon_days
    LEFT JOIN adoptions AS again
        ON
            again.person_id = c.person_id
            AND again.feature = c.feature
            AND date_diff('day', c.cohort_day, again.adoption_day) = c.horizon_days
    GROUP BY c.feature, c.horizon_days, c.cohort_day, c.person_id
)

SELECT
    feature,
    horizon_days,
    cohort_day,
    count(*) AS cohort_adopters,
    sum(retained) AS retained_adopters,
    sum(returned) AS returning_adopters,
    CAST(sum(retained) AS DOUBLE) / count(*) AS retention_rate,
    CAST(sum(returned) AS DOUBLE) / count(*) AS feature_retention_rate
FROM outcomes
GROUP BY feature, horizon_days, cohort_day
ORDER BY feature, horizon_days, cohort_day
