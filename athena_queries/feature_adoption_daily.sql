-- Feature adoption per day: adopters of each feature over the active persons of the day.
--
-- Returns one row per day and feature that has at least one event that day:
--   day (date), feature (varchar)
--   active_persons (bigint)   persons with any event that day (whole product)
--   feature_viewers (bigint)  persons who viewed the feature that day (stage 'view')
--   adopters (bigint)         persons who used or completed the feature that day (stage 'use' or 'complete')
--   adoption_rate (double)    adopters / active_persons
-- Persons come from the base view person_events (de-duplicated, identity-resolved; docs/metrics.md).
--
-- Parameters:
--   :start_date, :end_date  the period, 'YYYY-MM-DD', inclusive
-- Reads person_events with :scan_start_date = :start_date (the partitions of the period).
WITH scoped AS (
    SELECT person_id, feature, stage, day
    FROM person_events
    WHERE dt BETWEEN :start_date AND :end_date
),

active AS (
    SELECT day, count(DISTINCT person_id) AS active_persons
    FROM scoped
    GROUP BY day
),

feature_days AS (
    SELECT
        day,
        feature,
        count(DISTINCT CASE WHEN stage = 'view' THEN person_id END) AS feature_viewers,
        count(DISTINCT CASE WHEN stage IN ('use', 'complete') THEN person_id END) AS adopters
    FROM scoped
    WHERE feature IS NOT NULL
    GROUP BY day, feature
)

SELECT
    f.day,
    f.feature,
    a.active_persons,
    f.feature_viewers,
    f.adopters,
    CAST(f.adopters AS DOUBLE) / nullif(a.active_persons, 0) AS adoption_rate
FROM feature_days AS f
INNER JOIN active AS a ON a.day = f.day
ORDER BY f.day, f.feature
