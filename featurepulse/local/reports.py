"""Reports in local mode: the same job on the local lake (DuckDB), mail through moto's SES, copies in outbox/.

Used by `featurepulse report` and, at the end of `make run`, by the `LocalReport` component. The send record
is a JSON file in the outbox (`.sent.json`, the same claim/sent/failed rules as the DynamoDB one), so it
works whether or not the local stack is still running. SES is the stack's moto server when it answers; else
an in-process moto (`mock_aws`) so the same SESv2 code path runs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from featurepulse.domain.goals import parse_goals
from featurepulse.local.duckdb_runner import DuckDbQueryRunner
from featurepulse.local.identity import local_refresher
from featurepulse.reporting.audiences import DirectoryAudienceStore
from featurepulse.reporting.dal.send_log import (
    STATUS_FAILED,
    STATUS_PARTIAL,
    STATUS_SENDING,
    SendRecord,
    sent_item_status,
)
from featurepulse.reporting.dal.ses_mailer import SesMailer
from featurepulse.reporting.experiments_config import parse_experiments
from featurepulse.reporting.job import ReportSettings, RunOutcome, run_report
from featurepulse.reporting.periods import Period, PeriodKind

logger = logging.getLogger(__name__)

# The demo's goal (`make run`): the same shape as the CDK context `goals` (featurepulse/domain/goals.py).
DEMO_GOALS: tuple[dict[str, Any], ...] = (
    {"metric": "adoption_rate", "feature": "ai-summary", "target": 0.25, "deadline": "2027-01-31"},
)
# Address-book keys of the report settings (the CDK context names; `experiments` is read the same way).
GOALS_KEY = "goals"
SEGMENT_TRAIT_KEY = "reportSegmentTrait"
AUDIENCE_TRAITS_KEY = "reportAudienceTraits"
LOCAL_SENDER = "reports@featurepulse.example"
LOCAL_RECIPIENTS = ("marketing@featurepulse.example",)
SEND_LOG_FILE = ".sent.json"
DEFAULT_ROOT = Path(".featurepulse")


class FileSendLog:
    """The send record as a JSON file (local mode). Same states and rules as `DynamoDbSendLog`."""

    def __init__(self, path: Path, *, stale_after_s: int = 3600) -> None:
        self.path = path
        self._stale_after_s = stale_after_s
        self._lock = threading.Lock()

    def _load(self) -> dict[str, dict[str, Any]]:
        if not self.path.is_file():
            return {}
        loaded: dict[str, dict[str, Any]] = json.loads(self.path.read_text(encoding="utf-8"))
        return loaded

    def _save(self, records: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(records, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)

    def get(self, report_key: str) -> SendRecord | None:
        item = self._load().get(report_key)
        if item is None:
            return None
        until = item.get("data_until")
        return SendRecord(
            report_key,
            item["status"],
            item.get("message_id"),
            int(item.get("updated_at", 0)),
            None if until is None else int(until),
        )

    def claim(self, report_key: str, *, now: int, force: bool = False) -> bool:
        with self._lock:
            records = self._load()
            item = records.get(report_key)
            free = (
                item is None
                or item["status"] in (STATUS_FAILED, STATUS_PARTIAL)
                or (item["status"] == STATUS_SENDING and int(item["updated_at"]) < now - self._stale_after_s)
            )
            if not (free or force):
                return False
            records[report_key] = {"status": STATUS_SENDING, "updated_at": now}
            self._save(records)
            return True

    def mark_sent(
        self, report_key: str, *, message_id: str, recipients: int, now: int, data_until: int | None = None
    ) -> None:
        item: dict[str, Any] = {
            "status": sent_item_status(partial=data_until is not None),
            "message_id": message_id,
            "recipients": recipients,
            "updated_at": now,
        }
        if data_until is not None:
            item["data_until"] = data_until
        self._put(report_key, item)

    def mark_failed(self, report_key: str, *, error: str, now: int) -> None:
        self._put(report_key, {"status": STATUS_FAILED, "error": error[:1000], "updated_at": now})

    def _put(self, report_key: str, item: dict[str, Any]) -> None:
        with self._lock:
            records = self._load()
            records[report_key] = item
            self._save(records)


@dataclass(frozen=True)
class LocalReportTarget:
    lake_dir: Path
    outbox_dir: Path
    aws_endpoint_url: str | None = None
    region: str = "us-east-1"
    experiments: Any = None  # the `experiments` setting: JSON text or object (docs/experiments.md)
    goals: Any = None  # the `goals` setting: JSON text or list (featurepulse/domain/goals.py)
    segment_trait: str = "plan"
    audience_traits: tuple[str, ...] = ("plan",)

    @classmethod
    def from_address_book(
        cls, root: Path = DEFAULT_ROOT, *, lake_dir: Path | None = None, outbox_dir: Path | None = None
    ) -> LocalReportTarget:
        """`.featurepulse/local.json` (written by the local stack) where present, overridden by arguments."""
        book: dict[str, Any] = {}
        path = root / "local.json"
        if path.is_file():
            with contextlib.suppress(OSError, ValueError):
                book = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            lake_dir=Path(lake_dir or book.get("lake_dir") or root / "lake").resolve(),
            outbox_dir=Path(outbox_dir or book.get("outbox_dir") or root / "outbox").resolve(),
            aws_endpoint_url=book.get("aws_endpoint_url"),
            region=str(book.get("region") or "us-east-1"),
            experiments=book.get("experiments"),
            goals=book.get(GOALS_KEY),
            segment_trait=str(book.get(SEGMENT_TRAIT_KEY) or "plan"),
            audience_traits=tuple(book.get(AUDIENCE_TRAITS_KEY) or ("plan",)),
        )


def latest_lake_day(lake_dir: Path) -> date | None:
    """The most recent `dt=` partition of the local lake."""
    days = sorted(p.name[3:] for p in (lake_dir / "events").glob("dt=*") if p.is_dir())
    return date.fromisoformat(days[-1]) if days else None


def _reachable(url: str | None) -> bool:
    if not url:
        return False
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/moto-api/", timeout=2):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def ses_client(target: LocalReportTarget) -> Iterator[tuple[Any, str]]:
    """A SESv2 client on the stack's moto server, or on an in-process moto when the stack is not running."""
    import boto3

    if _reachable(target.aws_endpoint_url):
        session = boto3.session.Session(
            aws_access_key_id="featurepulse-local",
            aws_secret_access_key="featurepulse-local",
            region_name=target.region,
        )
        yield session.client("sesv2", endpoint_url=target.aws_endpoint_url), f"moto server {target.aws_endpoint_url}"
        return
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("sesv2", region_name=target.region), "in-process moto (the local stack is not running)"


