"""Schemathesis against the local endpoint's `/openapi.json`: the real handler over HTTP, with moto behind it.

The local endpoint (`featurepulse.local.endpoint`) serves `lambdas.ingest.handler.lambda_handler` as API Gateway
would. Schemathesis reads the published OpenAPI document and generates requests for every operation, valid
bodies (positive) and invalid ones (negative), with the write key of an active source. For each answer:
- no 5xx (there is no AWS outage here: a 5xx is a bug);
- the status, content type and body conform to the document;
- no valid event lost: on a 200, every event sent is on the stream or listed as rejected, and the stream grew by
  exactly the accepted count;
- nothing stored over the limits (32 KB per stored event) and no whole client IP (the endpoint's clients are at
  127.0.0.1) on the stream, in the quarantine or in the logs.

Bounded for `make test`: a fixed number of examples per operation and mode, derandomized, no shrinking.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from featurepulse.ingest.limits import MAX_EVENT_BYTES
from featurepulse.local.endpoint import LocalApiEndpoint
from tests.integration.ingest_support import Stack, StoredSince, basic_auth, moto_stack, service_logs

EXAMPLES_PER_OPERATION = 12
CLIENT_IP = "127.0.0.1"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stack, LocalApiEndpoint]]:
    from lambdas.ingest.handler import lambda_handler

    with moto_stack(monkeypatch) as stack, LocalApiEndpoint(lambda_handler) as endpoint:
        yield stack, endpoint


def events_sent(case: Any) -> int:
    body = case.body
    if case.path == "/v1/batch":
        return len(body["batch"]) if isinstance(body, dict) and isinstance(body.get("batch"), list) else 0
    return 1


def test_generated_requests_from_the_openapi_document_get_no_5xx_and_lose_nothing(
    served: tuple[Stack, LocalApiEndpoint],
) -> None:
    # Given the real handler behind the local endpoint, its OpenAPI document, and an active write key
    stack, endpoint = served
    schema = schemathesis.openapi.from_url(f"{endpoint.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert {operation.path for operation in operations} >= {"/v1/batch", "/v1/track", "/v1/identify"}
    headers = {"Authorization": basic_auth(stack.write_key)}
    seen: dict[int, int] = {}
    storage = StoredSince(stack)

    with service_logs() as logs:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @settings(
                    max_examples=EXAMPLES_PER_OPERATION,
                    derandomize=True,
                    deadline=None,
                    database=None,
                    phases=(Phase.explicit, Phase.generate),
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(generation_mode=mode))
                def exchange(case: Any) -> None:
                    # When schemathesis sends a generated request
                    response = case.call(base_url=endpoint.url, headers=headers)
                    seen[response.status_code] = seen.get(response.status_code, 0) + 1

                    # Then it conforms to the document and is no server error
                    case.validate_response(response, checks=CHECKS)
                    new_lines = storage.new_lines()
                    quarantine = storage.new_quarantine_objects()
                    if response.status_code == 200:
                        # And every event sent is on the stream or listed as rejected
                        answer = response.json()
                        assert answer["accepted"] + len(answer["rejected"]) == events_sent(case)
                        assert len(new_lines) == answer["accepted"]
                    else:
                        assert not new_lines
                        assert not quarantine
                    # And nothing stored is over the limit or carries the client's whole IP
                    for line in new_lines:
                        assert len(line) <= MAX_EVENT_BYTES
                        assert CLIENT_IP not in line.decode()
                    for data in quarantine:
                        assert CLIENT_IP not in data.decode()

                exchange()

    # And the run exercised accepted and refused requests, and the logs never held the client's IP
    assert seen.get(200) and any(400 <= status < 500 for status in seen), seen
    assert all(CLIENT_IP not in text for text in logs.texts)
