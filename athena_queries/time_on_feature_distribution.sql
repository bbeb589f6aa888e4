-- Distribution of time on feature (properties.duration_ms of feature events) per feature, as a histogram.
--
-- Returns, for each feature with at least one timed event, one row per bucket (empty buckets included):
--   feature (varchar)
--   bucket_order (integer)          1..6, for sorting
--   bucket (varchar)                '< 10 s', '10-30 s', '30 s-1 min', '1-3 min', '3-10 min', '>= 10 min'
--   timed_events (bigint)           timed events in the bucket
--   timed_persons (bigint)          persons with a timed event in the bucket
--   share_of_timed_events (double)  timed_events / all timed events of the feature
-- Events and persons come from the base view person_events (de-duplicated, identity-resolved).
--
-- Parameters:
--   :start_date, :end_date  the period, 'YYYY-MM-DD', inclusive
-- Reads person_events with :scan_start_date = :start_date (the partitions of the period).
-- Negative durations (clock errors) are ignored.
WITH scoped AS (
    SELECT person_id, feature, duration_ms
    FROM person_events
    WHERE dt BETWEEN :start_date AND :end_date AND feature IS NOT NULL AND duration_ms >= 0
),

buckets AS (
    SELECT bucket_order, bucket, low_ms, high_ms
    FROM (
        VALUES
        (1, '< 10 s', 0, 10000),
        (2, '10-30 s', 10000, 30000),
        (3, '30 s-1 min', 30000, 60000),
        (4, '1-3 min', 60000, 180000),
        (5, '3-10 min', 180000, 600000),
        (6, '>= 10 min', 600000, 9223372036854775807)
    ) AS b (bucket_order, bucket, low_ms, high_ms)
),

features AS (
    SELECT feature, count(*) AS feature_timed_events
    FROM scoped
    GROUP BY feature
),

counted AS (
    SELECT
        f.feature,
        b.bucket_order,
        b.bucket,
        f.feature_timed_events,
        count(e.duration_ms) AS timed_events,
        count(DISTINCT e.person_id) AS timed_persons
    FROM features AS f
    CROSS JOIN buckets AS b
    LEFT JOIN scoped AS e
        ON e.feature = f.feature AND e.duration_ms >= b.low_ms AND e.duration_ms < b.high_ms
    GROUP BY f.feature, b.bucket_order, b.bucket, f.feature_timed_events
)

SELECT
    feature,
    bucket_order,
    bucket,
    timed_events,
    timed_persons,
    CAST(timed_events AS DOUBLE) / feature_timed_events AS share_of_timed_events
FROM counted
ORDER BY feature, bucket_order
