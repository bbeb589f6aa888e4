"""The identity table (docs/identity.md): links and persons as data in the lake, built incrementally.

`schema` is the one definition of the two tables' columns and where they live, `store` reads and writes them
(an object store: the lake bucket or the local lake directory), `build` is the incremental build from the
events, `sources` reads new links from the events on Athena. Local mode (DuckDB over the local lake, and
`featurepulse identity`) is `featurepulse/local/identity.py` and `featurepulse/local/identity_cli.py`. The
rules themselves are pure: `featurepulse.domain.identity`.
"""
