-- Headline numbers of one period (the report runs it for the period and for the previous one).
--
-- Counts persons (docs/metrics.md): rows of the base view person_events, de-duplicated and
-- identity-resolved, so an anonymous visitor who later signs in is one person.
-- Returns exactly one row (zeros on a period without events):
--   events (bigint)            events, each counted once
--   active_persons (bigint)    persons with any event
--   feature_viewers (bigint)   persons who viewed a feature (stage 'view')
--   adopters (bigint)          persons who used or completed a feature (stage 'use' or 'complete')
--   completers (bigint)        persons who completed a feature (stage 'complete')
--   adoption_rate (double)     adopters / active_persons (NULL without active persons)
--   completion_rate (double)   completers / adopters (NULL without adopters)
--
-- Parameters:
--   :start_date, :end_date     the period, 'YYYY-MM-DD', inclusive
-- Reads person_events with :scan_start_date = :start_date (the partitions of the period).
WITH totals AS (
    SELECT
        count(*) AS events,
        count(DISTINCT person_id) AS active_persons,
        count(DISTINCT CASE WHEN feature IS NOT NULL AND stage = 'view' THEN person_id END) AS feature_viewers,
        count(DISTINCT CASE WHEN feature IS NOT NULL AND stage IN ('use', 'complete') THEN person_id END)
            AS adopters,
        count(DISTINCT CASE WHEN feature IS NOT NULL AND stage = 'complete' THEN person_id END) AS completers
    FROM person_events
    WHERE dt BETWEEN :start_date AND :end_date
)

SELECT
    events,
    active_persons,
    feature_viewers,
    adopters,
    completers,
    CAST(adopters AS DOUBLE) / nullif(active_persons, 0) AS adoption_rate,
    CAST(completers AS DOUBLE) / nullif(adopters, 0) AS completion_rate
FROM totals
