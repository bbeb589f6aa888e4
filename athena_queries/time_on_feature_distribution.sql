-- Distribution of time on feature (properties.duration_ms of feature events) per feature, as a histogram.
--
-- Returns, for each feature with at least one timed event, one row per bucket (empty buckets included):
--   feature (varchar)
--   bucket_order (integer)   1..6, for sorting
--   bucket (varchar)         '< 10 s', '10-30 s', '30 s-1 min', '1-3 min', '3-10 min', '>= 10 min'
--   events (bigint)          timed events in the bucket
--   users (bigint)           distinct users with an event in the bucket
--   share_of_events (double) events / all timed events of the feature
--
-- Parameters:
--   :start_date, :end_date  the period, 'YYYY-MM-DD', inclusive
-- Reads the partitions dt BETWEEN :start_date AND :end_date. Events deduplicated on event_id.
-- Negative durations (clock errors) are ignored.
WITH deduplicated AS (
    SELECT user_key, feature, duration_ms
    FROM (
        SELECT
            coalesce(user_id, anonymous_id) AS user_key,
            feature,
            duration_ms,
            row_number() OVER (PARTITION BY event_id ORDER BY received_at) AS copy_number
        FROM events
        WHERE dt BETWEEN :start_date AND :end_date
    ) AS numbered
    WHERE copy_number = 1 AND feature IS NOT NULL AND duration_ms >= 0
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
    SELECT feature, count(*) AS timed_events
    FROM deduplicated
    GROUP BY feature
),

counted AS (
    SELECT
        f.feature,
        b.bucket_order,
        b.bucket,
        f.timed_events,
        count(e.duration_ms) AS events,
        count(DISTINCT e.user_key) AS users
    FROM features AS f
    CROSS JOIN buckets AS b
    LEFT JOIN deduplicated AS e
        ON e.feature = f.feature AND e.duration_ms >= b.low_ms AND e.duration_ms < b.high_ms
    GROUP BY f.feature, b.bucket_order, b.bucket, f.timed_events
)

SELECT
    feature,
    bucket_order,
    bucket,
    events,
    users,
    CAST(events AS DOUBLE) / timed_events AS share_of_events
FROM counted
ORDER BY feature, bucket_order
