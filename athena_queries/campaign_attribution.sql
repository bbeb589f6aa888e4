-- Campaign attribution (first touch): which UTM source / medium / campaign brought the persons who adopted
-- and completed a feature.
--
-- Each person active in the period is attributed to the campaign of their first campaign-tagged event in the
-- period (earliest event time, then smallest event_id), so a person who came through several campaigns counts
-- once, for the first one; persons without any tagged event are attributed to ('(direct)', '(none)',
-- '(none)'); a missing UTM field of a tagged event reads '(not set)'. Adoption and completion count only at or
-- after the attributed touch. Persons come from the base view person_events (identity-resolved): the
-- anonymous visit that came from the campaign and the purchase after signing in are one person's.
-- Returns one row per source, medium and campaign:
--   campaign_source, campaign_medium, campaign_name (varchar)
--   campaign_reached (bigint)           persons attributed to the campaign
--   campaign_adopters (bigint)          of them, persons who used or completed a feature after the touch
--   campaign_completers (bigint)        of them, persons who completed a feature after the touch
--   campaign_adoption_rate (double)     campaign_adopters / campaign_reached
--   campaign_conversion_rate (double)   campaign_completers / campaign_reached
--
-- Parameters:
--   :start_date, :end_date  the period, 'YYYY-MM-DD', inclusive
-- Reads person_events with :scan_start_date = :start_date (the partitions of the period).
WITH scoped AS (
    SELECT event_id, person_id, feature, stage, event_time, campaign_source, campaign_medium, campaign_name
    FROM person_events
    WHERE person_id IS NOT NULL AND dt BETWEEN :start_date AND :end_date
),

touches AS (
    SELECT
        person_id,
        event_time,
        coalesce(campaign_source, '(not set)') AS campaign_source,
        coalesce(campaign_medium, '(not set)') AS campaign_medium,
        coalesce(campaign_name, '(not set)') AS campaign_name,
        row_number() OVER (PARTITION BY person_id ORDER BY event_time, event_id) AS touch_number
    FROM scoped
    WHERE campaign_source IS NOT NULL OR campaign_medium IS NOT NULL OR campaign_name IS NOT NULL
),

persons AS (
    SELECT person_id, min(event_time) AS first_seen_at
    FROM scoped
    GROUP BY person_id
),

attributed AS (
    SELECT
        p.person_id,
        coalesce(t.event_time, p.first_seen_at) AS attributed_at,
        coalesce(t.campaign_source, '(direct)') AS campaign_source,
        coalesce(t.campaign_medium, '(none)') AS campaign_medium,
        coalesce(t.campaign_name, '(none)') AS campaign_name
    FROM persons AS p
    LEFT JOIN touches AS t ON t.person_id = p.person_id AND t.touch_number = 1
),

outcomes AS (
    SELECT
        a.person_id,
        a.campaign_source,
        a.campaign_medium,
        a.campaign_name,
        max(CASE WHEN e.stage IN ('use', 'complete') THEN 1 ELSE 0 END) AS adopted,
        max(CASE WHEN e.stage = 'complete' THEN 1 ELSE 0 END) AS completed
    FROM attributed AS a
    LEFT JOIN scoped AS e
        ON e.person_id = a.person_id AND e.feature IS NOT NULL AND e.event_time >= a.attributed_at
    GROUP BY a.person_id, a.campaign_source, a.campaign_medium, a.campaign_name
)

SELECT
    campaign_source,
    campaign_medium,
    campaign_name,
    count(*) AS campaign_reached,
    sum(adopted) AS campaign_adopters,
    sum(completed) AS campaign_completers,
    CAST(sum(adopted) AS DOUBLE) / count(*) AS campaign_adoption_rate,
    CAST(sum(completed) AS DOUBLE) / count(*) AS campaign_conversion_rate
FROM outcomes
GROUP BY campaign_source, campaign_medium, campaign_name
ORDER BY campaign_reached DESC, campaign_source, campaign_medium, campaign_name
