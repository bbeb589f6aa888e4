"""The traits view is inlined like the base view (docs/segments.md): a query reading `person_traits` (alone or
with `person_events`) gets it as a CTE, its tables qualified for Athena, and no parameter of its own."""

from __future__ import annotations

from datetime import date

import sqlglot
from sqlglot import exp

from featurepulse.reporting.queries import TRAITS_VIEW, TableRef, bind, load_base_view, query_parameters

BOTH = """
SELECT t.value AS plan, count(DISTINCT e.person_id) AS persons
FROM person_events AS e
LEFT JOIN person_traits AS t ON t.person_id = e.person_id AND t.trait = 'plan'
WHERE e.dt = :end_date
GROUP BY 1
"""


def test_a_query_reading_both_views_gets_both_as_its_first_ctes_with_qualified_tables() -> None:
    # When a query reading both views is bound for Athena
    table = TableRef(table="events", database="fp_lake", trait_imports_table="trait_imports")
    day = date(2026, 12, 3)
    tree = bind(BOTH, {"scan_start_date": day, "end_date": day}, table)
    # Then both views are CTEs, the base view first
    ctes = [cte.alias for cte in tree.args["with_"].expressions]
    assert ctes == ["person_events", "person_traits"]
    # And every lake table is qualified with the database, the CRM imports included
    tables = {(t.db, t.name) for t in tree.find_all(exp.Table) if t.db}
    assert tables == {("fp_lake", "events"), ("fp_lake", "identities"), ("fp_lake", "trait_imports")}
    # And the Athena text parses back as one statement
    assert len(sqlglot.parse(tree.sql(dialect="athena"), read="athena")) == 1


def test_the_traits_view_has_no_parameter_and_says_what_it_returns() -> None:
    sql = load_base_view(TRAITS_VIEW)
    header = "\n".join(line for line in sql.splitlines() if line.startswith("--"))
    assert query_parameters("SELECT * FROM person_traits") == frozenset()
    for column in ("person_id", "trait", "value", "updated_at", "origin"):
        assert column in header