def run_local_report(
    kind: PeriodKind,
    day: date,
    target: LocalReportTarget,
    *,
    force: bool = False,
    min_exposed_per_variant: int = 100,
    now: datetime | None = None,
) -> tuple[RunOutcome, str]:
    """Run the report job for the period containing `day`; returns the outcome and where SES was."""
    settings = ReportSettings(
        sender=LOCAL_SENDER,
        recipients=LOCAL_RECIPIENTS,
        send_log_table="local-outbox",
        min_exposed_per_variant=min_exposed_per_variant,
        experiments=parse_experiments(target.experiments),
        goals=parse_goals(target.goals),
        segment_trait=target.segment_trait,
        audience_traits=target.audience_traits,
    )
    runner = DuckDbQueryRunner(target.lake_dir)
    try:
        with ses_client(target) as (sesv2, where):
            sesv2.create_email_identity(EmailIdentity=LOCAL_SENDER)  # SES refuses unverified senders
            outcome = run_report(
                runner=runner,
                period=Period.containing(kind, day),
                settings=settings,
                send_log=FileSendLog(target.outbox_dir / SEND_LOG_FILE),
                mailer=SesMailer(sesv2),
                now=now or datetime.now(UTC),
                force=force,
                outbox_dir=target.outbox_dir,
                before_queries=local_refresher(target.lake_dir),  # the identity table (docs/identity.md)
                audience_store=DirectoryAudienceStore(target.lake_dir),  # the local lake's audiences/
            )
    finally:
        runner.close()
    return outcome, where


