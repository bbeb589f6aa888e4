-- Audiences of each feature in the period, for campaigns: the identified persons who viewed the feature but did
-- not adopt it (`viewed-not-adopted`), and who adopted it but did not complete it (`adopted-not-completed`),
-- with their known user ids and the chosen traits (docs/reports.md, "Audiences").
--
-- viewed-not-adopted:    a 'view' of the feature in the period, and no 'use' or 'complete' of it in the period
-- adopted-not-completed: a 'use' or 'complete' of the feature in the period, and no 'complete' of it
-- Order inside the period does not matter. Only persons with a user id are listed (an anonymous visitor cannot
-- be reached): a person whose events carry a user id, or whose anonymous id the identity table links to one.
-- Known user ids: the person id (the final user id of the person, docs/identity.md) and every user id on the
-- person's events of the period, sorted, separated by ';'. Persons come from the base view person_events;
-- traits from the view person_traits (latest value per person and trait, as of the run).
-- Returns one row per feature, audience, person and chosen trait (one row per person when no trait is chosen):
--   feature, audience, person_id (varchar)
--   user_ids (varchar)          the person's known user ids, ';'-separated
--   trait, trait_value (varchar) a chosen trait and the person's value of it (NULL: the person has none)
--   audience_persons (bigint)   persons in the feature's audience (the same on each of its rows)
--
-- Parameters:
--   :start_date, :end_date  the period, 'YYYY-MM-DD', inclusive
--   audience_traits         inline table (trait), one row per chosen trait (none: one NULL row)
-- Reads person_events with :scan_start_date = :start_date (the partitions of the period), and person_traits.
WITH scoped AS (
    SELECT person_id, user_id, anonymous_id, feature, stage
    FROM person_events
    WHERE person_id IS NOT NULL AND dt BETWEEN :start_date AND :end_date
),

journeys AS (
    SELECT
        feature,
        person_id,
        max(CASE WHEN stage = 'view' THEN 1 ELSE 0 END) AS viewed,
        max(CASE WHEN stage IN ('use', 'complete') THEN 1 ELSE 0 END) AS adopted,
        max(CASE WHEN stage = 'complete' THEN 1 ELSE 0 END) AS completed
    FROM scoped
    WHERE feature IS NOT NULL
    GROUP BY feature, person_id
),

members AS (
    SELECT feature, 'viewed-not-adopted' AS audience, person_id
    FROM journeys
    WHERE viewed = 1 AND adopted = 0
    UNION ALL
    SELECT feature, 'adopted-not-completed' AS audience, person_id
    FROM journeys
    WHERE adopted = 1 AND completed = 0
),

-- A person id is a user id when an event of it carries a user id or its anonymous id is linked to one.
known_ids AS (
    SELECT person_id, user_id AS known_id
    FROM scoped
    WHERE user_id IS NOT NULL
    UNION
    SELECT person_id, person_id AS known_id
    FROM scoped
    WHERE user_id IS NOT NULL OR person_id <> anonymous_id
),

known AS (
    SELECT person_id, array_join(array_sort(array_agg(known_id)), ';') AS user_ids
    FROM known_ids
    GROUP BY person_id
),

reachable AS (
    SELECT m.feature, m.audience, m.person_id, k.user_ids
    FROM members AS m
    INNER JOIN known AS k ON k.person_id = m.person_id
),

sizes AS (
    SELECT feature, audience, count(*) AS audience_persons
    FROM reachable
    GROUP BY feature, audience
)

SELECT
    r.feature,
    r.audience,
    r.person_id,
    r.user_ids,
    c.trait,
    t.value AS trait_value,
    s.audience_persons
FROM reachable AS r
INNER JOIN sizes AS s ON s.feature = r.feature AND s.audience = r.audience
CROSS JOIN audience_traits AS c
LEFT JOIN person_traits AS t ON t.person_id = r.person_id AND t.trait = c.trait
ORDER BY r.feature, r.audience, r.person_id, c.trait
