-- Feature adoption per day: feature users over active users.
--
-- Returns one row per day and feature that has at least one event that day:
--   day (date), feature (varchar),
--   active_users (bigint)   distinct users with any event that day (whole product)
--   viewers (bigint)        distinct users who viewed the feature that day (stage 'view')
--   adopters (bigint)       distinct users who used the feature that day (stage 'use' or 'complete')
--   adoption_rate (double)  adopters / active_users
--
-- Parameters:
--   :start_date, :end_date  the period, 'YYYY-MM-DD', inclusive
-- Reads the partitions dt BETWEEN :start_date AND :end_date. Events deduplicated on event_id.
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
        WHERE dt BETWEEN :start_date AND :end_date
    ) AS numbered
    WHERE copy_number = 1
),

active AS (
    SELECT dt, count(DISTINCT user_key) AS active_users
    FROM deduplicated
    GROUP BY dt
),

feature_days AS (
    SELECT
        dt,
        feature,
        count(DISTINCT CASE WHEN stage = 'view' THEN user_key END) AS viewers,
        count(DISTINCT CASE WHEN stage IN ('use', 'complete') THEN user_key END) AS adopters
    FROM deduplicated
    WHERE feature IS NOT NULL
    GROUP BY dt, feature
)

SELECT
    CAST(f.dt AS DATE) AS day,
    f.feature,
    a.active_users,
    f.viewers,
    f.adopters,
    CAST(f.adopters AS DOUBLE) / a.active_users AS adoption_rate
FROM feature_days AS f
INNER JOIN active AS a ON a.dt = f.dt
ORDER BY day, f.feature
