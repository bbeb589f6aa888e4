-- Campaign spend per campaign name, from the marketer's spend imports (table campaign_spend, docs/segments.md):
-- the cost side of the report's campaign ranking (featurepulse/reporting/campaigns.py).
--
-- Not a report section: the report job runs it beside campaign_attribution and divides each campaign's spend by
-- its adopters (campaign_cost_per_adopter). The spend file has no dates: the spend is the total imported for the
-- campaign. Within one import_name only the rows of its newest imported_at count (a re-import replaces the
-- previous one whole; a reader may see both objects for a moment). Only USD amounts are read.
-- Returns one row per campaign name with spend:
--   campaign_name (varchar)
--   campaign_spend_usd (double)   the sum of spend_usd over the current imports
--
-- Parameters: none. Reads the whole campaign_spend table (a few rows per campaign).
WITH current_imports AS (
    SELECT import_name, max(imported_at) AS imported_at
    FROM campaign_spend
    GROUP BY import_name
)

SELECT
    s.campaign_name,
    sum(s.spend_usd) AS campaign_spend_usd
FROM campaign_spend AS s
INNER JOIN current_imports AS c ON c.import_name = s.import_name AND c.imported_at = s.imported_at
WHERE s.currency = 'USD' AND s.campaign_name IS NOT NULL
GROUP BY s.campaign_name
ORDER BY s.campaign_name
