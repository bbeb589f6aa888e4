-- Active users per day of the period: DAU, WAU (7 days ending that day) and MAU (30 days ending that day).
--
-- Returns one row per day of the period, days without any event included (with 0):
--   day (date), dau (bigint), wau (bigint), mau (bigint)
-- A user is user_id, or anonymous_id when the user is not identified.
--
-- Parameters (see docs/reports.md, "Parameters"):
--   :start_date           first day of the period, 'YYYY-MM-DD'
--   :end_date             last day of the period (inclusive), 'YYYY-MM-DD'
--   :lookback_start_date  :start_date minus 30 days (the MAU window of the first day)
-- Reads the partitions dt BETWEEN :lookback_start_date AND :end_date. Events deduplicated on event_id.
WITH deduplicated AS (
    SELECT user_key, dt
    FROM (
        SELECT
            coalesce(user_id, anonymous_id) AS user_key,
            dt,
            row_number() OVER (PARTITION BY event_id ORDER BY received_at) AS copy_number
        FROM events
        WHERE dt BETWEEN :lookback_start_date AND :end_date
    ) AS numbered
    WHERE copy_number = 1
),

user_days AS (
    SELECT DISTINCT
        user_key,
        CAST(dt AS DATE) AS activity_day
    FROM deduplicated
    WHERE user_key IS NOT NULL
),

report_days AS (
    SELECT CAST(day AS DATE) AS day
    FROM UNNEST(sequence(CAST(:start_date AS DATE), CAST(:end_date AS DATE), INTERVAL '1' DAY)) AS days (day)
)

SELECT
    d.day,
    count(DISTINCT CASE WHEN u.activity_day = d.day THEN u.user_key END) AS dau,
    count(DISTINCT CASE WHEN date_diff('day', u.activity_day, d.day) < 7 THEN u.user_key END) AS wau,
    count(DISTINCT u.user_key) AS mau
FROM report_days AS d
LEFT JOIN user_days AS u
    ON date_diff('day', u.activity_day, d.day) BETWEEN 0 AND 29
GROUP BY d.day
ORDER BY d.day
