"""No whole client IP reaches the quarantine or the stream, whatever the key's case or where it sits."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from tests.integration.ingest_support import Stack, invoke, moto_stack, proxy_event

WHOLE_IPS = ("203.0.113.77", "198.51.100.23", "192.0.2.45", "2002:cb00:714d::1", "2001:db8:85a3::7334")


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with moto_stack(monkeypatch) as created:
        yield created


def test_invalid_events_lose_every_ip_key_in_the_quarantine(stack: Stack) -> None:
    # Given invalid events (no userId/anonymousId) carrying IPs: in a context that is a list, under `IP`, deep in
    # properties, and a batch context with `Ip`
    body = {
        "context": {"Ip": "192.0.2.45", "locale": "en-US"},
        "batch": [
            {"type": "track", "event": "x", "context": [{"ip": "203.0.113.77"}, {"IP": "198.51.100.23"}]},
            {
                "type": "track",
                "event": "x",
                "IP": "2002:cb00:714d::1",
                "properties": {"a": [{"iP": "2001:db8:85a3::7334"}]},
            },
            {"type": "track", "event": "x", "context": {"ip": "203.0.113.77", "IP": "198.51.100.23"}},
        ],
    }

    # When the batch is sent
    status, _, answer = invoke(proxy_event("/v1/batch", body=body, write_key=stack.write_key))

    # Then all three are quarantined, and no whole IP is in the quarantine object
    assert status == 200
    assert [r["index"] for r in answer["rejected"]] == [0, 1, 2]
    rows = stack.quarantine_rows()
    assert len(rows) == 3
    stored = orjson.dumps(rows).decode()
    for ip in WHOLE_IPS:
        assert ip not in stored
    # And what is not an IP is kept (the batch context once per request, with the first row)
    assert any('"locale":"en-US"' in (row["batch"] or "") for row in rows)


def test_a_context_ip_spelled_in_capitals_is_not_stored_on_the_stream(stack: Stack) -> None:
    # Given a valid event whose context carries `IP` and `ip`, from a 6to4 client
    event = {
        "type": "track",
        "event": "x",
        "userId": "u1",
        "context": {"IP": "198.51.100.23", "ip": "2002:cb00:714d::1", "locale": "en-US"},
    }

    # When it is sent
    status, _, _ = invoke(proxy_event("/v1/track", body=event, write_key=stack.write_key))

    # Then the stored event keeps the 6to4 client's IPv4 /24 only, and its context no IP at all
    assert status == 200
    (stored,) = stack.stream_events()
    assert stored["ip_prefix"] == "203.0.113.0/24"
    assert orjson.loads(stored["context"]) == {"locale": "en-US"}
    for ip in WHOLE_IPS:
        assert ip not in orjson.dumps(stored).decode()
