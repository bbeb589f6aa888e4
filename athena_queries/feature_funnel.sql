-- Funnel of each feature over the period: view -> use -> complete, with step conversion and the median
-- time between steps.
--
-- A user enters the funnel of a feature with their first view in the period; they reach "used" with
-- their first use at or after that view, and "completed" with their first completion at or after that use.
-- Returns one row per feature viewed in the period:
--   feature (varchar)
--   viewed, used, completed (bigint)       users at each step
--   dismissed (bigint)                     viewers who dismissed the feature at or after their first view
--   view_to_use_rate (double)              used / viewed
--   use_to_complete_rate (double)          completed / used (NULL when nobody used it)
--   view_to_complete_rate (double)         completed / viewed
--   median_seconds_view_to_use (double)    exact median over users (NULL when nobody used it)
--   median_seconds_use_to_complete (double)
--
-- Parameters:
--   :start_date, :end_date  the period, 'YYYY-MM-DD', inclusive
-- Reads the partitions dt BETWEEN :start_date AND :end_date. Events deduplicated on event_id.
WITH deduplicated AS (
    SELECT user_key, feature, stage, event_time
    FROM (
        SELECT
            coalesce(user_id, anonymous_id) AS user_key,
            feature,
            stage,
            "timestamp" AS event_time,
            row_number() OVER (PARTITION BY event_id ORDER BY received_at) AS copy_number
        FROM events
        WHERE dt BETWEEN :start_date AND :end_date
    ) AS numbered
    WHERE copy_number = 1 AND feature IS NOT NULL AND user_key IS NOT NULL
),

first_views AS (
    SELECT feature, user_key, min(event_time) AS viewed_at
    FROM deduplicated
    WHERE stage = 'view'
    GROUP BY feature, user_key
),

first_uses AS (
    SELECT v.feature, v.user_key, min(e.event_time) AS used_at
    FROM first_views AS v
    INNER JOIN deduplicated AS e
        ON e.feature = v.feature AND e.user_key = v.user_key AND e.stage = 'use' AND e.event_time >= v.viewed_at
    GROUP BY v.feature, v.user_key
),

first_completions AS (
    SELECT u.feature, u.user_key, min(e.event_time) AS completed_at
    FROM first_uses AS u
    INNER JOIN deduplicated AS e
        ON e.feature = u.feature AND e.user_key = u.user_key AND e.stage = 'complete' AND e.event_time >= u.used_at
    GROUP BY u.feature, u.user_key
),

dismissals AS (
    SELECT DISTINCT v.feature, v.user_key
    FROM first_views AS v
    INNER JOIN deduplicated AS e
        ON e.feature = v.feature AND e.user_key = v.user_key AND e.stage = 'dismiss' AND e.event_time >= v.viewed_at
),

journeys AS (
    SELECT
        v.feature,
        v.user_key,
        v.viewed_at,
        u.used_at,
        c.completed_at,
        d.user_key AS dismissed_user
    FROM first_views AS v
    LEFT JOIN first_uses AS u ON u.feature = v.feature AND u.user_key = v.user_key
    LEFT JOIN first_completions AS c ON c.feature = v.feature AND c.user_key = v.user_key
    LEFT JOIN dismissals AS d ON d.feature = v.feature AND d.user_key = v.user_key
),

step_times AS (
    SELECT feature, 'view_to_use' AS step, date_diff('millisecond', viewed_at, used_at) AS step_ms
    FROM journeys
    WHERE used_at IS NOT NULL
    UNION ALL
    SELECT feature, 'use_to_complete' AS step, date_diff('millisecond', used_at, completed_at) AS step_ms
    FROM journeys
    WHERE completed_at IS NOT NULL
),

ranked_step_times AS (
    SELECT
        feature,
        step,
        step_ms,
        row_number() OVER (PARTITION BY feature, step ORDER BY step_ms) AS position,
        count(*) OVER (PARTITION BY feature, step) AS step_count
    FROM step_times
),

-- Exact median without division on integers (which differs between engines): the middle row when the
-- count is odd, the mean of the two middle rows when it is even.
medians AS (
    SELECT feature, step, avg(CAST(step_ms AS DOUBLE)) / 1000e0 AS median_seconds
    FROM ranked_step_times
    WHERE 2 * position BETWEEN step_count AND step_count + 2
    GROUP BY feature, step
),

counts AS (
    SELECT
        feature,
        count(*) AS viewed,
        count(used_at) AS used,
        count(completed_at) AS completed,
        count(dismissed_user) AS dismissed
    FROM journeys
    GROUP BY feature
)

SELECT
    c.feature,
    c.viewed,
    c.used,
    c.completed,
    c.dismissed,
    CAST(c.used AS DOUBLE) / c.viewed AS view_to_use_rate,
    CAST(c.completed AS DOUBLE) / nullif(c.used, 0) AS use_to_complete_rate,
    CAST(c.completed AS DOUBLE) / c.viewed AS view_to_complete_rate,
    vu.median_seconds AS median_seconds_view_to_use,
    uc.median_seconds AS median_seconds_use_to_complete
FROM counts AS c
LEFT JOIN medians AS vu ON vu.feature = c.feature AND vu.step = 'view_to_use'
LEFT JOIN medians AS uc ON uc.feature = c.feature AND uc.step = 'use_to_complete'
ORDER BY c.viewed DESC, c.feature
