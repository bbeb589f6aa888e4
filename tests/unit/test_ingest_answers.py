"""The answer bodies are what the OpenAPI document says they are."""

from __future__ import annotations

from featurepulse.ingest.answers import Accepted, Refused, accepted_body, refused_body
from featurepulse.ingest.request import PreparedRequest, Rejection


def test_the_200_body_is_an_accepted_answer() -> None:
    # Given a request with 3 accepted events and one rejected
    prepared = PreparedRequest(accepted=3, rejections=[Rejection(index=2, reason="userId or anonymousId is required")])

    # When its answer is written / Then it validates as the documented model, with the rejection listed
    answer = Accepted.model_validate_json(accepted_body(prepared))
    assert answer.success is True
    assert answer.accepted == 3
    assert [(r.index, r.reason) for r in answer.rejected] == [(2, "userId or anonymousId is required")]


def test_a_refusal_body_is_a_refused_answer_with_segments_field_names() -> None:
    # Given a refusal / When its answer is written / Then it validates as the model, with code and message
    answer = Refused.model_validate_json(refused_body("invalid_write_key", "unknown write key"))
    assert (answer.success, answer.code, answer.message) == (False, "invalid_write_key", "unknown write key")
