"""The ingest Lambda against moto: routes, auth, limits, answers, quarantine, CORS, OpenAPI."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest

from featurepulse import constants
from featurepulse.domain.schema import EnrichedEvent
from featurepulse.sources import revoke_source
from tests.integration.ingest_support import (
    BUCKET,
    TABLE,
    Stack,
    invoke,
    load_event,
    moto_stack,
    proxy_event,
    reset_ingest_caches,
)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with moto_stack(monkeypatch) as created:
        yield created


SINGLE_ROUTES = [
    ("/v1/track", "segment_track_feature_used.json", "track"),
    ("/v1/page", "segment_page.json", "page"),
    ("/v1/screen", "segment_screen_mobile.json", "screen"),
    ("/v1/identify", "segment_identify.json", "identify"),
    ("/v1/group", "segment_group.json", "group"),
    ("/v1/alias", "segment_alias.json", "alias"),
    ("/v1/t", "segment_track_feature_used.json", "track"),
    ("/v1/p", "segment_page.json", "page"),
    ("/v1/s", "segment_screen_mobile.json", "screen"),
    ("/v1/i", "segment_identify.json", "identify"),
    ("/v1/g", "segment_group.json", "group"),
    ("/v1/a", "segment_alias.json", "alias"),
]


@pytest.mark.parametrize(("path", "sample", "event_type"), SINGLE_ROUTES)
def test_each_single_event_route_puts_its_event_on_the_stream(
    stack: Stack, path: str, sample: str, event_type: str
) -> None:
    # Given a valid call of the route's type, authenticated with Basic auth
    raw = load_event(sample)

    # When it is posted
    status, _, body = invoke(proxy_event(path, body=raw, write_key=stack.write_key))

    # Then it is accepted, and the stream holds it enriched with the source and the route's type
    assert (status, body) == (200, {"success": True, "accepted": 1, "rejected": []})
    (event,) = stack.stream_events()
    EnrichedEvent.model_validate(event)
    assert event["type"] == event_type
    assert event["event_id"] == raw["messageId"]
    assert event["source_id"] == stack.source_id
    assert event["received_at"] == "2026-11-25T12:00:01.500Z"
    assert stack.quarantine_keys() == []


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/b"])
def test_a_batch_puts_every_event_on_the_stream(stack: Stack, path: str) -> None:
    # Given a batch of a track, a page and an identify call
    batch = [load_event(n) for n in ("segment_track_feature_used.json", "segment_page.json", "segment_identify.json")]

    # When it is posted
    status, _, body = invoke(proxy_event(path, body={"batch": batch}, write_key=stack.write_key))

    # Then all three are on the stream
    assert (status, body["accepted"], body["rejected"]) == (200, 3, [])
    assert sorted(e["event_id"] for e in stack.stream_events()) == sorted(e["messageId"] for e in batch)


def test_the_stored_event_has_every_field_of_the_request(stack: Stack) -> None:
    # Given a feature track event from a browser in en-GB (the request says CloudFront-Viewer-Country: IE, a
    # header a client can write on the REGIONAL endpoint, so it is not read)
    raw = load_event("segment_track_feature_used.json")

    # When it is posted
    invoke(proxy_event("/v1/track", body=raw, write_key=stack.write_key))

    # Then the stored event has the enrichment, the locale's country and a truncated IP, never the whole IP
    (event,) = stack.stream_events()
    assert event["feature"] == "smart-reports"
    assert event["stage"] == "use"
    assert event["campaign_name"] == "winter_launch"
    assert (event["experiment_id"], event["variation_id"]) == ("exp-onboarding-v2", "treatment")
    assert event["country"] == "GB"
    assert event["ip_prefix"] == "203.0.113.0/24"
    assert event["timestamp"] == "2026-11-25T11:59:59.750Z"  # sent 1.75 s after it happened
    assert "203.0.113.77" not in json.dumps(event)
    assert "198.51.100.23" not in json.dumps(event)


def test_the_write_key_may_travel_in_the_body(stack: Stack) -> None:
    # Given a batch carrying writeKey and no Authorization header (analytics.js does this)
    body = {"batch": [load_event("segment_page.json")], "writeKey": stack.write_key}

    # When it is posted
    status, _, answer = invoke(proxy_event("/v1/batch", body=body))

    # Then it is accepted
    assert (status, answer["accepted"]) == (200, 1)


def test_header_names_are_case_insensitive(stack: Stack) -> None:
    # Given an HTTP/2 client that sends lower-case header names
    event = proxy_event("/v1/page", body=load_event("segment_page.json"))
    event["headers"]["authorization"] = "Basic " + base64.b64encode(f"{stack.write_key}:".encode()).decode()

    # When it is posted / Then the key is read
    status, _, _ = invoke(event)
    assert status == 200
    assert len(stack.stream_events()) == 1


@pytest.mark.parametrize(
    ("headers", "body_key", "error"),
    [
        ({}, None, "missing_write_key"),
        ({"Authorization": "Basic " + base64.b64encode(b"not-a-key:").decode()}, None, "invalid_write_key"),
        ({}, "not-a-key", "invalid_write_key"),
        ({"Authorization": "Bearer token"}, None, "invalid_authorization"),
    ],
)
def test_missing_unknown_and_malformed_keys_get_401(
    stack: Stack, headers: dict[str, str], body_key: str | None, error: str
) -> None:
    # Given a request without a key, with an unknown key, or with a non-Basic Authorization header
    body: dict[str, Any] = {"batch": [load_event("segment_page.json")]}
    if body_key:
        body["writeKey"] = body_key

    # When it is posted
    status, _, answer = invoke(proxy_event("/v1/batch", body=body, headers=headers))

    # Then it gets 401 with the reason, and nothing is stored
    assert status == 401
    assert answer["success"] is False
    assert answer["code"] == error
    assert stack.stream_events() == []


def test_a_bad_basic_auth_key_is_refused_before_the_body_is_read(stack: Stack) -> None:
    # Given an unknown key in the Authorization header and a malformed body
    event = proxy_event("/v1/batch", raw_body="{not json", write_key="not-a-key")

    # When it is posted / Then the answer is 401, not 400: nothing is learnt about the body without a key
    status, _, answer = invoke(event)
    assert (status, answer["code"]) == (401, "invalid_write_key")


def test_a_revoked_key_gets_401(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a source whose key worked, revoked, with a write-key cache of 0 s
    with moto_stack(monkeypatch, **{constants.ENV_SOURCES_CACHE_TTL_SECONDS: "0"}) as stack:
        event = proxy_event("/v1/identify", body=load_event("segment_identify.json"), write_key=stack.write_key)
        assert invoke(event)[0] == 200
        revoke_source(TABLE, stack.source_id, dynamodb_client=stack.dynamodb)

        # When its key is used again
        status, _, answer = invoke(event)

        # Then it gets 401 revoked
        assert (status, answer["code"]) == (401, "revoked_write_key")


def test_a_revocation_takes_effect_only_after_the_cache_ttl(stack: Stack) -> None:
    # Given a key checked once (cached for the default 60 s), then revoked
    event = proxy_event("/v1/identify", body=load_event("segment_identify.json"), write_key=stack.write_key)
    assert invoke(event)[0] == 200
    revoke_source(TABLE, stack.source_id, dynamodb_client=stack.dynamodb)

    # When it is used within the TTL, and again in a new process (cache gone)
    within_ttl = invoke(event)[0]
    reset_ingest_caches()
    after = invoke(event)[0]

    # Then the cached answer holds until the TTL (documented), and a fresh lookup refuses it
    assert (within_ttl, after) == (200, 401)


@pytest.mark.parametrize(
    ("raw_body", "error"),
    [
        ("{not json", "malformed_json"),
        ("[]", "malformed_json"),
        ('{"batch": "nope"}', "malformed_batch"),
    ],
)
def test_malformed_bodies_get_400_with_a_reason(stack: Stack, raw_body: str, error: str) -> None:
    # Given a malformed body from an authenticated client
    # When it is posted
    status, _, answer = invoke(proxy_event("/v1/batch", raw_body=raw_body, write_key=stack.write_key))

    # Then it gets 400 with the reason, and nothing is stored
    assert (status, answer["code"]) == (400, error)
    assert answer["message"]
    assert stack.stream_events() == []


def test_a_request_over_500_kb_gets_413(stack: Stack) -> None:
    # Given a 600 KB batch
    event = {**load_event("segment_page.json"), "properties": {"pad": "x" * 6000}}
    body = {"batch": [event] * 100}

    # When it is posted
    status, _, answer = invoke(proxy_event("/v1/batch", body=body, write_key=stack.write_key))

    # Then it gets 413 with the limit in the reason, and nothing is stored
    assert (status, answer["code"]) == (413, "request_too_large")
    assert "500 KB" in answer["message"]
    assert stack.stream_events() == []


def test_a_single_event_over_32_kb_gets_413(stack: Stack) -> None:
    # Given a 40 KB track call
    raw = {**load_event("segment_track_feature_used.json"), "properties": {"pad": "x" * 40_000}}

    # When it is posted / Then it gets 413
    status, _, answer = invoke(proxy_event("/v1/track", body=raw, write_key=stack.write_key))
    assert (status, answer["code"]) == (413, "event_too_large")


def test_a_mixed_batch_stores_valid_events_and_quarantines_invalid_ones(stack: Stack) -> None:
    # Given the mixed batch (4 valid events; a track without event, a page without identity, a future event)
    body = load_event("segment_batch_mixed.json")

    # When it is posted
    status, _, answer = invoke(proxy_event("/v1/batch", body=body, write_key=stack.write_key))

    # Then the answer is 200 listing the rejected indexes with their reasons
    assert status == 200
    assert answer["accepted"] == 4
    assert [r["index"] for r in answer["rejected"]] == [1, 3, 5]
    assert all(r["reason"] for r in answer["rejected"])
    # And the valid events are on the stream
    assert sorted(e["event_id"] for e in stack.stream_events()) == ["mixed-0", "mixed-2", "mixed-4", "mixed-6"]
    # And the invalid ones are in one quarantine object, with reason, raw event and identity, without the IP
    (key,) = stack.quarantine_keys()
    assert key.startswith("quarantine/dt=2026-11-25/hr=12/")
    assert key.endswith("-c6af9ac6-7b61-11e6-9a41-93e8deadbeef.jsonl")
    rows = stack.quarantine_rows()
    assert [(r["index"], r["reason"]) for r in rows] == [(r["index"], r["reason"]) for r in answer["rejected"]]
    assert [json.loads(r["raw"])["messageId"] for r in rows] == ["mixed-1", "mixed-3", "mixed-5"]
    assert rows[0]["user_id"] == "user-2"
    assert all(r["source_id"] == stack.source_id for r in rows)
    assert "192.0.2.11" not in json.dumps(rows)


def test_a_gzip_body_is_accepted(stack: Stack) -> None:
    # Given a batch gzip-compressed, delivered base64-encoded as API Gateway does for binary bodies
    body = json.dumps({"batch": [load_event("segment_identify.json")]}).encode()
    raw_body = base64.b64encode(gzip.compress(body)).decode()

    # When it is posted with Content-Encoding: gzip
    status, _, answer = invoke(
        proxy_event(
            "/v1/batch",
            raw_body=raw_body,
            is_base64=True,
            write_key=stack.write_key,
            headers={"Content-Encoding": "gzip"},
        )
    )

    # Then it is accepted
    assert (status, answer["accepted"]) == (200, 1)


def test_the_stage_map_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a stage map that maps "Report Exported" to complete
    with moto_stack(monkeypatch, **{constants.ENV_STAGE_MAP: '{"Report Exported": "complete"}'}) as stack:
        raw = {"event": "Report Exported", "userId": "u", "properties": {"feature": "bulk-export"}}

        # When such an event is posted
        invoke(proxy_event("/v1/track", body=raw, write_key=stack.write_key))

        # Then it is stored with that stage
        (event,) = stack.stream_events()
        assert event["stage"] == "complete"


def test_a_cors_preflight_allows_browser_sdks(stack: Stack) -> None:
    # Given a browser's preflight for a POST with Authorization and Content-Type
    event = proxy_event(
        "/v1/batch",
        method="OPTIONS",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )

    # When it is sent
    status, headers, _ = invoke(event)

    # Then it is allowed
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "*"
    allowed = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in headers["Access-Control-Allow-Methods"]


def test_answers_to_browsers_carry_cors_headers(stack: Stack) -> None:
    # Given a POST from a web page
    event = proxy_event(
        "/v1/page",
        body=load_event("segment_page.json"),
        write_key=stack.write_key,
        headers={"Origin": "https://app.example.com"},
    )

    # When it is answered / Then the answer may be read by the page
    status, headers, _ = invoke(event)
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_the_openapi_document_is_generated_from_the_code(stack: Stack) -> None:
    # Given the running API
    # When /openapi.json is fetched without a key
    status, _, document = invoke(proxy_event("/openapi.json", method="GET"))

    # Then it lists the seven routes with their request bodies, answers and Basic-auth security
    assert status == 200
    assert document["openapi"].startswith("3.")
    routes = ["batch", "track", "page", "screen", "identify", "group", "alias"]
    assert sorted(document["paths"]) == sorted(f"/v1/{r}" for r in routes)
    track = document["paths"]["/v1/track"]["post"]
    assert track["requestBody"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/TrackEvent"
    assert {"200", "400", "401", "413", "503"} <= set(track["responses"])
    schemas = document["components"]["schemas"]
    assert "event" in schemas["TrackEvent"]["required"]
    assert schemas["BatchRequest"]["properties"]["batch"]["items"]["discriminator"]["propertyName"] == "type"
    assert document["components"]["securitySchemes"]["writeKey"]["scheme"] == "basic"


def test_unknown_paths_get_404(stack: Stack) -> None:
    # Given a path the API does not serve / When it is requested / Then 404
    assert invoke(proxy_event("/v2/track", body={}))[0] == 404


def test_quarantine_objects_use_the_configured_kms_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a quarantine KMS key configured
    with moto_stack(monkeypatch) as stack:
        key_arn = __import__("boto3").client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
        monkeypatch.setenv(constants.ENV_QUARANTINE_KMS_KEY_ARN, key_arn)
        reset_ingest_caches()

        # When an invalid event is quarantined
        invoke(proxy_event("/v1/track", body={"userId": "u"}, write_key=stack.write_key))

        # Then its object is encrypted with that key
        (key,) = stack.quarantine_keys()
        head = stack.s3.head_object(Bucket=BUCKET, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == key_arn


def test_identical_calls_without_message_id_are_told_they_count_once(stack: Stack) -> None:
    # Given a hand-written call without messageId (what a curl user sends), sent twice
    raw = {"userId": "u1", "event": "Feature Used", "properties": {"feature": "smart-reports"}}
    answers = [invoke(proxy_event("/v1/track", body=raw, write_key=stack.write_key)) for _ in range(2)]
    # Then each answer says its id was derived from the content, so the repeat counts once
    for status, _, body in answers:
        assert status == 200 and body["accepted"] == 1
        assert body["generated_ids"] == 1
        assert "counted once" in body["note"]
    # And both calls carry the same event id on the stream (downstream de-duplication keeps one)
    first, second = stack.stream_events()
    assert first["event_id"] == second["event_id"]


def test_a_call_with_message_id_gets_no_note(stack: Stack) -> None:
    # Given an SDK call (with messageId) / When posted
    status, _, body = invoke(
        proxy_event("/v1/track", body=load_event("segment_track_feature_used.json"), write_key=stack.write_key)
    )
    # Then the answer has no generated-id fields
    assert status == 200 and "generated_ids" not in body and "note" not in body
