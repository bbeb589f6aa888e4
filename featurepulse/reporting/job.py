"""The report job: run the queries for a period, build the whole e-mail, send it once, record the send.

Shared by the Glue job (Athena runner) and local mode (DuckDB runner). Order matters for "no half-built
e-mails": if the period's final report was already sent the job stops before querying; everything (queries,
charts, HTML, CSV, MIME) is built before the send is claimed; the message goes out in a single SES call; a
failure before SES accepts it marks the record failed and raises (the job fails, the alarm fires, a re-run
retries).

Partial and empty periods (docs/reports.md, "Partial and empty periods"):
- a period not over when the job runs (e.g. today) is sent as a **partial** report, marked "partial (data up
  to HH:MM UTC)" in its subject and header and recorded `partial`: it never blocks the final report, which a
  run after the period ends sends once (then later runs skip it unless forced). Each partial run sends a fresh
  snapshot;
- a period without any event is **not sent**: the run returns status `empty`, logs why (a warning) and records
  nothing, so a later run (after late data arrived) can still send it. It is not an error: the Glue run
  succeeds and `featurepulse report` exits 0.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from featurepulse.domain.goals import GoalsConfig
from featurepulse.reporting.audiences import AudienceStore, sizes_table, write_audiences
from featurepulse.reporting.campaigns import ranking_table
from featurepulse.reporting.charts import Chart, render_charts
from featurepulse.reporting.csv_export import csv_filename, result_to_csv
from featurepulse.reporting.dal.send_log import STATUS_SENT, SendRecord
from featurepulse.reporting.experiments import verdict_table
from featurepulse.reporting.experiments_config import ExperimentsConfig
from featurepulse.reporting.mime import Attachment, build_message
from featurepulse.reporting.periods import Period
from featurepulse.reporting.render import partial_marker, ranking_sentence, render_html, render_text, subject
from featurepulse.reporting.report import DEFAULT_SEGMENT_TRAIT, NOT_ATTACHED, ReportData, collect, goal_trends_table
from featurepulse.reporting.runners import QueryRunner

logger = logging.getLogger(__name__)
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


class ReportSettings(BaseModel):
    """Who gets the report and where the send record lives (from job arguments or local.json)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sender: str
    recipients: tuple[str, ...] = Field(min_length=1)
    send_log_table: str = Field(min_length=3)
    configuration_set: str | None = None
    min_exposed_per_variant: int = Field(default=100, ge=1)
    report_name: str = Field(default="feature-report", pattern=r"^[a-z0-9-]{1,64}$")
    # Goals, splits, controls and starts per experiment: JSON text or a mapping (docs/experiments.md).
    experiments: ExperimentsConfig = Field(default_factory=lambda: ExperimentsConfig({}))
    # Adoption by segment: the trait whose values are the segments (docs/reports.md, "Adoption by segment").
    segment_trait: str = Field(default=DEFAULT_SEGMENT_TRAIT, min_length=1, max_length=200)
    # Audiences: the traits written beside each person's user ids (docs/reports.md, "Audiences").
    audience_traits: tuple[str, ...] = (DEFAULT_SEGMENT_TRAIT,)
    # KPI goals: JSON text or a list (featurepulse/domain/goals.py).
    goals: GoalsConfig = Field(default_factory=lambda: GoalsConfig(()))

    @field_validator("audience_traits", mode="before")
    @classmethod
    def _split_traits(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            value = [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("sender")
    @classmethod
    def _valid_sender(cls, value: str) -> str:
        address = value.rpartition("<")[2].rstrip(">").strip()
        if not _EMAIL.match(address):
            raise ValueError(f"not an e-mail address: {value!r}")
        return value

    @field_validator("recipients", mode="before")
    @classmethod
    def _split_recipients(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("recipients")
    @classmethod
    def _valid_recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in value if not _EMAIL.match(r)]
        if bad:
            raise ValueError(f"not e-mail addresses: {bad}")
        return value

    def report_key(self, period: Period) -> str:
        return f"{self.report_name}#{period.key}"


class SendLog(Protocol):
    def get(self, report_key: str) -> SendRecord | None: ...

    def claim(self, report_key: str, *, now: int, force: bool = False) -> bool: ...

    def mark_sent(
        self, report_key: str, *, message_id: str, recipients: int, now: int, data_until: int | None = None
    ) -> None: ...

    def mark_failed(self, report_key: str, *, error: str, now: int) -> None: ...


class Mailer(Protocol):
    def send(self, raw: bytes, *, sender: str, recipients: Sequence[str]) -> str: ...


@dataclass(frozen=True)
class BuiltReport:
    data: ReportData
    charts: tuple[Chart, ...]
    html: str
    text: str
    message: EmailMessage

    @property
    def raw(self) -> bytes:
        return self.message.as_bytes(policy=SMTP)

    def standalone_html(self) -> str:
        """The HTML with its images embedded (data: URIs), to open from disk in a browser."""
        page = self.html
        for chart in self.charts:
            data_uri = "data:image/png;base64," + base64.b64encode(chart.png).decode("ascii")
            page = page.replace(f'src="cid:{chart.cid}"', f'src="{data_uri}"')
        return page


RunStatus = Literal["sent", "skipped", "empty"]


@dataclass(frozen=True)
class RunOutcome:
    status: RunStatus  # sent (final or partial), skipped (final already sent), empty (no event: nothing sent)
    report_key: str
    message_id: str | None = None
    # A partial report (the period was not over): the time its data runs up to; None for a final report.
    data_until: datetime | None = None
    reason: str = ""  # why nothing was sent (skipped, empty), in a sentence for the CLI and the job log
    eml_path: Path | None = None
    html_path: Path | None = None
    headline: dict[str, Any] = field(default_factory=dict)  # the period_summary row of a sent report
    experiment_verdicts: tuple[str, ...] = ()  # one sentence per variant compared with control
    # "experiment / variant" -> {"exposed", "converted"} persons (the shape of the traffic's ground truth)
    experiment_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    goal_sentences: tuple[str, ...] = ()  # each goal's status in a sentence
    campaign_sentence: str = ""  # the campaign ranking in words
    # "feature / audience" -> (persons, where the file is)
    audiences: dict[str, tuple[int, str]] = field(default_factory=dict)
    segment_trait: str = ""
    segment_rows: tuple[dict[str, Any], ...] = ()  # adoption by segment (feature_adoption_by_segment rows)
    campaign_rows: tuple[dict[str, Any], ...] = ()  # the campaign ranking (campaign_ranking rows)

    @property
    def partial(self) -> bool:
        return self.data_until is not None


def collect_report_data(runner: QueryRunner, period: Period, settings: ReportSettings, *, now: datetime) -> ReportData:
    return collect(
        runner,
        period,
        min_exposed_per_variant=settings.min_exposed_per_variant,
        now=now,
        experiments=settings.experiments,
        segment_trait=settings.segment_trait,
        audience_traits=settings.audience_traits,
        goals=settings.goals,
    )


def build_report(runner: QueryRunner, period: Period, settings: ReportSettings, *, now: datetime) -> BuiltReport:
    return assemble_report(collect_report_data(runner, period, settings, now=now), settings, now=now)


def assemble_report(data: ReportData, settings: ReportSettings, *, now: datetime) -> BuiltReport:
    """Charts, HTML, text, CSV attachments and the MIME message of the collected data."""
    period = data.period
    charts = tuple(render_charts(data))
    html = render_html(data, charts)
    text = render_text(data)
    # One CSV per query; for experiments, the table the e-mail shows (per variant, with the statistics) rather
    # than the cumulative daily counts they were computed from.
    # The audiences' persons are never attached: they go to their own files (the e-mail links them).
    tables = {
        **{name: result for name, result in data.results.items() if name not in NOT_ATTACHED},
        "experiment_results": verdict_table(data.experiments),
        "campaign_ranking": ranking_table(data.campaigns),
        "audience_sizes": sizes_table(data.audience_files),
        **({"goal_trends": goal_trends_table(data.goals)} if data.goals else {}),
    }
    attachments = [Attachment(csv_filename(period, name), result_to_csv(result)) for name, result in tables.items()]
    message = build_message(
        subject=subject(data),
        sender=settings.sender,
        recipients=settings.recipients,
        text=text,
        html=html,
        images=charts,
        attachments=attachments,
        date=now,
    )
    return BuiltReport(data=data, charts=charts, html=html, text=text, message=message)


def empty_reason(data: ReportData) -> str:
    """Why a period without any event is not mailed, in one sentence."""
    so_far = f" so far ({partial_marker(data)})" if data.partial else ""
    return (
        f"there are no events for {data.period.label}{so_far}, so there is nothing to report and no e-mail was "
        "sent; this is not an error, and nothing is recorded, so a later run sends the report once data arrives"
    )


def write_outbox(report: BuiltReport, outbox_dir: Path, stem: str) -> tuple[Path, Path]:
    outbox_dir.mkdir(parents=True, exist_ok=True)
    eml_path = outbox_dir / f"{stem}.eml"
    html_path = outbox_dir / f"{stem}.html"
    eml_path.write_bytes(report.raw)
    html_path.write_text(report.standalone_html(), encoding="utf-8")
    return eml_path, html_path


def run_report(
    *,
    runner: QueryRunner,
    period: Period,
    settings: ReportSettings,
    send_log: SendLog,
    mailer: Mailer,
    now: datetime,
    force: bool = False,
    outbox_dir: Path | None = None,
    before_queries: Callable[[], object] | None = None,
    finalize_days: Callable[[QueryRunner, date, date], object] | None = None,
    audience_store: AudienceStore | None = None,
) -> RunOutcome:
    key = settings.report_key(period)
    epoch = int(now.timestamp())
    record = send_log.get(key)
    if record is not None and record.status == STATUS_SENT and not force:
        logger.info("report %s already sent (message %s); use force to send again", key, record.message_id)
        return RunOutcome(
            status="skipped",
            report_key=key,
            message_id=record.message_id,
            reason=f"the final report of {period.label} was already sent (message {record.message_id})",
        )

    if before_queries is not None:  # e.g. the identity table build (docs/identity.md): queries read it as of now
        before_queries()
    if finalize_days is not None:  # the live day rows of the period's final days take the batch figures
        finalize_days(runner, period.start, period.end)
    data = collect_report_data(runner, period, settings, now=now)  # raises before anything is claimed or sent
    if data.is_empty:
        reason = empty_reason(data)
        logger.warning("report %s not sent: %s", key, reason)
        return RunOutcome(status="empty", report_key=key, data_until=data.data_until, reason=reason)
    if audience_store is not None:  # the files first: the e-mail links them (re-writing one is harmless)
        files = write_audiences(data.audiences, settings.audience_traits, period, audience_store)
        data = replace(data, audience_files=files)
    report = assemble_report(data, settings, now=now)

    if not send_log.claim(key, now=epoch, force=force):
        logger.info("report %s is being or has been sent by another run", key)
        return RunOutcome(
            status="skipped",
            report_key=key,
            reason=f"the report of {period.label} is being sent, or was sent, by another run",
        )
    try:
        message_id = mailer.send(report.raw, sender=settings.sender, recipients=settings.recipients)
    except Exception as exc:
        send_log.mark_failed(key, error=f"{type(exc).__name__}: {exc}", now=epoch)
        raise
    until = None if data.data_until is None else int(data.data_until.timestamp())
    send_log.mark_sent(key, message_id=message_id, recipients=len(settings.recipients), now=epoch, data_until=until)
    logger.info(
        "%s report %s sent to %d recipients (message %s, %s bytes scanned)",
        partial_marker(data) if data.partial else "final",
        key,
        len(settings.recipients),
        message_id,
        report.data.bytes_scanned,
    )
    eml_path = html_path = None
    if outbox_dir is not None:
        eml_path, html_path = write_outbox(report, outbox_dir, f"featurepulse-{settings.report_name}-{period.key}")
    summary = report.data.rows("period_summary")
    return RunOutcome(
        status="sent",
        report_key=key,
        message_id=message_id,
        data_until=data.data_until,
        eml_path=eml_path,
        html_path=html_path,
        headline=dict(summary[0]) if summary else {},
        experiment_verdicts=tuple(
            e.summary(v) for e in report.data.experiments for v in e.variants if not v.is_control
        ),
        experiment_counts={
            f"{e.experiment_id} / {v.variation_id}": {"exposed": v.exposed, "converted": v.converted}
            for e in report.data.experiments
            for v in e.variants
        },
        goal_sentences=tuple(g.sentence for g in report.data.goals),
        campaign_sentence=ranking_sentence(report.data.campaigns),
        audiences={f"{f.feature} / {f.audience}": (f.persons, f.location) for f in report.data.audience_files},
        segment_trait=report.data.segment_trait,
        segment_rows=report.data.rows("feature_adoption_by_segment"),
        campaign_rows=tuple(c.row() for c in report.data.campaigns),
    )
