"""Reports (DESIGN.md section 5): the Athena SQL in `athena_queries/`, run for a period on Athena or on the
local lake with DuckDB, rendered as an HTML e-mail with charts and CSV attachments, sent once through SES.

The modules the Glue job imports (everything here except `duckdb_runner`, `cli` and `local_component`) stay
compatible with Python 3.9, the newest Python of Glue Python shell jobs: `from __future__ import
annotations` everywhere and no 3.10+ standard-library names.
"""
