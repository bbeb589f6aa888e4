"""Synthetic traffic for the local stack: realistic users of a product that is rolling out new features.

Users arrive anonymous (some from UTM campaigns), browse (page / screen events), some sign in (identify with
traits: plan, signup date, role; alias) and belong to accounts (group, with the account's traits: name, company
size, industry); they discover features and go through the funnel view -> use -> complete, or
dismiss them, with time on feature. One feature runs an A/B test: users are assigned a variant on their first
exposure (`Experiment Viewed`) and variant B converts better. Device clocks are sometimes wrong, so events
carry a skewed `timestamp` and `sentAt` that the server corrects. A few invalid events ride in otherwise
valid batches (no user id, track without event name, over 32 KB) and must land in quarantine.

Everything is drawn from one seeded `random.Random`: the same seed and the same clock give the same requests.
Requests go over real HTTP to the Segment-compatible endpoint with Basic auth, the way SDKs send them.
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from featurepulse.domain.schema import format_timestamp, parse_timestamp
from featurepulse.domain.stages import (
    DEFAULT_STAGE_MAP,
    EXPERIMENT_VIEWED,
    STAGE_COMPLETE,
    STAGE_DISMISS,
    STAGE_USE,
    STAGE_VIEW,
)

# Labels of the invalid events the generator sends on purpose (the server names its own reasons).
INVALID_NO_IDENTITY = "no userId or anonymousId"
INVALID_TRACK_WITHOUT_EVENT = "track without event"
INVALID_OVERSIZE = "event over 32 KB"
INVALID_KINDS: tuple[str, ...] = (INVALID_NO_IDENTITY, INVALID_TRACK_WITHOUT_EVENT, INVALID_OVERSIZE)

MAX_EVENTS_PER_BATCH = 100
STAGE_OF_EVENT = {name: stage for name, stage in DEFAULT_STAGE_MAP.items()}
EVENT_OF_STAGE = {stage: name for name, stage in DEFAULT_STAGE_MAP.items()}


@dataclass(frozen=True)
class FeatureSpec:
    """A feature being rolled out and how users take to it (probabilities of the next funnel step)."""

    feature_id: str
    weight: float
    use_p: float
    complete_p: float
    dismiss_p: float
    median_duration_ms: int
    experiment_id: str | None = None


@dataclass(frozen=True)
class Campaign:
    name: str
    source: str
    medium: str
    term: str | None = None
    content: str | None = None

    def as_context(self) -> dict[str, str]:
        out = {"name": self.name, "source": self.source, "medium": self.medium}
        if self.term:
            out["term"] = self.term
        if self.content:
            out["content"] = self.content
        return out


EXPERIMENT_ID = "ai-summary-onboarding"
EXPERIMENT_NAME = "AI summary: guided onboarding"
VARIANTS: tuple[str, ...] = ("A", "B")
# Variant B (guided onboarding) lifts use and completion of the experiment's feature.
VARIANT_LIFT = {"A": (1.0, 1.0), "B": (1.35, 1.3)}

FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("smart-search", 0.35, use_p=0.7, complete_p=0.6, dismiss_p=0.2, median_duration_ms=9_000),
    FeatureSpec("bulk-edit", 0.2, use_p=0.45, complete_p=0.5, dismiss_p=0.35, median_duration_ms=42_000),
    FeatureSpec(
        "ai-summary",
        0.3,
        use_p=0.45,
        complete_p=0.5,
        dismiss_p=0.3,
        median_duration_ms=18_000,
        experiment_id=EXPERIMENT_ID,
    ),
    FeatureSpec("dark-mode", 0.15, use_p=0.55, complete_p=0.9, dismiss_p=0.1, median_duration_ms=2_500),
)

CAMPAIGNS: tuple[Campaign | None, ...] = (
    Campaign("spring-launch", "newsletter", "email", content="hero-button"),
    Campaign("ai-summary-beta", "google", "cpc", term="ai summary tool", content="ad-variant-2"),
    Campaign("partner-webinar", "linkedin", "social"),
    None,
    None,
    None,
)

PLATFORMS: tuple[str, ...] = ("web", "web", "web", "ios", "android")
COUNTRIES: tuple[tuple[str, str, str], ...] = (
    # (country, locale, timezone)
    ("US", "en-US", "America/New_York"),
    ("DE", "de-DE", "Europe/Berlin"),
    ("FR", "fr-FR", "Europe/Paris"),
    ("GB", "en-GB", "Europe/London"),
    ("BR", "pt-BR", "America/Sao_Paulo"),
    ("JP", "ja-JP", "Asia/Tokyo"),
)
WEB_PAGES: tuple[tuple[str, str], ...] = (
    ("/", "Home"),
    ("/projects", "Projects"),
    ("/projects/roadmap", "Roadmap"),
    ("/settings", "Settings"),
    ("/pricing", "Pricing"),
)
SCREENS: tuple[str, ...] = ("Home", "Projects", "Project Detail", "Settings", "Search")
APP_VERSIONS: tuple[str, ...] = ("4.2.0", "4.2.1", "4.3.0")
OTHER_TRACK_EVENTS: tuple[str, ...] = ("Signed In", "Project Created", "Comment Added", "File Uploaded")
# Traits (docs/segments.md). A user's plan is drawn when they sign in; role and signup date come from a generator
# of their own (`user_profile`), so adding traits never changes the rest of the traffic.
PLANS: tuple[str, ...] = ("free", "pro", "enterprise")
ROLES: tuple[str, ...] = ("admin", "member", "member", "viewer")
COMPANY_SIZES: tuple[str, ...] = ("1-10", "11-50", "51-200", "201-1000", "1000+")
INDUSTRIES: tuple[str, ...] = ("software", "retail", "finance", "education", "health")
SIGNUP_FIRST_DAY = date(2025, 6, 1)
SIGNUP_DAYS = 540


def user_profile(seed: int, user_id: str) -> dict[str, str]:
    """The identify traits of a signed-in user besides the plan: role and signup date (stable per user id)."""
    rng = random.Random(f"{seed}/{user_id}")
    signup = SIGNUP_FIRST_DAY + timedelta(days=rng.randrange(SIGNUP_DAYS))
    return {"role": rng.choice(ROLES), "signup_date": signup.isoformat()}


def account_traits(account_id: str) -> dict[str, Any]:
    """The traits every group call of an account sends (stable per account id: `acct_007` is always the same)."""
    rng = random.Random(f"account/{account_id}")
    return {
        "name": f"Account {account_id[-3:]}",
        "size": rng.choice(COMPANY_SIZES),
        "industry": rng.choice(INDUSTRIES),
    }


@dataclass
class SyntheticUser:
    anonymous_id: str
    platform: str
    country: str
    locale: str
    timezone: str
    ip: str
    user_agent: str
    app_version: str
    clock_skew_ms: int
    account_id: str | None
    user_id: str | None = None
    variant: str | None = None
    sessions: int = 0
    # The identify traits sent when the user signed in (docs/segments.md): plan, role, signup_date.
    traits: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SentMessage:
    """What the generator meant by one message (to compare with what came out of the pipeline)."""

    message_id: str | None
    type: str
    event: str | None = None
    feature: str | None = None
    stage: str | None = None
    invalid: str | None = None


@dataclass(frozen=True)
class OutgoingRequest:
    route: str
    payload: dict[str, Any]
    messages: tuple[SentMessage, ...]


@dataclass
class _PlannedMessage:
    body: dict[str, Any]
    meta: SentMessage


@dataclass
class _Session:
    user: SyntheticUser
    session_id: str
    campaign: Campaign | None
    steps: list[_PlannedMessage]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return f"2001:db8:{rng.randrange(1 << 16):x}:{rng.randrange(1 << 16):x}::{rng.randrange(1 << 16):x}"
    first = rng.choice((198, 203, 192))
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _user_agent(platform: str, app_version: str) -> str:
    if platform == "ios":
        return f"Acme/{app_version} (iPhone; iOS 18.1; Scale/3.00)"
    if platform == "android":
        return f"Acme/{app_version} (Linux; Android 15; Pixel 9)"
    return (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15"
    )


class TrafficGenerator:
    """Builds the Segment requests of a population of simulated users, tick by tick."""

    def __init__(self, seed: int = 7, *, concurrent_sessions: int = 12, invalid_rate: float = 0.02) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.concurrent_sessions = concurrent_sessions
        self.invalid_rate = invalid_rate
        self.users: list[SyntheticUser] = []
        self._sessions: list[_Session] = []
        self._next_user_number = 1
        self._invalid_cycle = 0

    # --- population ------------------------------------------------------------------------------

    def _new_user(self) -> SyntheticUser:
        rng = self.rng
        platform = rng.choice(PLATFORMS)
        country, locale, tz = rng.choice(COUNTRIES)
        app_version = rng.choice(APP_VERSIONS)
        skew = 0 if rng.random() < 0.8 else rng.choice((-1, 1)) * rng.randrange(5_000, 15 * 60_000)
        user = SyntheticUser(
            anonymous_id=_uuid(rng),
            platform=platform,
            country=country,
            locale=locale,
            timezone=tz,
            ip=_ip(rng),
            user_agent=_user_agent(platform, app_version),
            app_version=app_version,
            clock_skew_ms=skew,
            account_id=f"acct_{rng.randrange(1, 25):03d}" if rng.random() < 0.6 else None,
        )
        self.users.append(user)
        return user

    def _pick_user(self) -> SyntheticUser:
        active = {s.user.anonymous_id for s in self._sessions}
        returning = [u for u in self.users if u.anonymous_id not in active]
        if returning and self.rng.random() < 0.35:
            return self.rng.choice(returning)
        return self._new_user()

    # --- sessions ----------------------------------------------------------------------------------

    def _base(self, session: _Session, kind: str) -> dict[str, Any]:
        user = session.user
        context: dict[str, Any] = {
            "ip": user.ip,
            "locale": user.locale,
            "timezone": user.timezone,
            "userAgent": user.user_agent,
            "location": {"country": user.country},
            "sessionId": session.session_id,
        }
        if user.platform == "web":
            context["library"] = {"name": "analytics.js", "version": "next-1.70.0"}
        else:
            context["library"] = {"name": f"analytics-{user.platform}", "version": "1.6.0"}
            context["app"] = {"name": "Acme", "version": user.app_version, "build": "421"}
            context["device"] = {"type": user.platform, "model": "iPhone16,2" if user.platform == "ios" else "Pixel 9"}
            context["os"] = {"name": "iOS" if user.platform == "ios" else "Android", "version": "18.1"}
        if session.campaign is not None:
            context["campaign"] = session.campaign.as_context()
        body: dict[str, Any] = {"type": kind, "messageId": _uuid(self.rng), "anonymousId": user.anonymous_id}
        if user.user_id:
            body["userId"] = user.user_id
        body["context"] = context
        return body

    def _step(self, session: _Session, kind: str, **fields: Any) -> None:
        body = self._base(session, kind)
        body.update(fields)
        event = fields.get("event")
        feature = (fields.get("properties") or {}).get("feature") if kind == "track" else None
        stage = STAGE_OF_EVENT.get(event) if (event and feature) else None
        session.steps.append(
            _PlannedMessage(
                body=body,
                meta=SentMessage(message_id=body["messageId"], type=kind, event=event, feature=feature, stage=stage),
            )
        )

    def _view(self, session: _Session, index: int) -> None:
        if session.user.platform == "web":
            path, title = WEB_PAGES[index % len(WEB_PAGES)]
            page: dict[str, Any] = {"path": path, "title": title, "url": f"https://app.acme.example{path}"}
            if index == 0 and session.campaign is not None:
                c = session.campaign
                page["search"] = f"?utm_source={c.source}&utm_medium={c.medium}&utm_campaign={c.name}"
                page["referrer"] = f"https://{c.source}.example/"
            self._step(session, "page", name=title, properties=page)
        else:
            name = SCREENS[index % len(SCREENS)]
            self._step(session, "screen", name=name, properties={"name": name})

    def _feature_journey(self, session: _Session, spec: FeatureSpec) -> None:
        rng = self.rng
        user = session.user
        props: dict[str, Any] = {"feature": spec.feature_id}
        use_p, complete_p = spec.use_p, spec.complete_p
        if spec.experiment_id is not None:
            if user.variant is None:
                user.variant = rng.choice(VARIANTS)
                self._step(
                    session,
                    "track",
                    event=EXPERIMENT_VIEWED,
                    properties={
                        "experiment_id": spec.experiment_id,
                        "experiment_name": EXPERIMENT_NAME,
                        "variation_id": user.variant,
                        "variation_name": "control" if user.variant == "A" else "guided onboarding",
                    },
                )
            props.update(experiment_id=spec.experiment_id, variation_id=user.variant)
            lift_use, lift_complete = VARIANT_LIFT[user.variant]
            use_p, complete_p = min(0.95, use_p * lift_use), min(0.95, complete_p * lift_complete)
        self._step(session, "track", event=EVENT_OF_STAGE[STAGE_VIEW], properties={**props, "surface": "toolbar"})
        duration = max(300, int(rng.lognormvariate(0, 0.6) * spec.median_duration_ms))
        if rng.random() < use_p:
            self._step(session, "track", event=EVENT_OF_STAGE[STAGE_USE], properties={**props, "action": "open"})
            if rng.random() < complete_p:
                self._step(
                    session,
                    "track",
                    event=EVENT_OF_STAGE[STAGE_COMPLETE],
                    properties={**props, "duration_ms": duration},
                )
                return
        if rng.random() < spec.dismiss_p:
            dismissed = EVENT_OF_STAGE[STAGE_DISMISS]
            self._step(session, "track", event=dismissed, properties={**props, "duration_ms": duration // 3})

    def _new_session(self) -> _Session:
        rng = self.rng
        user = self._pick_user()
        user.sessions += 1
        campaign = rng.choice(CAMPAIGNS) if user.sessions == 1 else (CAMPAIGNS[0] if rng.random() < 0.1 else None)
        session = _Session(user=user, session_id=f"{int(rng.random() * 1e12):012d}", campaign=campaign, steps=[])
        self._view(session, 0)
        if user.user_id is None and rng.random() < 0.55:
            user.user_id = f"usr_{self._next_user_number:05d}"
            self._next_user_number += 1
            user.traits = {"plan": rng.choice(PLANS), **user_profile(self.seed, user.user_id)}
            self._step(session, "identify", traits=dict(user.traits))
            if rng.random() < 0.3:
                self._step(session, "alias", previousId=user.anonymous_id)
            if user.account_id is not None:
                self._step(session, "group", groupId=user.account_id, traits=account_traits(user.account_id))
        if user.user_id is not None and rng.random() < 0.5:
            self._step(session, "track", event=rng.choice(OTHER_TRACK_EVENTS), properties={})
        weights = [f.weight for f in FEATURES]
        for spec in dict.fromkeys(rng.choices(FEATURES, weights=weights, k=rng.choice((1, 1, 2, 3)))):
            self._view(session, rng.randrange(1, 5))
            self._feature_journey(session, spec)
        return session

    # --- invalid events ----------------------------------------------------------------------------

    def _invalid(self, session: _Session) -> _PlannedMessage:
        kind = INVALID_KINDS[self._invalid_cycle % len(INVALID_KINDS)]
        self._invalid_cycle += 1
        body = self._base(session, "track")
        if kind == INVALID_NO_IDENTITY:
            body.pop("anonymousId", None)
            body.pop("userId", None)
            body["event"] = "Feature Viewed"
            body["properties"] = {"feature": "smart-search"}
        elif kind == INVALID_TRACK_WITHOUT_EVENT:
            body["properties"] = {"feature": "bulk-edit"}
        else:
            body["event"] = "File Uploaded"
            body["properties"] = {"preview": "x" * 40_000}
        return _PlannedMessage(body=body, meta=SentMessage(message_id=body["messageId"], type="track", invalid=kind))

    # --- ticks -------------------------------------------------------------------------------------

    def tick(self, now: datetime, n_events: int, tick_s: float = 1.0) -> list[OutgoingRequest]:
        """The requests of `n_events` messages that happened during the `tick_s` seconds before `now`."""
        rng = self.rng
        while len(self._sessions) < self.concurrent_sessions:
            self._sessions.append(self._new_session())
        groups: dict[int, tuple[_Session, list[_PlannedMessage]]] = {}
        for _ in range(n_events):
            session = rng.choice(self._sessions)
            planned = groups.setdefault(id(session), (session, []))[1]
            if rng.random() < self.invalid_rate:
                planned.append(self._invalid(session))
            planned.append(session.steps.pop(0))
            if not session.steps:
                self._sessions.remove(session)
                self._sessions.append(self._new_session())
        return [
            request for session, planned in groups.values() for request in self._requests(session, planned, now, tick_s)
        ]

    def _requests(
        self, session: _Session, planned: list[_PlannedMessage], now: datetime, tick_s: float
    ) -> list[OutgoingRequest]:
        """One device's messages of a tick: stamped with the device's (maybe wrong) clock, then batched."""
        skew = timedelta(milliseconds=session.user.clock_skew_ms)
        offsets = sorted((self.rng.uniform(0, tick_s) for _ in planned), reverse=True)
        for message, offset in zip(planned, offsets, strict=True):
            message.body["timestamp"] = format_timestamp(now - timedelta(seconds=offset) + skew)
        sent_at = format_timestamp(now + skew)
        if len(planned) == 1 and planned[0].meta.invalid is None and session.user.platform == "web":
            # analytics.js style: one call, one request to the call's own route, sentAt in the message.
            only = planned[0]
            return [
                OutgoingRequest(
                    route=f"/v1/{only.meta.type}", payload={**only.body, "sentAt": sent_at}, messages=(only.meta,)
                )
            ]
        return [
            OutgoingRequest(
                route="/v1/batch",
                payload={"batch": [m.body for m in chunk], "sentAt": sent_at},
                messages=tuple(m.meta for m in chunk),
            )
            for chunk in (planned[i : i + MAX_EVENTS_PER_BATCH] for i in range(0, len(planned), MAX_EVENTS_PER_BATCH))
        ]


# --- results -------------------------------------------------------------------------------------


@dataclass
class TrafficStats:
    """What was sent and what the endpoint answered."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    sent_by_type: Counter[str] = field(default_factory=Counter)
    sent_by_feature_stage: Counter[tuple[str, str]] = field(default_factory=Counter)
    sent_invalid: Counter[str] = field(default_factory=Counter)
    accepted_ids: set[str] = field(default_factory=set)
    rejected_by_server: int = 0
    # Valid events whose request never got a 2xx (after retries): the demo reports them as not delivered.
    undelivered_valid: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    # With `run_traffic(keep_requests=True)`: every request sent, and each device's clock skew, which is what the
    # ground truth (featurepulse/local/ground_truth.py) needs. Off by default: a long `--serve` run keeps nothing.
    sent_requests: list[OutgoingRequest] = field(default_factory=list)
    clock_skew_ms: dict[str, int] = field(default_factory=dict)
    # With `keep_requests`: the simulated users (their user ids, countries and identify traits), from which the
    # demo writes its CRM file (featurepulse/local/demo_traits.py).
    users: list[SyntheticUser] = field(default_factory=list)

    @property
    def sent_valid(self) -> int:
        return sum(self.sent_by_type.values())

    @property
    def sent_total(self) -> int:
        return self.sent_valid + sum(self.sent_invalid.values())

    def record(self, request: OutgoingRequest, status: int | None, answer: Any) -> None:
        self.requests += 1
        if status is not None:
            self.statuses[status] += 1
        rejected = _rejected_indexes(answer) if status is not None and 200 <= status < 300 else set()
        self.rejected_by_server += len(rejected)
        for index, message in enumerate(request.messages):
            if message.invalid is not None:
                self.sent_invalid[message.invalid] += 1
                continue
            self.sent_by_type[message.type] += 1
            if message.feature and message.stage:
                self.sent_by_feature_stage[(message.feature, message.stage)] += 1
            if status is not None and 200 <= status < 300 and index not in rejected and message.message_id:
                self.accepted_ids.add(message.message_id)
            else:
                self.undelivered_valid += 1


