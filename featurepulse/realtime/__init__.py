"""Real-time aggregation (DESIGN.md section 3): the pure arithmetic shared by the Flink job, the local
runtime, the dashboard and the tests.

Everything in this package is plain standard-library Python: the Flink job imports it inside PyFlink's
own virtual environment (and inside Managed Service for Apache Flink, which installs nothing), so no
pydantic, orjson, pyarrow or boto3 here, except in `dal.py`, which only the main runtime imports.
"""
