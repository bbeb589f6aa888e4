"""Real-time aggregation (DESIGN.md section 3): the pure arithmetic shared by the Flink job, the local
runtime, the dashboard and the tests.

The modules the Flink job imports (settings, windows, histogram, events, metrics, items, sql; `model` too) are
plain standard-library Python: the job runs in PyFlink's own virtual environment and in Managed Service for
Apache Flink, which installs nothing (a test checks the application package). `panels` (pydantic), `dal`
(boto3), `local` (the local runtime component) and `cli` are for the main runtime only.
"""
