-- Active persons per day of the period: DAU, WAU (7 days ending that day) and MAU (30 days ending that day).
--
-- Returns one row per day of the period, days without any event included (with 0):
--   day (date)
--   dau (bigint)   persons with any event on the day
--   wau (bigint)   persons with any event in the 7 days ending on the day
--   mau (bigint)   persons with any event in the 30 days ending on the day
-- Persons come from the base view person_events (de-duplicated, identity-resolved; docs/metrics.md).
--
-- Parameters (see docs/reports.md, "Parameters"):
--   :start_date           first day of the period, 'YYYY-MM-DD'
--   :end_date             last day of the period (inclusive), 'YYYY-MM-DD'
--   :lookback_start_date  :start_date minus 30 days (the MAU window of the first day)
-- Reads person_events with :scan_start_date = :lookback_start_date.
WITH person_days AS (
    SELECT DISTINCT
        person_id,
        day AS activity_day
    FROM person_events
    WHERE person_id IS NOT NULL AND dt BETWEEN :lookback_start_date AND :end_date
),

report_days AS (
    SELECT CAST(day AS DATE) AS day
    FROM UNNEST(sequence(CAST(:start_date AS DATE), CAST(:end_date AS DATE), INTERVAL '1' DAY)) AS days (day)
)

SELECT
    d.day,
    count(DISTINCT CASE WHEN p.activity_day = d.day THEN p.person_id END) AS dau,
    count(DISTINCT CASE WHEN date_diff('day', p.activity_day, d.day) < 7 THEN p.person_id END) AS wau,
    count(DISTINCT p.person_id) AS mau
FROM report_days AS d
LEFT JOIN person_days AS p
    ON date_diff('day', p.activity_day, d.day) BETWEEN 0 AND 29
GROUP BY d.day
ORDER BY d.day