def local_summary(outcome: RunOutcome, day: date, where: str) -> list[str]:
    """What `make run` prints about the day's report: sent (final or partial), skipped or empty, and why."""
    if outcome.status != "sent":
        return [f"report for {day.isoformat()} not sent: {outcome.reason}"]
    kind = "report"
    if outcome.data_until is not None:
        kind = f"partial report (data up to {outcome.data_until.astimezone(UTC):%H:%M} UTC)"
    h = outcome.headline
    return [
        line
        for line in (
            f"{kind} for {day.isoformat()} sent through SES ({where})",
            f"{h.get('events')} events, {h.get('active_persons')} active persons, {h.get('adopters')} adopters, "
            f"{h.get('completers')} completed"
            if h
            else "",
            *(f"experiment {verdict}" for verdict in outcome.experiment_verdicts),
            *(f"goal {sentence}" for sentence in outcome.goal_sentences),
            *segment_lines(outcome),
            f"campaigns: {outcome.campaign_sentence}" if outcome.campaign_sentence else "",
            *campaign_lines(outcome),
            *(
                f"audience {name}: {persons} persons -> {location}"
                for name, (persons, location) in sorted(outcome.audiences.items())
            ),
            f"open {outcome.html_path}" if outcome.html_path else "",
            f"mail {outcome.eml_path}" if outcome.eml_path else "",
        )
        if line
    ]


def segment_lines(outcome: RunOutcome) -> list[str]:
    """Adoption by segment, one line per feature: "adoption by plan, ai-summary: free 12/40 (30.0%), ..."."""
    by_feature: dict[str, list[str]] = {}
    for r in outcome.segment_rows:
        rate = "-" if r["adoption_rate"] is None else f"{float(r['adoption_rate']) * 100:.1f}%"
        by_feature.setdefault(str(r["feature"]), []).append(
            f"{r['segment_value']} {r['adopters']}/{r['active_persons']} ({rate})"
        )
    return [f"adoption by {outcome.segment_trait}, {f}: {', '.join(parts)}" for f, parts in by_feature.items()]


def campaign_lines(outcome: RunOutcome) -> list[str]:
    """The campaign ranking, one line per campaign, with its cost per adopter when spend was imported."""
    lines = []
    for r in outcome.campaign_rows:
        rate = "-" if r["campaign_adoption_rate"] is None else f"{float(r['campaign_adoption_rate']) * 100:.1f}%"
        cost = r["campaign_cost_per_adopter"]
        lines.append(
            f"campaign #{r['rank']} {r['campaign_name']}: {r['campaign_adopters']}/{r['campaign_reached']} adopted "
            f"({rate}), cost per adopter {'-' if cost is None else f'${cost:,.2f}'}"
            + (" SIGNIFICANTLY BELOW THE REST" if r["below_rest"] else "")
        )
    return lines


class LocalReport:
    """Local component: when the demo traffic has drained into the lake, mail the day's report."""

    name = "report"

    def __init__(self) -> None:
        self._lines: list[str] = []

    def start(self, ctx: Any) -> None:
        # The demo's report settings, published so `featurepulse report` and the dashboard read the same ones.
        book = ctx.address_book.snapshot()
        ctx.address_book.update(
            outbox_dir=ctx.outbox_dir,
            **{GOALS_KEY: book.get(GOALS_KEY) or list(DEMO_GOALS)},
        )

    def drain(self, ctx: Any, timeout_s: float) -> None:
        day = latest_lake_day(ctx.lake_dir)
        if day is None:
            self._lines = ["no event reached the lake: no report"]
            return
        book = ctx.address_book.snapshot()
        target = LocalReportTarget(
            ctx.lake_dir,
            ctx.outbox_dir,
            ctx.aws_endpoint_url,
            ctx.region,
            book.get("experiments"),
            goals=book.get(GOALS_KEY),
            segment_trait=str(book.get(SEGMENT_TRAIT_KEY) or "plan"),
            audience_traits=tuple(book.get(AUDIENCE_TRAITS_KEY) or ("plan",)),
        )
        outcome, where = run_local_report("day", day, target)
        ctx.address_book.update(report_html=outcome.html_path, report_eml=outcome.eml_path)
        self._lines = local_summary(outcome, day, where)

    def summary(self, ctx: Any) -> list[str]:
        return [line for line in self._lines if line]

    def stop(self) -> None:
        return None
