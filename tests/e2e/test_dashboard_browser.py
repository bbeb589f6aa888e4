"""End to end: events sent to the local Segment endpoint appear on the live dashboard in headless chromium.

The local stack runs in-process with the real-time job (PyFlink mini-cluster, fed from the moto stream) and the
dashboard; the test sends a known set of events over HTTP, opens the page in Debian's chromium (playwright-core
with its executablePath), and compares what the page shows with numbers computed here from what was sent.
Then it sends more events and checks the open page updates by itself.
"""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from featurepulse.domain.stages import DEFAULT_STAGE_MAP
from featurepulse.local.runtime import LocalStack, LocalStackOptions
from featurepulse.realtime.local import flink_python

pytestmark = [pytest.mark.flink, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).parent / "dashboard_probe.mjs"
FEATURE = "smart-search"
NAMES = {stage: name for name, stage in DEFAULT_STAGE_MAP.items()}

# (user, stage, campaign, variant): what each user of the feature does today.
JOURNEYS: list[tuple[str, list[str], str | None, str]] = [
    ("ana", ["view", "use", "complete"], "launch-mail", "B"),
    ("ben", ["view", "use"], "launch-mail", "A"),
    ("cai", ["view", "dismiss"], None, "A"),
    ("dee", ["view", "use", "complete"], "spring-ads", "B"),
    ("eli", ["view"], "spring-ads", "A"),
]
PAGE_VIEWERS = ["fay", "gus"]  # active persons who never touch the feature


def _event(user: str, event: str, properties: dict[str, Any], campaign: str | None, at: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "track",
        "event": event,
        "userId": user,
        "messageId": str(uuid.uuid4()),
        "timestamp": at,
        "properties": properties,
    }
    if campaign:
        body["context"] = {"campaign": {"name": campaign, "source": "newsletter", "medium": "email"}}
    return body


def _batch(at: str) -> list[dict[str, Any]]:
    out = []
    for user, stages, campaign, variant in JOURNEYS:
        for stage in stages:
            props = {"feature": FEATURE, "experiment_id": "exp-ranking", "variation_id": variant}
            if stage in ("use", "complete"):
                props["duration_ms"] = 2000
            out.append(_event(user, NAMES[stage], props, campaign, at))
    out += [_event(u, "Page Viewed", {"path": "/"}, None, at) | {"type": "page"} for u in PAGE_VIEWERS]
    return out


def _post_batch(endpoint: str, write_key: str, events: list[dict[str, Any]]) -> None:
    url = urlsplit(endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    auth = base64.b64encode(f"{write_key}:".encode()).decode()
    body = json.dumps({"batch": events, "sentAt": events[0]["timestamp"]})
    conn.request("POST", "/v1/batch", body, {"Content-Type": "application/json", "Authorization": f"Basic {auth}"})
    answer = conn.getresponse()
    text = answer.read().decode()
    assert answer.status == 200, text
    assert "rejected" not in json.loads(text) or not json.loads(text)["rejected"], text


class Probe:
    """The dashboard open in headless chromium (tests/e2e/dashboard_probe.mjs)."""

    def __init__(self, url: str, screenshot: Path) -> None:
        self.process = subprocess.Popen(
            ["node", str(PROBE), url, str(screenshot)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )

    def wait_for(self, expect: dict[str, str], timeout_ms: int = 90_000) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"expect": expect, "timeout_ms": timeout_ms}) + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        return answer

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    if not flink_python().exists() or shutil.which("node") is None or not Path("/usr/bin/chromium").exists():
        pytest.fail("needs .venv-flink, node and /usr/bin/chromium: run `make setup`")
    options = LocalStackOptions(
        root=tmp_path_factory.mktemp("stack") / ".featurepulse",
        port=0,
        port_is_default=False,
        components=("featurepulse.realtime.local:LocalFlink", "featurepulse.local.dashboard:LocalDashboard"),
    )
    stack = LocalStack(options)
    stack.start()
    yield stack
    stack.stop()


def test_dashboard_shows_the_numbers_of_the_events_sent_and_updates_live(stack: LocalStack, tmp_path: Path):
    ctx = stack.context
    assert ctx is not None
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    # Given the day's events of five users of the feature and two page viewers, sent to the Segment endpoint
    _post_batch(ctx.endpoint, ctx.write_key, _batch(at))
    stack.drain(240)
    # (what they amount to, computed from the journeys)
    users_at = {s: sum(1 for _, stages, _, _ in JOURNEYS if s in stages) for s in NAMES}
    feature_events = sum(len(stages) for _, stages, _, _ in JOURNEYS)
    active = len(JOURNEYS) + len(PAGE_VIEWERS)
    adopters = sum(1 for _, stages, _, _ in JOURNEYS if {"use", "complete"} & set(stages))
    # When the dashboard is opened on the feature
    url = stack.address_book.snapshot()["dashboard_url"] + f"?feature={FEATURE}"
    probe = Probe(url, tmp_path / "dashboard.png")
    try:
        seen = probe.wait_for({"active-persons": str(active), "hour-events": str(feature_events)})
        # Then it shows those numbers: events per minute, funnel, active persons and adoption, campaigns, variants
        assert seen["ok"], seen
        page = seen["snapshot"]
        assert seen["errors"] == []
        assert page["series"] == ["view", "use", "complete", "dismiss"]
        assert page["texts"]["minute-feature"] == FEATURE
        assert page["texts"]["day-source"] == "live"
        assert page["texts"]["funnel-persons-view"] == str(users_at["view"])
        assert page["texts"]["funnel-persons-use"] == str(users_at["use"])
        assert page["texts"]["funnel-persons-complete"] == str(users_at["complete"])
        assert page["texts"]["funnel-adopters"] == str(adopters)
        assert page["texts"]["completers-per-viewer"] == f"{100 * users_at['complete'] / users_at['view']:.1f}%"
        assert page["texts"]["late-events"] == "0"
        # adoption rate = adopters (ana ben dee: used or completed) / active persons, as in the report
        assert page["adoption"] == [[FEATURE, str(adopters), f"{100 * adopters / active:.1f}%", ""]]
        # campaigns by viewers: launch-mail (ana ben), spring-ads (dee eli); completers per viewer
        assert [row[:2] + row[-1:] for row in page["campaigns"]] == [
            ["launch-mail", "2", "50.0%"],
            ["spring-ads", "2", "50.0%"],
        ]
        # variants side by side: A (ben cai eli: nobody completes), B (ana dee: both complete)
        assert [[row[0], row[1], row[4], row[5]] for row in page["variants"]] == [
            ["exp-ranking / A", "3", "0", "0.0%"],
            ["exp-ranking / B", "2", "2", "100.0%"],
        ]
        # When a new user views the feature while the page is open
        _post_batch(ctx.endpoint, ctx.write_key, [_event("hal", NAMES["view"], {"feature": FEATURE}, None, at)])
        # Then the page shows it without being reloaded
        later = probe.wait_for({"active-persons": str(active + 1), "funnel-persons-view": str(users_at["view"] + 1)})
        assert later["ok"], later["snapshot"]["texts"]
    finally:
        probe.close()
