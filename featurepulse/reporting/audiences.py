"""Audiences back to campaigns (docs/reports.md, "Audiences"): per feature, the identified persons who viewed it
but did not adopt it, and who adopted it but did not complete it, in the period, as CSV files a marketer loads
into a campaign tool.

The rows come from athena_queries/feature_audiences.sql (one row per feature, audience, person and chosen trait);
this module pivots them into one CSV per feature and audience (`person_id`, `user_ids`, one column per chosen
trait), writes each under the lake's `audiences/` prefix and says where it is:

    s3://<lake>/audiences/feature=<F>/audience=<A>/period=<day|week>/date=<first day>/audience.csv

(the feature name URL-quoted: it is client data). Every feature with an event in the period gets both files,
empty ones included, so a campaign tool reading the path always finds the latest list. Text cells are
neutralized like every CSV of the report (featurepulse/reporting/csv_export.py): a user id or trait value that
starts like a spreadsheet formula is written with a leading `'`. The e-mail lists each audience's size with a
link: in AWS an S3 presigned GET URL (`LINK_EXPIRES_S`, 7 days, at most: a URL signed with a role's temporary
credentials stops working when that session ends), locally the file's path. Erasure removes a person from every
audience file (featurepulse/lake/erasure.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from featurepulse.domain.metrics import AUDIENCE_RULES
from featurepulse.reporting.csv_export import neutralize_formula
from featurepulse.reporting.periods import Period
from featurepulse.reporting.queries import InlineTable
from featurepulse.reporting.runners import QueryResult

VIEWED_NOT_ADOPTED = "viewed-not-adopted"
ADOPTED_NOT_COMPLETED = "adopted-not-completed"
AUDIENCES: tuple[str, ...] = tuple(AUDIENCE_RULES)  # the catalogue's rules (featurepulse/domain/metrics.py)
assert AUDIENCES == (VIEWED_NOT_ADOPTED, ADOPTED_NOT_COMPLETED)
AUDIENCE_MEANINGS: dict[str, str] = {
    VIEWED_NOT_ADOPTED: "viewed the feature but neither used nor completed it",
    ADOPTED_NOT_COMPLETED: "used the feature but did not complete it",
}
AUDIENCES_PREFIX = "audiences/"
AUDIENCE_FILE = "audience.csv"
LINK_EXPIRES_S = 7 * 24 * 3600  # S3's longest presigned URL (SigV4)
USER_IDS_SEPARATOR = ";"
BASE_COLUMNS: tuple[str, ...] = ("person_id", "user_ids")
# The inline table feature_audiences.sql reads the chosen traits from.
TRAITS_TABLE = "audience_traits"
SIZE_COLUMNS: tuple[str, ...] = ("feature", "audience", "audience_persons", "location")


def audience_traits_table(traits: Sequence[str]) -> InlineTable:
    return InlineTable(("trait",), tuple((t,) for t in dict.fromkeys(traits)))


def audience_key(feature: str, audience: str, period: Period) -> str:
    """The object key of one audience file (the same under the S3 lake and the local lake directory)."""
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}; known: {', '.join(AUDIENCES)}")
    return (
        f"{AUDIENCES_PREFIX}feature={quote(feature, safe='')}/audience={audience}/period={period.kind}/"
        f"date={period.start.isoformat()}/{AUDIENCE_FILE}"
    )


@dataclass(frozen=True)
class AudienceMember:
    person_id: str
    user_ids: tuple[str, ...]
    traits: Mapping[str, str | None]


@dataclass(frozen=True)
class Audience:
    feature: str
    audience: str
    members: tuple[AudienceMember, ...]

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass(frozen=True)
class AudienceFile:
    feature: str
    audience: str
    persons: int
    key: str
    location: str  # a presigned URL (AWS) or a local path

    def row(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "audience": self.audience,
            "audience_persons": self.persons,
            "location": self.location,
        }


def build_audiences(rows: Iterable[Mapping[str, Any]], features: Iterable[str]) -> tuple[Audience, ...]:
    """Both audiences of every feature (from feature_audiences rows; `features`: those with an event in the
    period, so empty audiences are listed too), sorted by feature then audience."""
    members: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for row in rows:
        key = (str(row["feature"]), str(row["audience"]))
        person = members.setdefault(key, {}).setdefault(
            str(row["person_id"]),
            {"user_ids": tuple(str(row["user_ids"] or "").split(USER_IDS_SEPARATOR)), "traits": {}},
        )
        if row.get("trait") is not None:
            person["traits"][str(row["trait"])] = None if row.get("trait_value") is None else str(row["trait_value"])
    names = sorted(set(features) | {feature for feature, _ in members})
    return tuple(
        Audience(
            feature,
            audience,
            tuple(
                AudienceMember(person_id, tuple(u for u in p["user_ids"] if u), dict(p["traits"]))
                for person_id, p in sorted(members.get((feature, audience), {}).items())
            ),
        )
        for feature in names
        for audience in AUDIENCES
    )


def audience_csv(audience: Audience, traits: Sequence[str]) -> bytes:
    """One audience as CSV: person_id, user_ids (';'-separated), one column per chosen trait."""
    traits = tuple(dict.fromkeys(traits))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralize_formula(c) for c in (*BASE_COLUMNS, *traits)])
    for m in audience.members:
        cells = [m.person_id, USER_IDS_SEPARATOR.join(m.user_ids), *(m.traits.get(t) or "" for t in traits)]
        writer.writerow([neutralize_formula(c) for c in cells])
    return buffer.getvalue().encode("utf-8")


class AudienceStore(Protocol):
    """Where audience files go: returns where a marketer finds the file (a link or a path)."""

    def put(self, key: str, data: bytes) -> str: ...


@dataclass
class S3AudienceStore:
    """The lake bucket (AWS): the file, then a presigned GET URL of it."""

    client: Any
    bucket: str
    expires_s: int = LINK_EXPIRES_S

    def put(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="text/csv; charset=utf-8")
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.expires_s
        )
        return url


@dataclass
class DirectoryAudienceStore:
    """A directory laid out like the bucket (local mode: the local lake directory): the file's path."""

    root: Path
    written: list[Path] = field(default_factory=list)

    def put(self, key: str, data: bytes) -> str:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        self.written.append(path)
        return str(path.resolve())


def write_audiences(
    audiences: Iterable[Audience], traits: Sequence[str], period: Period, store: AudienceStore
) -> tuple[AudienceFile, ...]:
    files = []
    for a in audiences:
        key = audience_key(a.feature, a.audience, period)
        location = store.put(key, audience_csv(a, traits))
        files.append(AudienceFile(a.feature, a.audience, a.size, key, location))
    return tuple(files)


def sizes_table(files: Iterable[AudienceFile]) -> QueryResult:
    """The audiences' sizes and where they are (the e-mail's table and its CSV attachment)."""
    return QueryResult(name="audience_sizes", columns=SIZE_COLUMNS, rows=tuple(f.row() for f in files))
