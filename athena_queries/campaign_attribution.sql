-- Campaign attribution (first touch): which UTM source / medium / campaign brought the users who adopted
-- and completed a feature.
--
-- Each user active in the period is attributed to the campaign of their first campaign-tagged event in the
-- period (so a user who came through several campaigns counts once, for the first one); users without any
-- tagged event are attributed to ('(direct)', '(none)', '(none)'); a missing UTM field of a tagged event
-- reads '(not set)'. Adoption and completion count only at or after the attributed touch.
-- Returns one row per source, medium and campaign:
--   campaign_source, campaign_medium, campaign_name (varchar)
--   reached (bigint)           users attributed to the campaign
--   adopted (bigint)           of them, users who used a feature (stage 'use' or 'complete') after the touch
--   completed (bigint)         of them, users who completed a feature (stage 'complete') after the touch
--   adoption_rate (double)     adopted / reached
--   conversion_rate (double)   completed / reached
--
-- Parameters:
--   :start_date, :end_date  the period, 'YYYY-MM-DD', inclusive
-- Reads the partitions dt BETWEEN :start_date AND :end_date. Events deduplicated on event_id.
WITH deduplicated AS (
    SELECT event_id, user_key, feature, stage, event_time, campaign_source, campaign_medium, campaign_name
    FROM (
        SELECT
            event_id,
            coalesce(user_id, anonymous_id) AS user_key,
            feature,
            stage,
            "timestamp" AS event_time,
            campaign_source,
            campaign_medium,
            campaign_name,
            row_number() OVER (PARTITION BY event_id ORDER BY received_at) AS copy_number
        FROM events
        WHERE dt BETWEEN :start_date AND :end_date
    ) AS numbered
    WHERE copy_number = 1 AND user_key IS NOT NULL
),

touches AS (
    SELECT
        user_key,
        event_time,
        coalesce(campaign_source, '(not set)') AS campaign_source,
        coalesce(campaign_medium, '(not set)') AS campaign_medium,
        coalesce(campaign_name, '(not set)') AS campaign_name,
        row_number() OVER (PARTITION BY user_key ORDER BY event_time, event_id) AS touch_number
    FROM deduplicated
    WHERE campaign_source IS NOT NULL OR campaign_medium IS NOT NULL OR campaign_name IS NOT NULL
),

users AS (
    SELECT user_key, min(event_time) AS first_seen_at
    FROM deduplicated
    GROUP BY user_key
),

attributed AS (
    SELECT
        u.user_key,
        coalesce(t.event_time, u.first_seen_at) AS attributed_at,
        coalesce(t.campaign_source, '(direct)') AS campaign_source,
        coalesce(t.campaign_medium, '(none)') AS campaign_medium,
        coalesce(t.campaign_name, '(none)') AS campaign_name
    FROM users AS u
    LEFT JOIN touches AS t ON t.user_key = u.user_key AND t.touch_number = 1
),

outcomes AS (
    SELECT
        a.user_key,
        a.campaign_source,
        a.campaign_medium,
        a.campaign_name,
        max(CASE WHEN e.stage IN ('use', 'complete') THEN 1 ELSE 0 END) AS adopted,
        max(CASE WHEN e.stage = 'complete' THEN 1 ELSE 0 END) AS completed
    FROM attributed AS a
    LEFT JOIN deduplicated AS e
        ON e.user_key = a.user_key AND e.feature IS NOT NULL AND e.event_time >= a.attributed_at
    GROUP BY a.user_key, a.campaign_source, a.campaign_medium, a.campaign_name
)

SELECT
    campaign_source,
    campaign_medium,
    campaign_name,
    count(*) AS reached,
    sum(adopted) AS adopted,
    sum(completed) AS completed,
    CAST(sum(adopted) AS DOUBLE) / count(*) AS adoption_rate,
    CAST(sum(completed) AS DOUBLE) / count(*) AS conversion_rate
FROM outcomes
GROUP BY campaign_source, campaign_medium, campaign_name
ORDER BY reached DESC, campaign_source, campaign_medium, campaign_name
