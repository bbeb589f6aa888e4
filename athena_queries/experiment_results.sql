-- A/B test exposure and conversion in PERSONS, per experiment, variant and day (cumulative). The statistics
-- (sample-ratio check, always-valid sequential test, verdict) are computed from these rows in
-- featurepulse/reporting/experiments.py; docs/experiments.md explains them.
--
-- Persons come from the base view person_events (de-duplicated, identity-resolved): an anonymous visitor who
-- was exposed and later signed in is one person.
-- Window of an experiment: from its configured start (experiment_goals.window_start), else :start_date, to
-- :end_date.
-- Exposure: a person's first 'Experiment Viewed' event of the experiment in the window assigns the person to
-- its variation_id (later exposures, to any variant, are ignored).
-- Goal, per experiment: a named event (goal_event), or a stage of a feature (goal_feature, goal_stage) from
-- the `experiments` setting (bound as the inline table experiment_goals). By default: completing the
-- experiment's own feature, the feature named most often by the window's events that carry the experiment_id
-- (the feature events of a feature under test carry experiment_id and variation_id; ties: smallest name).
-- The default stage is 'complete'. An experiment whose events name no feature has no default goal (NULL).
-- Conversion: the person reached the goal at or after the first exposure, in the window.
--
-- Returns one row per experiment, variant and look_date (each day of the window on which a person of the
-- experiment was exposed or converted), with the counts as of the end of that day:
--   experiment_id, variation_id, look_date ('YYYY-MM-DD')
--   exposed, converted (bigint)              persons exposed / converted by the end of look_date
--   goal_feature, goal_stage, goal_event (varchar)  the goal applied
--   goal_configured (boolean)                the goal's feature or event came from the setting
--   window_start (varchar)                   first day of the experiment's window
-- The last look_date of an experiment holds its totals for the period.
--
-- Parameters:
--   :start_date, :end_date     the period, 'YYYY-MM-DD', inclusive
--   :experiments_start_date    the earliest window start of any experiment (<= :start_date)
--   experiment_goals           inline table (experiment_id, goal_feature, goal_stage, goal_event, window_start),
--                              varchar, one row per experiment listed in the setting
-- Reads person_events with :scan_start_date = :experiments_start_date (the partitions from the earliest window
-- start to the end of the period).
WITH scoped AS (
    SELECT person_id, event_id, event, feature, stage, experiment_id, variation_id, event_time, dt
    FROM person_events
    WHERE dt BETWEEN :experiments_start_date AND :end_date AND person_id IS NOT NULL
),

experiment_windows AS (
    SELECT seen.experiment_id, coalesce(g.window_start, :start_date) AS window_start
    FROM (
        SELECT DISTINCT experiment_id
        FROM scoped
        WHERE event = 'Experiment Viewed' AND experiment_id IS NOT NULL AND variation_id IS NOT NULL
    ) AS seen
    LEFT JOIN experiment_goals AS g ON g.experiment_id = seen.experiment_id
),

own_features AS (
    SELECT experiment_id, feature
    FROM (
        SELECT
            s.experiment_id,
            s.feature,
            row_number() OVER (PARTITION BY s.experiment_id ORDER BY count(*) DESC, s.feature) AS feature_rank
        FROM scoped AS s
        INNER JOIN experiment_windows AS w ON w.experiment_id = s.experiment_id AND s.dt >= w.window_start
        WHERE s.feature IS NOT NULL
        GROUP BY s.experiment_id, s.feature
    ) AS ranked
    WHERE feature_rank = 1
),

goals AS (
    SELECT
        w.experiment_id,
        w.window_start,
        g.goal_event,
        CASE WHEN g.goal_event IS NULL THEN coalesce(g.goal_feature, f.feature) END AS goal_feature,
        CASE WHEN g.goal_event IS NULL THEN coalesce(g.goal_stage, 'complete') END AS goal_stage,
        coalesce(g.goal_event IS NOT NULL OR g.goal_feature IS NOT NULL, false) AS goal_configured
    FROM experiment_windows AS w
    LEFT JOIN experiment_goals AS g ON g.experiment_id = w.experiment_id
    LEFT JOIN own_features AS f ON f.experiment_id = w.experiment_id
),

exposures AS (
    SELECT experiment_id, person_id, variation_id, exposed_at, exposed_dt
    FROM (
        SELECT
            s.experiment_id,
            s.person_id,
            s.variation_id,
            s.event_time AS exposed_at,
            s.dt AS exposed_dt,
            row_number() OVER (
                PARTITION BY s.experiment_id, s.person_id ORDER BY s.event_time, s.event_id
            ) AS exposure_number
        FROM scoped AS s
        INNER JOIN goals AS g ON g.experiment_id = s.experiment_id AND s.dt >= g.window_start
        WHERE s.event = 'Experiment Viewed' AND s.variation_id IS NOT NULL
    ) AS numbered
    WHERE exposure_number = 1
),

conversions AS (
    SELECT x.experiment_id, x.person_id, min(s.dt) AS converted_dt
    FROM exposures AS x
    INNER JOIN goals AS g ON g.experiment_id = x.experiment_id
    INNER JOIN scoped AS s
        ON
            s.person_id = x.person_id
            AND s.event_time >= x.exposed_at
            AND (s.event = g.goal_event OR (s.feature = g.goal_feature AND s.stage = g.goal_stage))
    GROUP BY x.experiment_id, x.person_id
),

persons AS (
    SELECT x.experiment_id, x.variation_id, x.exposed_dt, c.converted_dt
    FROM exposures AS x
    LEFT JOIN conversions AS c ON c.experiment_id = x.experiment_id AND c.person_id = x.person_id
),

looks AS (
    SELECT DISTINCT experiment_id, look_date
    FROM (
        SELECT experiment_id, exposed_dt AS look_date FROM persons
        UNION ALL
        SELECT experiment_id, converted_dt AS look_date FROM persons WHERE converted_dt IS NOT NULL
    ) AS days
),

variants AS (
    SELECT DISTINCT experiment_id, variation_id FROM persons
)

SELECT
    v.experiment_id,
    v.variation_id,
    l.look_date,
    count(CASE WHEN p.exposed_dt <= l.look_date THEN 1 END) AS exposed,
    count(CASE WHEN p.converted_dt <= l.look_date THEN 1 END) AS converted,
    g.goal_feature,
    g.goal_stage,
    g.goal_event,
    g.goal_configured,
    g.window_start
FROM variants AS v
INNER JOIN looks AS l ON l.experiment_id = v.experiment_id
INNER JOIN persons AS p ON p.experiment_id = v.experiment_id AND p.variation_id = v.variation_id
INNER JOIN goals AS g ON g.experiment_id = v.experiment_id
GROUP BY
    v.experiment_id, v.variation_id, l.look_date, g.goal_feature, g.goal_stage, g.goal_event, g.goal_configured,
    g.window_start
ORDER BY v.experiment_id, v.variation_id, l.look_date
