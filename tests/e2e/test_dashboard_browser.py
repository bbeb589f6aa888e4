"""End to end: events sent to the local Segment endpoint appear on the live dashboard in headless chromium.

The local stack runs in-process with the real-time job (PyFlink mini-cluster, fed from the moto stream) and the
dashboard; the test sends a known set of events over HTTP, opens the page in Debian's chromium (playwright-core
with its executablePath), and compares what the page shows with numbers computed here from what was sent.
Then it sends more events and checks the open page updates by itself, and opens the page once at each common
width (1,280, 1,400 and 1,920 px and a 390 px phone) to check every table fits its card, durations read as a
person would say them and the variants panel explains itself on a feature without an experiment.
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
from featurepulse.realtime import histogram
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
# A second feature without an experiment, used for a minute and a half (gus also viewed a page, so the active
# persons stay the same), from a campaign with a long name (a table must wrap it, not grow past its card).
OTHER_FEATURE = "saved-filters"
OTHER_USER, OTHER_CAMPAIGN, OTHER_DURATION_MS = "gus", "winter-retargeting-newsletter-for-lapsed-customers-2026", 95_000
DURATION_MS = 2000
WIDTHS = [1280, 1400, 1920]
PHONE = 390


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
            props: dict[str, Any] = {"feature": FEATURE, "experiment_id": "exp-ranking", "variation_id": variant}
            if stage in ("use", "complete"):
                props["duration_ms"] = DURATION_MS
            out.append(_event(user, NAMES[stage], props, campaign, at))
    out += [_event(u, "Page Viewed", {"path": "/"}, None, at) | {"type": "page"} for u in PAGE_VIEWERS]
    for stage in ("view", "use"):
        other: dict[str, Any] = {"feature": OTHER_FEATURE}
        if stage == "use":
            other["duration_ms"] = OTHER_DURATION_MS
        out.append(_event(OTHER_USER, NAMES[stage], other, OTHER_CAMPAIGN, at))
    return out


def _readable(duration_ms: int) -> str:
    """How the page should say a duration the job reports (its histogram's value for the bucket), as a person
    would: seconds with one decimal under a minute, minutes and seconds from there (the two cases used here)."""
    seconds = histogram.representative_ms(histogram.bucket_of(duration_ms)) / 1000
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60:02d} s"


def _overflows(layout: dict[str, Any]) -> list[str]:
    """Everything wider than where it sits: the page wider than the window, a table, chart or hint reaching past its
    card's content box, or scrolling inside it (1 px of slack for sub-pixel rounding)."""
    found = []
    if layout["pageScrollWidth"] > layout["pageClientWidth"]:
        found.append(f"page {layout['pageScrollWidth']} px wide in a {layout['pageClientWidth']} px window")
    for card in layout["cards"]:
        if card["left"] < -1 or card["right"] > layout["pageClientWidth"] + 1:
            found.append(f"{card['id']} card outside the window ({card['left']:.0f}-{card['right']:.0f} px)")
        if card["scrollWidth"] > card["clientWidth"] + 1:
            found.append(f"{card['id']} scrolls ({card['scrollWidth']} > {card['clientWidth']} px)")
        for kind in ("tables", "charts", "hints"):
            for box in card[kind]:
                if box["left"] < card["inner"]["left"] - 1 or box["right"] > card["inner"]["right"] + 1:
                    found.append(
                        f"{card['id']} {kind[:-1]} {box['width']:.0f} px wide, the card's content ends at "
                        f"{card['inner']['right']:.0f} px (it ends at {box['right']:.0f})"
                    )
        for box in card["scrollers"]:
            if box["scrollWidth"] > box["clientWidth"] + 1:
                found.append(f"{card['id']} table scrolls ({box['scrollWidth']} > {box['clientWidth']} px)")
    return found


def _post_batch(endpoint: str, write_key: str, events: list[dict[str, Any]]) -> None:
    url = urlsplit(endpoint)
    conn = http.client.HTTPConnection(str(url.hostname), url.port, timeout=30)
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

    def layout_at(self, width: int, **command: Any) -> dict[str, Any]:
        """One more page load at that viewport width; see the probe for `expect`, `choose`, `then_expect`."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"layout": width, "timeout_ms": 90_000} | command) + "\n")
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


@pytest.fixture(scope="module")
def day(stack: LocalStack) -> str:
    """The day's events (`_batch`), sent once to the Segment endpoint of the module's stack and drained; their time."""
    ctx = stack.context
    assert ctx is not None
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    _post_batch(ctx.endpoint, ctx.write_key, _batch(at))
    stack.drain(240)
    return at


def test_dashboard_shows_the_numbers_of_the_events_sent_and_updates_live(stack: LocalStack, day: str, tmp_path: Path):
    ctx = stack.context
    assert ctx is not None
    at = day
    # Given the day's events of five users of the feature and two page viewers, sent to the Segment endpoint
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
        assert page["adoption"] == [
            [FEATURE, str(adopters), f"{100 * adopters / active:.1f}%", ""],
            [OTHER_FEATURE, "1", f"{100 / active:.1f}%", ""],
        ]
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


def test_dashboard_fits_common_screen_widths_and_explains_what_it_shows(stack: LocalStack, day: str, tmp_path: Path):
    # Given the day's events: a feature with an experiment and two campaigns, one without an experiment
    assert day
    url = stack.address_book.snapshot()["dashboard_url"] + f"?feature={FEATURE}"
    probe = Probe(url, tmp_path / "dashboard.png")
    loaded = {"minute-feature": FEATURE}
    try:
        # When the page is opened once at each common desktop width, on the feature with an experiment
        for width in WIDTHS:
            seen = probe.layout_at(width, expect=loaded)
            assert seen["ok"], seen["first"]["snapshot"]["texts"]
            first = seen["first"]
            # Then nothing is wider than its card: not the campaigns table, not the variants table
            assert _overflows(first["layout"]) == [], (width, _overflows(first["layout"]))
            assert len(first["snapshot"]["campaigns"]) == 2 and len(first["snapshot"]["variants"]) == 2
            # and the time on the feature reads like a duration, not milliseconds
            want = _readable(DURATION_MS)
            assert first["snapshot"]["texts"]["time-on-feature"] == f"median {want}, 95% under {want}", width
        # When it is opened on a phone, then the other feature (no experiment) is chosen in the page
        seen = probe.layout_at(
            PHONE, height=844, expect=loaded, choose=OTHER_FEATURE, then_expect={"minute-feature": OTHER_FEATURE}
        )
        assert seen["ok"], seen
        assert seen["errors"] == []
        # Then on the phone too every table fits its card, for both features (a long campaign name wraps)
        assert _overflows(seen["first"]["layout"]) == [], _overflows(seen["first"]["layout"])
        chosen = seen["chosen"]
        assert _overflows(chosen["layout"]) == [], _overflows(chosen["layout"])
        assert [row[0] for row in chosen["snapshot"]["campaigns"]] == [OTHER_CAMPAIGN]
        # and the variants panel says there is no experiment on it and names the feature that has one
        (variants_card,) = [c for c in chosen["layout"]["cards"] if c["id"] == "card-variants"]
        (hint,) = variants_card["hints"]
        assert hint["visible"], hint
        assert hint["text"].startswith(f"No experiment on {OTHER_FEATURE} today."), hint["text"]
        assert FEATURE in hint["text"], hint["text"]
        assert chosen["snapshot"]["variants"] == []
        # and a minute and a half reads in minutes
        want = _readable(OTHER_DURATION_MS)
        assert " min " in want
        assert chosen["snapshot"]["texts"]["time-on-feature"] == f"median {want}, 95% under {want}"
        # and the footer speaks of minutes late, not of watermarks (those stay in the engineers' fold)
        footer = " ".join(chosen["snapshot"]["texts"]["footer"].split())
        assert "more than 5 minutes after it happened" in footer, footer
        assert "watermark" not in footer and "lateness" not in footer, footer
    finally:
        probe.close()
