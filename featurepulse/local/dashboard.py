"""`LocalDashboard`: the live panels of the local stack in a browser (the QuickSight dashboard's stand-in).

A small HTTP server: `/` is a static page (featurepulse/local/static/dashboard.html: inline SVG charts, no
library, no build step) that polls `/api/panels?feature=F` every few seconds; the API reads the aggregates
table with the same reads the panels make in AWS (featurepulse/realtime/dal.py). The page names each number
with the metric catalogue's label and meaning (featurepulse/domain/metrics.py), written into it at start, and
asks `/api/experiments` which features run an experiment today when the chosen one has none. `/api/goals` gives
each KPI goal's status (featurepulse/domain/goals.py `goal_status`, the function the e-mailed report uses) from the
goal metric's daily values in the live day rows (the final rows of a day the batch corrected).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from featurepulse.domain.goals import PROJECTION_RULE, GoalsConfig, GoalSettings, goal_status, parse_goals, trend_days
from featurepulse.domain.metrics import metrics_at
from featurepulse.local.components import LocalContext
from featurepulse.realtime import items
from featurepulse.realtime.dal import AggregatesReader
from featurepulse.realtime.settings import RealtimeSettings
from featurepulse.realtime.windows import day_start_ms, parse_instant_ms

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
PAGE = STATIC_DIR / "dashboard.html"
DEFAULT_PORT = 8788
REFRESH_MS = 3000
AGGREGATES_TABLE_KEY = "aggregates_table"  # LocalContext.shared key published by the realtime component
DEFAULT_AGGREGATES_TABLE = "featurepulse-aggregates"


def metric_labels() -> dict[str, dict[str, str]]:
    """Label and meaning of every metric the live panels carry, by catalogue name (= the panels' JSON field)."""
    return {m.name: {"label": m.label, "meaning": m.meaning} for m, _ in metrics_at("live")}


def render_page(allowed_lateness_s: int) -> bytes:
    """The page with its constants filled in (JSON inside a script: `</` escaped so no label can end it)."""
    labels = json.dumps(metric_labels(), sort_keys=True).replace("</", "<\\/")
    return (
        PAGE.read_text(encoding="utf-8")
        .replace("__REFRESH_MS__", str(REFRESH_MS))
        .replace("__LATE_AFTER_S__", str(allowed_lateness_s))
        .replace("__METRICS__", labels)
        .encode()
    )


def features_with_experiment(reader: AggregatesReader, now_ms: int) -> list[str]:
    """Today's features that have variant rows (from the same day source as the panels: final or live)."""
    day = day_start_ms(now_ms)
    final = reader.is_day_final(day)
    prefix = items.final(items.variant_day_prefix(day)) if final else items.variant_day_prefix(day)
    features = sorted({str(i["feature"]) for i in reader.features_of_day(day, final=final)})
    return [f for f in features if reader.with_prefix(items.feature_pk(f), prefix)]


DAY_MS = 86_400_000
# The day rows' counters behind each goal metric (featurepulse/realtime/metrics.py; the panels' own mapping).
_GOAL_COUNTERS = {"adopters": "adopters", "feature_viewers": "persons_view"}


def live_goal_values(reader: AggregatesReader, goal: GoalSettings, as_of: date) -> dict[date, float | None]:
    """The goal metric's value on each day of the trend, from the day rows (final when the batch corrected the
    day, else live): the same definitions as the report (a day without any event has no value)."""
    values: dict[date, float | None] = {}
    for day in trend_days(as_of):
        day_ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
        final = reader.is_day_final(day_ms)
        key = items.day_sort_key(day_ms)
        key = items.final(key) if final else key
        app = reader.get(items.APP_PK, key)
        active = int((app or {}).get("persons") or 0)
        if active == 0:
            values[day] = None
            continue
        row = reader.get(items.feature_pk(goal.feature), key) or {}
        adopters = int(row.get("adopters") or 0)
        if goal.metric == "adoption_rate":
            values[day] = adopters / active
        else:
            values[day] = float(row.get(_GOAL_COUNTERS[goal.metric]) or 0)
    return values


def goals_answer(reader: AggregatesReader, goals: GoalsConfig, now_ms: int) -> dict[str, Any]:
    """What `/api/goals` answers: each goal's status as of today (UTC), and the rule in words."""
    today = datetime.fromtimestamp(now_ms / 1000, tz=UTC).date()
    statuses = [goal_status(g, live_goal_values(reader, g, today), today).as_dict() for g in goals.root]
    return {"goals": statuses, "rule": PROJECTION_RULE}


class DashboardServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        reader: AggregatesReader,
        *,
        allowed_lateness_s: int | None = None,
        goals: Callable[[], GoalsConfig] = lambda: GoalsConfig(()),
    ) -> None:
        super().__init__(address, _Handler)
        self.reader = reader
        self.goals = goals
        lateness = RealtimeSettings().allowed_lateness_s if allowed_lateness_s is None else allowed_lateness_s
        self.page = render_page(lateness)


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("dashboard: " + format, *args)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, self.server.page, "text/html; charset=utf-8")
        elif url.path == "/api/panels":
            self._panels(parse_qs(url.query))
        elif url.path == "/api/experiments":
            self._experiments(parse_qs(url.query))
        elif url.path == "/api/goals":
            self._goals(parse_qs(url.query))
        elif url.path == "/api/health":
            self._send_json(HTTPStatus.OK, {"status": "ok"})
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {url.path}"})

    def _now_ms(self, query: dict[str, list[str]]) -> int | None:
        """`at` (ISO-8601) or now; None after answering 400 for an unreadable `at`."""
        at = (query.get("at") or [""])[0].strip()
        try:
            return parse_instant_ms(at) if at else int(time.time() * 1000)
        except ValueError:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": f"'at' is not an ISO-8601 time: {at!r}"})
            return None

    def _experiments(self, query: dict[str, list[str]]) -> None:
        now_ms = self._now_ms(query)
        if now_ms is None:
            return
        try:
            features = features_with_experiment(self.server.reader, now_ms)
        except Exception as exc:  # as for the panels: the page says so and retries
            logger.warning("dashboard: reading the experiments failed: %s", exc)
            self._send_json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": f"aggregates not readable: {type(exc).__name__}"})
            return
        self._send_json(HTTPStatus.OK, {"features_with_experiment": features})

    def _goals(self, query: dict[str, list[str]]) -> None:
        now_ms = self._now_ms(query)
        if now_ms is None:
            return
        try:
            answer = goals_answer(self.server.reader, self.server.goals(), now_ms)
        except Exception as exc:  # as for the panels: the page says so and retries
            logger.warning("dashboard: reading the goals failed: %s", exc)
            self._send_json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": f"aggregates not readable: {type(exc).__name__}"})
            return
        self._send_json(HTTPStatus.OK, answer)

    def _panels(self, query: dict[str, list[str]]) -> None:
        feature = (query.get("feature") or [""])[0].strip() or None
        now_ms = self._now_ms(query)
        if now_ms is None:
            return
        try:
            panels = self.server.reader.panels(feature, now_ms)
        except Exception as exc:  # the table not there yet, moto stopping: the page shows it and retries
            logger.warning("dashboard: reading the aggregates failed: %s", exc)
            self._send_json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": f"aggregates not readable: {type(exc).__name__}"})
            return
        self._send(HTTPStatus.OK, panels.model_dump_json().encode(), "application/json")

    def _send_json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def serve_dashboard(
    reader: AggregatesReader,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    goals: Callable[[], GoalsConfig] = lambda: GoalsConfig(()),
) -> DashboardServer:
    """Start the server on a thread; `port=0` picks a free port. Stop with `shutdown()` + `server_close()`.
    `goals` gives the KPI goals when asked (the local stack's address book: the report's own list)."""
    server = DashboardServer((host, port), reader, goals=goals)
    threading.Thread(target=server.serve_forever, name="dashboard", daemon=True).start()
    return server


class LocalDashboard:
    name = "dashboard"

    def __init__(self, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        self.host = host
        self.port = port
        self._server: DashboardServer | None = None
        self.url = ""

    def start(self, ctx: LocalContext) -> None:
        table = ctx.shared.get(AGGREGATES_TABLE_KEY, DEFAULT_AGGREGATES_TABLE)
        reader = AggregatesReader(ctx.client("dynamodb"), table)

        def goals() -> GoalsConfig:  # read when asked: the report component publishes them after this starts
            return parse_goals(ctx.address_book.snapshot().get("goals"))

        try:
            self._server = serve_dashboard(reader, self.host, self.port, goals=goals)
        except OSError:  # the default port is taken (another stack, another program): any free port
            self._server = serve_dashboard(reader, self.host, 0, goals=goals)
        self.url = f"http://{self.host}:{self._server.server_address[1]}/"
        ctx.address_book.update(dashboard_url=self.url)

    def drain(self, ctx: LocalContext, timeout_s: float) -> None:
        """Nothing to drain: the page reads the table live."""

    def summary(self, ctx: LocalContext) -> list[str]:
        return [f"dashboard:  {self.url}  (live panels, refreshed every {REFRESH_MS / 1000:g} s)"]

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
