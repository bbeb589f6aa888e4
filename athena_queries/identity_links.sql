-- Identity links carried by the events of the partitions dt >= :since_date (docs/identity.md).
--
-- Not a report query: the identity build (featurepulse/identity/build.py) runs it before the report queries
-- and merges its rows with the links it stored before.
-- A link says "from_id belongs to the user to_user_id":
--   event  an event carrying both ids links its anonymous_id to its user_id;
--   alias  an alias event links its previousId (properties JSON) to its user_id; the previous id is an
--          anonymous id when it equals the event's own anonymous_id, else an earlier user id.
-- Returns one row per (from_kind, from_id, to_user_id, link), its earliest occurrence:
--   from_kind ('anonymous'|'user'), from_id, to_user_id, link ('event'|'alias') (varchar)
--   linked_at (timestamp)   event time of the earliest event carrying the link
--   event_id (varchar)      that event (ties on time: the smallest event_id)
--
-- Parameters:
--   :since_date   first partition read, 'YYYY-MM-DD' (the last built day minus one; a full build: 1970-01-01)
-- Reads the partitions dt >= :since_date. Replayed copies of an event give the same link, kept once. A blank
-- id (empty or spaces) is no id, as in the base view person_events.
WITH scoped AS (
    SELECT
        event_id,
        user_id,
        anonymous_id,
        "timestamp" AS event_time,
        CASE WHEN type = 'alias' THEN json_extract_scalar(properties, '$.previousId') END AS previous_id
    FROM events
    WHERE dt >= :since_date AND trim(user_id) <> ''
),

candidates AS (
    SELECT
        'anonymous' AS from_kind,
        anonymous_id AS from_id,
        user_id AS to_user_id,
        'event' AS link,
        event_time,
        event_id
    FROM scoped
    WHERE trim(anonymous_id) <> ''
    UNION ALL
    SELECT
        CASE WHEN previous_id = anonymous_id THEN 'anonymous' ELSE 'user' END AS from_kind,
        previous_id AS from_id,
        user_id AS to_user_id,
        'alias' AS link,
        event_time,
        event_id
    FROM scoped
    WHERE trim(previous_id) <> '' AND previous_id <> user_id
),

ranked AS (
    SELECT
        from_kind,
        from_id,
        to_user_id,
        link,
        event_time,
        event_id,
        row_number() OVER (
            PARTITION BY from_kind, from_id, to_user_id, link ORDER BY event_time, event_id
        ) AS occurrence
    FROM candidates
)

SELECT
    from_kind,
    from_id,
    to_user_id,
    link,
    event_time AS linked_at,
    event_id
FROM ranked
WHERE occurrence = 1
ORDER BY linked_at, event_id, from_kind, from_id, to_user_id, link