def _rejected_indexes(answer: Any) -> set[int]:
    """Indexes the server listed as rejected in a 200 answer (`rejected` or `errors`: [{"index": i, ...}])."""
    if not isinstance(answer, dict):
        return set()
    listed = answer.get("rejected") or answer.get("errors") or []
    out: set[int] = set()
    if isinstance(listed, list):
        for item in listed:
            if isinstance(item, dict) and isinstance(item.get("index"), int):
                out.add(item["index"])
    return out


# --- sending -------------------------------------------------------------------------------------


class SegmentHttpSender:
    """Posts Segment requests with Basic auth over one keep-alive connection; retries 429/503 like the SDKs."""

    def __init__(self, base_url: str, write_key: str, *, timeout_s: float = 30, max_retries: int = 4) -> None:
        split = urlsplit(base_url)
        self._host = split.hostname or "127.0.0.1"
        self._port = split.port or 80
        self._prefix = split.path.rstrip("/")
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        token = base64.b64encode(f"{write_key}:".encode()).decode()
        self._headers = {
            "Content-Type": "application/json",
            "Authorization": f"Basic {token}",
            "User-Agent": "featurepulse-traffic/1",
        }
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)
        return self._conn

    def post(self, route: str, payload: dict[str, Any]) -> tuple[int, Any]:
        data = json.dumps(payload).encode()
        attempt = 0
        while True:
            try:
                conn = self._connection()
                conn.request("POST", self._prefix + route, body=data, headers=self._headers)
                response = conn.getresponse()
                raw = response.read()
                status = response.status
                retry_after = response.getheader("Retry-After")
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt >= self._max_retries:
                    raise
                attempt += 1
                time.sleep(min(2.0, 0.1 * 2**attempt))
                continue
            if status in (429, 503) and attempt < self._max_retries:
                attempt += 1
                delay = float(retry_after) if retry_after and retry_after.isdigit() else 0.1 * 2**attempt
                time.sleep(min(2.0, delay))
                continue
            try:
                answer = json.loads(raw) if raw else None
            except ValueError:
                answer = raw.decode(errors="replace")
            return status, answer

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def restamp_sent_at(request: OutgoingRequest, delay: timedelta) -> None:
    """Move `sentAt` by the time the request waited between planning and sending.

    An SDK stamps `sentAt` when it sends; the server corrects event times with it (received - (sentAt - timestamp)).
    A request planned at the tick but sent later (the sender is sequential, the machine may be loaded) would
    otherwise have all that wait added to its events' corrected times, and could reorder a device's events
    across requests (a 'use' before its 'view').
    """
    if delay <= timedelta(0):
        return
    sent_at = request.payload.get("sentAt")
    if isinstance(sent_at, str):
        request.payload["sentAt"] = format_timestamp(parse_timestamp(sent_at) + delay)


