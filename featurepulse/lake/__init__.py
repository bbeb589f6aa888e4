"""The lake (docs/design.md section 4): partitioned Parquet in S3, its local twin, replay and GDPR erasure.

`layout` says where things live, `parquet` how a row is stored (derived from `EnrichedEvent`), `store` is the
small object-store seam (S3 or a local directory), `writer` buffers and writes like Firehose, `erasure` and
`replay` are the operator workflows, `local` is the Firehose stand-in of `featurepulse local`.
"""
