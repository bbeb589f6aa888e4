"""The e-mailed report beside the traffic generator's ground truth, figure by figure (docs/local.md).

The report's figures are read back from the e-mail itself (its CSV attachments in the outbox), not recomputed:
what a marketer receives is what is checked. The audiences are read from the files the e-mail points to (the
`location` column of its audience_sizes attachment): each list must hold exactly the persons the definition
names, with their user ids and plan. The ground truth counts per person from what the generator sent
(featurepulse/local/ground_truth.py), with the definitions of the metric catalogue (docs/metrics.md).
"""

from __future__ import annotations

import csv
import email
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from featurepulse.local.ground_truth import GroundTruth

# report CSV name -> the rows the check reads (attachment names end in `-<name>.csv`)
_TABLES = (
    "period_summary",
    "feature_funnel",
    "campaign_attribution",
    "experiment_results",
    "feature_adoption_by_segment",
    "audience_sizes",
)


class ReportReadError(ValueError):
    """The e-mail has no readable report attachments."""


@dataclass(frozen=True)
class FigureCheck:
    """One figure: what the e-mail says and what the generator knows."""

    metric: str
    scope: str
    report: int | None
    truth: int

    @property
    def matches(self) -> bool:
        return self.report == self.truth


def report_tables(eml_path: Path) -> dict[str, list[dict[str, str]]]:
    """The CSV attachments of a report e-mail, by query name."""
    try:
        message: Message = email.message_from_bytes(eml_path.read_bytes())
    except OSError as exc:
        raise ReportReadError(f"cannot read the report e-mail {eml_path}: {exc.strerror}") from None
    tables: dict[str, list[dict[str, str]]] = {}
    for part in message.walk():
        filename = part.get_filename() or ""
        for name in _TABLES:
            if filename.endswith(f"-{name}.csv"):
                payload = part.get_payload(decode=True)
                text = payload.decode("utf-8-sig") if isinstance(payload, bytes) else ""
                tables[name] = list(csv.DictReader(io.StringIO(text)))
    if "period_summary" not in tables:
        raise ReportReadError(f"{eml_path} has no period_summary attachment: not a featurepulse report")
    return tables


def _int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def _find(rows: Sequence[Mapping[str, str]], **keys: str) -> Mapping[str, str] | None:
    for row in rows:
        if all(row.get(k) == v for k, v in keys.items()):
            return row
    return None


def audience_file_rows(location: str) -> set[tuple[str, str, str]] | None:
    """The (person_id, user_ids, trait) rows of a local audience file (None: not a readable local file)."""
    path = Path(location)
    if location.startswith(("http://", "https://")) or not path.is_file():
        return None
    rows = csv.reader(io.StringIO(path.read_text(encoding="utf-8")))
    next(rows, None)
    return {(r[0], r[1], r[2] if len(r) > 2 else "") for r in rows}


def compare(tables: Mapping[str, Sequence[Mapping[str, str]]], truth: GroundTruth) -> list[FigureCheck]:
    """Every person figure the ground truth knows, beside the report's (None: the report has no such row)."""
    checks: list[FigureCheck] = []
    summary = next(iter(tables.get("period_summary", ())), {})
    for metric in ("active_persons", "feature_viewers", "adopters", "completers"):
        checks.append(FigureCheck(metric, "all features", _int(summary.get(metric)), getattr(truth, metric)))
    funnel_rows = tables.get("feature_funnel", ())
    for feature, steps in sorted(truth.funnel.items()):
        row = _find(funnel_rows, feature=feature)
        for step in ("viewed", "used", "completed"):
            value = None if row is None else _int(row.get(f"funnel_{step}"))
            checks.append(FigureCheck(f"funnel_{step}", feature, value, steps[step]))
    campaign_rows = tables.get("campaign_attribution", ())
    for (source, medium, name), counts in sorted(truth.attribution.items()):
        row = _find(campaign_rows, campaign_source=source, campaign_medium=medium, campaign_name=name)
        scope = f"{source} / {medium} / {name}"
        for metric, key in (("campaign_reached", "reached"), ("campaign_adopters", "adopted")):
            checks.append(FigureCheck(metric, scope, None if row is None else _int(row.get(metric)), counts[key]))
        value = None if row is None else _int(row.get("campaign_completers"))
        checks.append(FigureCheck("campaign_completers", scope, value, counts["completed"]))
    experiment_rows = tables.get("experiment_results", ())
    for (experiment, variation), counts in sorted(truth.experiments.items()):
        row = _find(experiment_rows, experiment_id=experiment, variation_id=variation)
        scope = f"{experiment} / {variation}"
        for metric in ("exposed", "converted"):
            value = None if row is None else _int(row.get(metric))
            checks.append(FigureCheck(f"experiment_{metric}", scope, value, counts[metric]))
    segment_rows = tables.get("feature_adoption_by_segment", ())
    for (feature, segment), adopters in sorted(truth.segment_adopters.items()):
        row = _find(segment_rows, feature=feature, segment_value=segment)
        scope = f"{feature} / {truth.segment_trait} = {segment}"
        active = None if row is None else _int(row.get("active_persons"))
        checks.append(FigureCheck("segment active_persons", scope, active, truth.segment_active[segment]))
        checks.append(
            FigureCheck("segment adopters", scope, None if row is None else _int(row.get("adopters")), adopters)
        )
    size_rows = tables.get("audience_sizes", ())
    for (feature, audience), members in sorted(truth.audiences.items()):
        row = _find(size_rows, feature=feature, audience=audience)
        scope = f"{feature} / {audience}"
        checks.append(
            FigureCheck(
                "audience_persons", scope, None if row is None else _int(row.get("audience_persons")), len(members)
            )
        )
        listed = None if row is None else audience_file_rows(row.get("location", ""))
        # The file's rows that are not the ground truth's, plus the truth's missing from it: 0 when exact.
        differing = None if listed is None else len(listed ^ members)
        checks.append(FigureCheck("audience rows differing", scope, differing, 0))
    return checks
