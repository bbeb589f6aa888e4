-- Adoption by segment: per feature and value of one trait (default `plan`), the segment's active persons, the
-- feature's adopters among them and the adoption rate (docs/reports.md, "Adoption by segment").
--
-- A person's segment is their value of the chosen trait in the view person_traits (the latest value per
-- person and trait, from identify and group traits and CRM imports; docs/segments.md), read as of the run
-- like the identity table; persons without the trait are in the segment '(unknown)'. Persons come from the
-- base view person_events (de-duplicated, identity-resolved; docs/metrics.md).
-- Returns one row per feature with an event in the period and per segment with an active person (adopters 0
-- included):
--   feature (varchar)
--   segment_trait (varchar)     the chosen trait
--   segment_value (varchar)     its value, '(unknown)' for persons without it
--   active_persons (bigint)     persons of the segment with any event in the period
--   adopters (bigint)           of them, persons who used or completed the feature (stage 'use' or 'complete')
--   adoption_rate (double)      adopters / active_persons
--
-- Parameters:
--   :start_date, :end_date  the period, 'YYYY-MM-DD', inclusive
--   report_segment          inline table (segment_trait), one row: the chosen trait (`reportSegmentTrait`)
-- Reads person_events with :scan_start_date = :start_date (the partitions of the period), and person_traits.
WITH scoped AS (
    SELECT person_id, feature, stage
    FROM person_events
    WHERE person_id IS NOT NULL AND dt BETWEEN :start_date AND :end_date
),

chosen AS (
    SELECT segment_trait
    FROM report_segment
),

segment_of AS (
    SELECT t.person_id, t.value AS segment_value
    FROM person_traits AS t
    INNER JOIN chosen AS c ON t.trait = c.segment_trait
),

persons AS (
    SELECT DISTINCT s.person_id, coalesce(g.segment_value, '(unknown)') AS segment_value
    FROM scoped AS s
    LEFT JOIN segment_of AS g ON g.person_id = s.person_id
),

segments AS (
    SELECT segment_value, count(*) AS active_persons
    FROM persons
    GROUP BY segment_value
),

features AS (
    SELECT DISTINCT feature
    FROM scoped
    WHERE feature IS NOT NULL
),

adopting AS (
    SELECT s.feature, p.segment_value, count(DISTINCT s.person_id) AS adopters
    FROM scoped AS s
    INNER JOIN persons AS p ON p.person_id = s.person_id
    WHERE s.feature IS NOT NULL AND s.stage IN ('use', 'complete')
    GROUP BY s.feature, p.segment_value
)

SELECT
    f.feature,
    c.segment_trait,
    g.segment_value,
    g.active_persons,
    coalesce(a.adopters, 0) AS adopters,
    CAST(coalesce(a.adopters, 0) AS DOUBLE) / g.active_persons AS adoption_rate
FROM features AS f
CROSS JOIN segments AS g
CROSS JOIN chosen AS c
LEFT JOIN adopting AS a ON a.feature = f.feature AND a.segment_value = g.segment_value
ORDER BY f.feature, CASE WHEN g.segment_value = '(unknown)' THEN 1 ELSE 0 END, g.segment_value
