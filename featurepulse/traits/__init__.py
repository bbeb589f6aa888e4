"""CRM trait imports and campaign spend: marketer-supplied tables in the lake (docs/segments.md).

`schema` is the one definition of both tables' columns and where they live, `csv_files` reads and validates the
CSV files (pure), `store` writes and replaces imports in an object store (the lake bucket or the local lake
directory), `cli` is `featurepulse traits import` and `featurepulse spend import`. The trait rule itself (the
newest value wins) is pure: `featurepulse.domain.traits`, with its SQL twin `athena_queries/person_traits.sql`.
"""
