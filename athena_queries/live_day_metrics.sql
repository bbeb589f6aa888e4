-- The live panels' day metrics of one final day, from the lake: the batch figures that correct the live day
-- rows (featurepulse/realtime/finalize.py; docs/realtime.md, "Live persons and the daily correction").
-- Not a report section: the report job runs it for each final day of its period and writes the rows to the
-- aggregates table. The counters are those of the live rows (featurepulse/realtime/metrics.py COUNTERS), with
-- persons from the identity table (the base view `person_events`) instead of the links the stream has seen.
--
-- Returns one row per group of the day:
--   dimension (varchar)      'app' (every event), 'feature', 'campaign' (feature x campaign name),
--                            'variant' (feature x experiment x variation)
--   feature, campaign, experiment_id, variation_id (varchar)   '' where not part of the group
--   events, views, uses, completions, dismissals (bigint)      de-duplicated events, all and per stage
--   persons (bigint)            distinct persons with an event of the group (app: active persons of the day)
--   persons_view, persons_use, persons_complete, persons_dismiss (bigint)   distinct persons per stage
--   adopters (bigint)           distinct persons with stage 'use' or 'complete'
--   duration_count, duration_sum_ms (bigint)   events with a duration, and their sum
--   duration_p50_ms, duration_p95_ms (bigint)  approximate percentiles of the durations (NULL without any)
--
-- Parameters:
--   :scan_start_date, :end_date   the day, 'YYYY-MM-DD' (both the same day)
-- Reads the partition dt = the day (through `person_events`) and the identity table.
WITH day_events AS (
    SELECT
        person_id,
        CASE WHEN feature <> '' THEN feature END AS feature,
        stage,
        CASE WHEN campaign_name <> '' THEN campaign_name END AS campaign,
        CASE WHEN experiment_id <> '' THEN experiment_id END AS experiment_id,
        CASE WHEN variation_id <> '' THEN variation_id END AS variation_id,
        CASE WHEN duration_ms >= 0 THEN duration_ms END AS duration_ms
    FROM person_events
    WHERE dt BETWEEN :scan_start_date AND :end_date
),

day_groups AS (
    SELECT dimension, feature, campaign, experiment_id, variation_id, person_id, stage, duration_ms
    FROM (
        SELECT 'app' AS dimension, '' AS feature, '' AS campaign, '' AS experiment_id, '' AS variation_id,
            person_id, stage, duration_ms
        FROM day_events
        UNION ALL
        SELECT 'feature', feature, '', '', '', person_id, stage, duration_ms
        FROM day_events
        WHERE feature IS NOT NULL
        UNION ALL
        SELECT 'campaign', feature, campaign, '', '', person_id, stage, duration_ms
        FROM day_events
        WHERE feature IS NOT NULL AND campaign IS NOT NULL
        UNION ALL
        SELECT 'variant', feature, '', experiment_id, variation_id, person_id, stage, duration_ms
        FROM day_events
        WHERE feature IS NOT NULL AND experiment_id IS NOT NULL AND variation_id IS NOT NULL
    ) AS all_groups
)

SELECT
    dimension,
    feature,
    campaign,
    experiment_id,
    variation_id,
    count(*) AS events,
    count_if(stage = 'view') AS views,
    count_if(stage = 'use') AS uses,
    count_if(stage = 'complete') AS completions,
    count_if(stage = 'dismiss') AS dismissals,
    count(DISTINCT person_id) AS persons,
    count(DISTINCT CASE WHEN stage = 'view' THEN person_id END) AS persons_view,
    count(DISTINCT CASE WHEN stage = 'use' THEN person_id END) AS persons_use,
    count(DISTINCT CASE WHEN stage = 'complete' THEN person_id END) AS persons_complete,
    count(DISTINCT CASE WHEN stage = 'dismiss' THEN person_id END) AS persons_dismiss,
    count(DISTINCT CASE WHEN stage IN ('use', 'complete') THEN person_id END) AS adopters,
    count(duration_ms) AS duration_count,
    coalesce(sum(duration_ms), 0) AS duration_sum_ms,
    CAST(approx_percentile(duration_ms, 0.5) AS BIGINT) AS duration_p50_ms,
    CAST(approx_percentile(duration_ms, 0.95) AS BIGINT) AS duration_p95_ms
FROM day_groups
GROUP BY dimension, feature, campaign, experiment_id, variation_id
ORDER BY dimension, feature, campaign, experiment_id, variation_id
