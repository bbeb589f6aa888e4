-- Base view of every report query: the lake's events, each counted once and attributed to a person
-- (docs/metrics.md; the identity rules are in docs/identity.md and docs/design.md).
--
-- Not a report query: a query that reads the table `person_events` gets this SELECT inlined as a CTE by the
-- query binder (featurepulse/reporting/queries.py), bound with the query's own parameters.
-- - De-duplication: one row per (source_id, event_id), the first received copy (a client retry or a replay
--   stores the same event again).
-- - Identity: `identities` has one row per linked id (id_kind 'user' | 'anonymous', id, person_id). An event
--   is attributed to the person of its user_id when user_id is set, else to the person of its anonymous_id;
--   an id without a row (never linked) is its own person. The table is read as of the run, so a late link
--   re-attributes earlier anonymous events. An event without any id has person_id NULL (it still counts as
--   an event, never as a person).
--
-- Returns one row per distinct event:
--   source_id, event_id, type, event, feature, stage (varchar)
--   user_id, anonymous_id (varchar)  the raw ids (blank ones read as NULL)
--   person_id (varchar)              the person the event is attributed to
--   session_id (varchar)
--   event_time, received_at (timestamp)
--   dt (varchar 'YYYY-MM-DD'), day (date)   the UTC day of event_time (the lake partition)
--   campaign_source, campaign_medium, campaign_name, experiment_id, variation_id (varchar)
--   duration_ms (bigint), platform, country, properties (varchar)
--
-- Parameters:
--   :scan_start_date  the first dt partition read, 'YYYY-MM-DD' (each report query sets its own: the period's
--                     start, or the look-back start for MAU and retention)
--   :end_date         the last dt partition read (inclusive), 'YYYY-MM-DD'
-- Reads the partitions dt BETWEEN :scan_start_date AND :end_date of `events`, and the whole `identities`.
SELECT
    e.source_id,
    e.event_id,
    e.type,
    e.event,
    e.feature,
    e.stage,
    e.user_id,
    e.anonymous_id,
    CASE
        WHEN e.user_id IS NOT NULL THEN coalesce(known.person_id, e.user_id)
        ELSE coalesce(device.person_id, e.anonymous_id)
    END AS person_id,
    e.session_id,
    e.event_time,
    e.received_at,
    e.dt,
    CAST(e.dt AS DATE) AS day,
    e.campaign_source,
    e.campaign_medium,
    e.campaign_name,
    e.experiment_id,
    e.variation_id,
    e.duration_ms,
    e.platform,
    e.country,
    e.properties
FROM (
    SELECT
        source_id,
        event_id,
        type,
        event,
        feature,
        stage,
        CASE WHEN trim(user_id) <> '' THEN user_id END AS user_id,
        CASE WHEN trim(anonymous_id) <> '' THEN anonymous_id END AS anonymous_id,
        session_id,
        "timestamp" AS event_time,
        received_at,
        dt,
        campaign_source,
        campaign_medium,
        campaign_name,
        experiment_id,
        variation_id,
        duration_ms,
        platform,
        country,
        properties,
        row_number() OVER (PARTITION BY source_id, event_id ORDER BY received_at) AS copy_number
    FROM events
    WHERE dt BETWEEN :scan_start_date AND :end_date
) AS e
-- One row per (id_kind, id) by construction; the GROUP BY keeps a duplicated row (two builds' files side by
-- side) from duplicating events.
LEFT JOIN (
    SELECT id, min(person_id) AS person_id
    FROM identities
    WHERE id_kind = 'user'
    GROUP BY id
) AS known ON known.id = e.user_id
LEFT JOIN (
    SELECT id, min(person_id) AS person_id
    FROM identities
    WHERE id_kind = 'anonymous'
    GROUP BY id
) AS device ON device.id = e.anonymous_id
WHERE e.copy_number = 1
