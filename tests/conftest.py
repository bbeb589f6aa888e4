"""Shared test fixtures. Fixtures specific to one tier live in that tier's conftest.py."""

from __future__ import annotations

import os

import pytest

# No test may reach a real AWS account: fake credentials and a fixed region for boto3 everywhere.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SECURITY_TOKEN", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "FeaturePulseTest")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "featurepulse-test")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")


@pytest.fixture(autouse=True)
def _no_real_aws_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that need moto set AWS_ENDPOINT_URL themselves; nothing inherits a developer's shell."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)


# The suite's per-test timeout (pyproject.toml) is a hang guard. Tests that start a PyFlink mini-cluster take
# minutes on a loaded machine (the short soak starts two): their guard is wider, so load never fails them.
FLINK_TEST_TIMEOUT_S = 1800


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("flink") is not None and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(FLINK_TEST_TIMEOUT_S))
