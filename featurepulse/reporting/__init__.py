"""Reports (docs/design.md section 5): the Athena SQL in `athena_queries/`, run for a period on Athena or on the
local lake with DuckDB, rendered as an HTML e-mail with charts and CSV attachments, sent once through SES.

This package ships whole in the report job's code bundle (Glue 5.0, Python 3.11; cdk/runtime_sources.py):
nothing here imports local mode. The DuckDB runner, the local report component and the `featurepulse report`
command live in `featurepulse/local/` (import contracts in pyproject.toml).
"""
