-- Traits view: the latest value of each trait of each person (docs/segments.md; the Python reference is
-- featurepulse/domain/traits.py, and the tests compare the two).
--
-- Not a report query: a query that reads the table `person_traits` gets this SELECT inlined as a CTE by the
-- query binder (featurepulse/reporting/queries.py), like `person_events`.
-- - identify events: each key of `properties` (the call's traits) is a trait of the event's person;
-- - group events: `properties` is {"groupId", "traits"}; the traits are the account's (groupId), and a person
--   sees the traits of their latest account (latest group event, then greatest groupId) as `account.<trait>`;
-- - CRM imports (`trait_imports`): key_kind 'user' rows are traits of the user id's person, key_kind 'account'
--   rows traits of the account; their time is `imported_at`. Of each import_name only the rows of its newest
--   imported_at count (a re-import writes its new object before deleting the old one).
-- - Persons as in `person_events`: the person of the user id when set, else of the anonymous id; an id without
--   a row in `identities` is its own person. Read as of the run: a late link or import changes earlier segments.
-- - The newest value wins, whatever its origin; ties: the greater value, then the greater origin (text order).
--   A JSON null sets nothing; strings are taken as they are, other values as their JSON text.
--
-- Returns one row per (person_id, trait):
--   person_id (varchar), trait (varchar), value (varchar), updated_at (timestamp, UTC),
--   origin (varchar: 'identify' | 'group' | 'crm')
--
-- Parameters: none. Reads every partition of `events` (columns type, user_id, anonymous_id, timestamp,
-- properties of the identify and group rows), the whole `identities` and the whole `trait_imports`.
WITH trait_events AS (
    SELECT
        e.type,
        CASE
            WHEN e.user_id IS NOT NULL THEN coalesce(known.person_id, e.user_id)
            ELSE coalesce(device.person_id, e.anonymous_id)
        END AS person_id,
        e.event_time,
        e.properties
    FROM (
        SELECT
            type,
            CASE WHEN trim(user_id) <> '' THEN user_id END AS user_id,
            CASE WHEN trim(anonymous_id) <> '' THEN anonymous_id END AS anonymous_id,
            "timestamp" AS event_time,
            properties
        FROM events
        WHERE type IN ('identify', 'group')
    ) AS e
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
),

imports AS (
    SELECT
        i.key_kind,
        i.key,
        i.trait,
        i.value,
        CAST(substr(replace(i.imported_at, 'T', ' '), 1, 23) AS TIMESTAMP) AS imported_time
    FROM (
        SELECT
            key_kind,
            key,
            trait,
            value,
            imported_at,
            max(imported_at) OVER (PARTITION BY import_name) AS newest_imported_at
        FROM trait_imports
    ) AS i
    WHERE i.imported_at = i.newest_imported_at AND i.value IS NOT NULL
),

-- Each key of a trait object, with its value as text: a scalar's text, else compact JSON; NULL for a JSON null
-- (whether the MAP cast gives SQL NULL or JSON 'null' for it).
identify_traits AS (
    SELECT
        t.person_id,
        k.trait,
        coalesce(
            json_extract_scalar(element_at(t.traits, k.trait), '$'),
            nullif(json_format(element_at(t.traits, k.trait)), 'null')
        ) AS value,
        t.event_time AS updated_at
    FROM (
        SELECT person_id, event_time, TRY_CAST(json_parse(properties) AS MAP(VARCHAR, JSON)) AS traits
        FROM trait_events
        WHERE type = 'identify' AND person_id IS NOT NULL
    ) AS t
    CROSS JOIN UNNEST(map_keys(t.traits)) AS k (trait)
),

group_events AS (
    SELECT
        person_id,
        event_time,
        json_extract_scalar(properties, '$.groupId') AS group_id,
        TRY_CAST(json_extract(properties, '$.traits') AS MAP(VARCHAR, JSON)) AS traits
    FROM trait_events
    WHERE type = 'group'
),

account_candidates AS (
    SELECT
        g.group_id,
        k.trait,
        coalesce(
            json_extract_scalar(element_at(g.traits, k.trait), '$'),
            nullif(json_format(element_at(g.traits, k.trait)), 'null')
        ) AS value,
        g.event_time AS updated_at,
        'group' AS origin
    FROM (SELECT * FROM group_events WHERE trim(group_id) <> '') AS g
    CROSS JOIN UNNEST(map_keys(g.traits)) AS k (trait)
    UNION ALL
    SELECT key AS group_id, trait, value, imported_time AS updated_at, 'crm' AS origin
    FROM imports
    WHERE key_kind = 'account'
),

account_traits AS (
    SELECT group_id, trait, value, updated_at, origin
    FROM (
        SELECT
            group_id,
            trait,
            value,
            updated_at,
            origin,
            row_number() OVER (
                PARTITION BY group_id, trait ORDER BY updated_at DESC, value DESC, origin DESC
            ) AS pick
        FROM account_candidates
        WHERE value IS NOT NULL
    ) AS ranked
    WHERE pick = 1
),

latest_account AS (
    SELECT person_id, group_id
    FROM (
        SELECT
            person_id,
            group_id,
            row_number() OVER (PARTITION BY person_id ORDER BY event_time DESC, group_id DESC) AS pick
        FROM group_events
        WHERE person_id IS NOT NULL AND trim(group_id) <> ''
    ) AS ranked
    WHERE pick = 1
),

candidates AS (
    SELECT person_id, trait, value, updated_at, 'identify' AS origin
    FROM identify_traits
    UNION ALL
    SELECT coalesce(known.person_id, c.key) AS person_id, c.trait, c.value, c.imported_time AS updated_at, 'crm' AS origin
    FROM (SELECT * FROM imports WHERE key_kind = 'user') AS c
    LEFT JOIN (
        SELECT id, min(person_id) AS person_id
        FROM identities
        WHERE id_kind = 'user'
        GROUP BY id
    ) AS known ON known.id = c.key
    UNION ALL
    SELECT p.person_id, concat('account.', a.trait) AS trait, a.value, a.updated_at, a.origin
    FROM latest_account AS p
    INNER JOIN account_traits AS a ON a.group_id = p.group_id
)

SELECT person_id, trait, value, updated_at, origin
FROM (
    SELECT
        person_id,
        trait,
        value,
        updated_at,
        origin,
        row_number() OVER (PARTITION BY person_id, trait ORDER BY updated_at DESC, value DESC, origin DESC) AS pick
    FROM candidates
    WHERE value IS NOT NULL
) AS ranked
WHERE pick = 1