def run_traffic(
    base_url: str,
    write_key: str,
    *,
    rate_eps: float,
    duration_s: float | None,
    seed: int = 7,
    stop: threading.Event | None = None,
    on_tick: Callable[[TrafficStats, float], None] | None = None,
    tick_s: float = 1.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    keep_requests: bool = False,
) -> TrafficStats:
    """Send traffic at about `rate_eps` events/s for `duration_s` seconds (None: until `stop` is set).

    `on_tick(stats, elapsed_s)` is called after each tick (progress bars). `keep_requests` keeps every request
    sent and the devices' clock skews in the stats (for the ground truth of a bounded run).
    """
    stop = stop or threading.Event()
    generator = TrafficGenerator(seed, concurrent_sessions=max(4, int(rate_eps / 3)))
    sender = SegmentHttpSender(base_url, write_key)
    stats = TrafficStats()
    started = time.monotonic()
    planned = 0
    max_burst = max(1, int(rate_eps * tick_s * 2))

    # A bounded run ends on time: requests not sent by then are not sent (nor counted).
    deadline = None if duration_s is None else started + duration_s + tick_s

    def send(n: int) -> None:
        planned_at = clock()
        for request in generator.tick(planned_at, n, tick_s):
            if stop.is_set() or (deadline is not None and time.monotonic() > deadline):
                return
            restamp_sent_at(request, clock() - planned_at)
            try:
                status, answer = sender.post(request.route, request.payload)
            except (OSError, http.client.HTTPException) as exc:
                stats.errors[type(exc).__name__] += 1
                stats.record(request, None, None)
                continue
            stats.record(request, status, answer)
            if keep_requests:
                stats.sent_requests.append(request)

    try:
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if duration_s is not None and elapsed >= duration_s:
                # A tick that overran the end still owes its events (a bounded run that keeps up sends exactly
                # rate x duration), but never more than one burst: the run is bounded in time.
                send(min(max_burst, int(rate_eps * duration_s) - planned))
                break
            # Events owed up to the end of this tick. A slow tick is caught up by the next one, within a burst
            # of two ticks: when the endpoint cannot keep up with the rate, fewer events are sent, not later.
            horizon = elapsed + tick_s if duration_s is None else min(duration_s, elapsed + tick_s)
            n = min(max_burst, int(rate_eps * horizon) - planned)
            planned = max(planned + n, int(rate_eps * horizon) - max_burst)
            send(n)
            if on_tick is not None:
                on_tick(stats, time.monotonic() - started)
            stop.wait(max(0.0, started + horizon - time.monotonic()))
    finally:
        sender.close()
        stats.elapsed_s = time.monotonic() - started
        if keep_requests:
            stats.clock_skew_ms = {u.anonymous_id: u.clock_skew_ms for u in generator.users}
            stats.users = list(generator.users)
    return stats
