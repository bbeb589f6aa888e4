-- Headline numbers of one period (the report runs it for the period and for the previous one).
--
-- Returns exactly one row (zeros on a period without events):
--   events (bigint)            events after deduplication
--   active_users (bigint)      distinct users with any event
--   feature_viewers (bigint)   distinct users who viewed a feature (stage 'view')
--   adopters (bigint)          distinct users who used a feature (stage 'use' or 'complete')
--   completers (bigint)        distinct users who completed a feature (stage 'complete')
--   adoption_rate (double)     adopters / active_users (NULL without active users)
--   completion_rate (double)   completers / adopters (NULL without adopters)
--
-- Parameters:
--   :start_date, :end_date     the period, 'YYYY-MM-DD', inclusive
-- Reads the partitions dt BETWEEN :start_date AND :end_date. Events deduplicated on event_id.
WITH deduplicated AS (
    SELECT user_key, feature, stage
    FROM (
        SELECT
            coalesce(user_id, anonymous_id) AS user_key,
            feature,
            stage,
            row_number() OVER (PARTITION BY event_id ORDER BY received_at) AS copy_number
        FROM events
        WHERE dt BETWEEN :start_date AND :end_date
    ) AS numbered
    WHERE copy_number = 1
),

totals AS (
    SELECT
        count(*) AS events,
        count(DISTINCT user_key) AS active_users,
        count(DISTINCT CASE WHEN feature IS NOT NULL AND stage = 'view' THEN user_key END) AS feature_viewers,
        count(DISTINCT CASE WHEN feature IS NOT NULL AND stage IN ('use', 'complete') THEN user_key END)
            AS adopters,
        count(DISTINCT CASE WHEN feature IS NOT NULL AND stage = 'complete' THEN user_key END) AS completers
    FROM deduplicated
)

SELECT
    events,
    active_users,
    feature_viewers,
    adopters,
    completers,
    CAST(adopters AS DOUBLE) / nullif(active_users, 0) AS adoption_rate,
    CAST(completers AS DOUBLE) / nullif(adopters, 0) AS completion_rate
FROM totals
