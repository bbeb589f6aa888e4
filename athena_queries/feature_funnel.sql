-- Funnel of each feature over the period: view -> use -> complete, ordered per person, with step rates and the
-- median time between steps.
--
-- A person enters the funnel of a feature with their first view in the period; they reach "used" with
-- their first use at or after that view, and "completed" with their first completion at or after that use.
-- Persons come from the base view person_events (de-duplicated, identity-resolved; docs/metrics.md), so a
-- visitor who viewed anonymously and used the feature after signing in is one journey.
-- Returns one row per feature viewed in the period:
--   feature (varchar)
--   funnel_viewed, funnel_used, funnel_completed (bigint)   persons at each step
--   funnel_dismissed (bigint)                 entrants who dismissed the feature at or after their first view
--   funnel_view_to_use_rate (double)          funnel_used / funnel_viewed
--   funnel_use_to_complete_rate (double)      funnel_completed / funnel_used (NULL when nobody used it)
--   funnel_view_to_complete_rate (double)     funnel_completed / funnel_viewed
--   funnel_median_seconds_view_to_use (double)      exact median over persons (NULL when nobody used it)
--   funnel_median_seconds_use_to_complete (double)  exact median over persons (NULL when nobody completed)
--
-- Parameters:
--   :start_date, :end_date  the period, 'YYYY-MM-DD', inclusive
-- Reads person_events with :scan_start_date = :start_date (the partitions of the period).
WITH scoped AS (
    SELECT person_id, feature, stage, event_time
    FROM person_events
    WHERE dt BETWEEN :start_date AND :end_date AND feature IS NOT NULL AND person_id IS NOT NULL
),

first_views AS (
    SELECT feature, person_id, min(event_time) AS viewed_at
    FROM scoped
    WHERE stage = 'view'
    GROUP BY feature, person_id
),

first_uses AS (
    SELECT v.feature, v.person_id, min(e.event_time) AS used_at
    FROM first_views AS v
    INNER JOIN scoped AS e
        ON e.feature = v.feature AND e.person_id = v.person_id AND e.stage = 'use' AND e.event_time >= v.viewed_at
    GROUP BY v.feature, v.person_id
),

first_completions AS (
    SELECT u.feature, u.person_id, min(e.event_time) AS completed_at
    FROM first_uses AS u
    INNER JOIN scoped AS e
        ON e.feature = u.feature AND e.person_id = u.person_id AND e.stage = 'complete' AND e.event_time >= u.used_at
    GROUP BY u.feature, u.person_id
),

dismissals AS (
    SELECT DISTINCT v.feature, v.person_id
    FROM first_views AS v
    INNER JOIN scoped AS e
        ON e.feature = v.feature AND e.person_id = v.person_id AND e.stage = 'dismiss' AND e.event_time >= v.viewed_at
),

journeys AS (
    SELECT
        v.feature,
        v.person_id,
        v.viewed_at,
        u.used_at,
        c.completed_at,
        d.person_id AS dismissed_person
    FROM first_views AS v
    LEFT JOIN first_uses AS u ON u.feature = v.feature AND u.person_id = v.person_id
    LEFT JOIN first_completions AS c ON c.feature = v.feature AND c.person_id = v.person_id
    LEFT JOIN dismissals AS d ON d.feature = v.feature AND d.person_id = v.person_id
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
        count(*) AS funnel_viewed,
        count(used_at) AS funnel_used,
        count(completed_at) AS funnel_completed,
        count(dismissed_person) AS funnel_dismissed
    FROM journeys
    GROUP BY feature
)

SELECT
    c.feature,
    c.funnel_viewed,
    c.funnel_used,
    c.funnel_completed,
    c.funnel_dismissed,
    CAST(c.funnel_used AS DOUBLE) / c.funnel_viewed AS funnel_view_to_use_rate,
    CAST(c.funnel_completed AS DOUBLE) / nullif(c.funnel_used, 0) AS funnel_use_to_complete_rate,
    CAST(c.funnel_completed AS DOUBLE) / c.funnel_viewed AS funnel_view_to_complete_rate,
    vu.median_seconds AS funnel_median_seconds_view_to_use,
    uc.median_seconds AS funnel_median_seconds_use_to_complete
FROM counts AS c
LEFT JOIN medians AS vu ON vu.feature = c.feature AND vu.step = 'view_to_use'
LEFT JOIN medians AS uc ON uc.feature = c.feature AND uc.step = 'use_to_complete'
ORDER BY c.funnel_viewed DESC, c.feature
