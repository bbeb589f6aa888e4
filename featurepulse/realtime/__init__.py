"""Real-time aggregation (docs/design.md, real time): the pure arithmetic shared by the Flink job, the local
runtime, the dashboard and the tests.

The modules the Flink job imports (settings, windows, histogram, events, persons, metrics, items, sql; `model`
too; and `featurepulse.domain.identity`) are plain standard-library Python: the job runs in PyFlink's own
virtual environment and in Managed Service for Apache Flink, which installs nothing (a test checks the
application package). `panels` and `quicksight_panels` (the dashboards as data), `dal` and `finalize` (boto3;
the daily correction the report job runs), `local` (the local runtime component) and `cli` are for the main
runtime only.
"""
