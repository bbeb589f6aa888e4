"""The ingestion API's domain logic (docs/design.md section 1): pure Python, no AWS calls.

- `segment`: the Segment payload models (the contract, and the OpenAPI request bodies).
- `fields`, `timestamps`, `privacy`: the atomic rules (identifiers, event time and clock skew, IP truncation).
- `enrich`: one raw event -> the enriched-event dict (`featurepulse.domain.schema.EnrichedEvent` fields).
- `request`: one HTTP body -> stream records, rejections and quarantined events.
- `answers`: the bodies the API answers with. `settings`: the runtime configuration from the environment.
"""
