"""GDPR erasure (docs/design.md section 4, docs/identity.md): remove every row of a person, auditably.

What is erased, for a set of user ids U and anonymous ids A:
- lake rows (events/) where `user_id` is in U, or where `user_id` is null and `anonymous_id` is in A, and the
  `alias` rows whose `properties.previousId` is in U or A (an alias names the erased id even when its user id
  is another person's, or when the alias was never applied to the identity table);
- A grows by the anonymous ids that appear on U's own rows (the pre-login events of the same person), unless
  `include_linked_anonymous_ids` is off. A row of another user that shares a device (same anonymous id, other
  user id) is never touched;
- quarantined events (quarantine/) and Firehose error records (errors/) that name U or A, judged from their
  identity fields and from the raw event they carry (its `previousId` too, at the top level as Segment sends an
  alias, or in `properties` as the lake stores it);
- the person's rows of the identity table (identity/, docs/identity.md);
- the CRM trait rows keyed by any user id of the person (traits/imports/, docs/segments.md);
- the person's rows of the audience files (audiences/, docs/reports.md "Audiences": CSV files of persons the
  report job wrote, one row per person, matched on its `person_id` and its `;`-separated `user_ids`).

Persons: a user id stands for its whole person. Before the scan, U grows by every user id of the person
(aliases) and A by every anonymous id the identity table assigns to the person (devices it signed in on,
anonymous visits before signing in), unless `include_linked_anonymous_ids` is off. An anonymous id that the
identity table gives to ANOTHER person (a shared device, first used by someone else) is not taken from U's
rows: its anonymous events are the other person's. At the end, the links that name any erased id are
removed from the identity table and the persons are resolved again from the links left.

How: one scan reads only the `user_id`/`anonymous_id` columns of each data file (Parquet footer + two column
chunks, ranged GETs on S3), then only the affected files are rewritten in place (same key, same compression and
physical types) or deleted when nothing is left; older versions of a rewritten object are deleted too (the
bucket is versioned). An audit entry (who, when, which objects, how many rows) goes to
`audit/erasure/dt=YYYY-MM-DD/`; it stores SHA-256 digests of the ids, never the ids themselves.

Re-running is safe: a second run finds nothing to remove and records an audit entry saying so. A run that
stops half-way leaves every object either untouched or fully rewritten (a PUT replaces an object atomically), so
running it again completes it.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, field_serializer

from featurepulse.constants import QUARANTINE_PREFIX
from featurepulse.domain.identity import ID_KIND_ANONYMOUS, ID_KIND_USER, person_ids, resolve_identities
from featurepulse.domain.schema import format_timestamp
from featurepulse.lake.layout import AUDIT_ERASURE_PREFIX, ERRORS_PREFIX, EVENTS_PREFIX, is_data_file, partition_of
from featurepulse.lake.parquet import file_format, parquet_to_table, table_to_parquet
from featurepulse.lake.store import ObjectStore

if TYPE_CHECKING:
    from featurepulse.identity.store import IdentityStore

IDENTITY_COLUMNS = ("user_id", "anonymous_id")
# Read by the scan too: `type` for every file (small, dictionary-encoded), `properties` only for a file that
# holds an alias row (its previousId is an id).
TYPE_COLUMN = "type"
PROPERTIES_COLUMN = "properties"
ALIAS_TYPE = "alias"
# The report's audience files (featurepulse/reporting/audiences.py AUDIENCES_PREFIX; a test keeps them equal).
AUDIENCES_PREFIX = "audiences/"
# Keys an event may carry its identity under: the Segment wire names and our enriched names.
_RAW_USER_KEYS = ("userId", "user_id")
_RAW_ANONYMOUS_KEYS = ("anonymousId", "anonymous_id")


@dataclass(frozen=True)
class ErasureRequest:
    user_ids: frozenset[str]
    anonymous_ids: frozenset[str] = frozenset()
    include_linked_anonymous_ids: bool = True

    def __post_init__(self) -> None:
        if not self.user_ids and not self.anonymous_ids:
            raise ValueError("an erasure needs at least one user id or anonymous id")
        if any(not i.strip() for i in [*self.user_ids, *self.anonymous_ids]):
            raise ValueError("ids to erase must not be blank")


class ObjectChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    rows_before: int
    rows_removed: int
    action: Literal["rewritten", "deleted", "would-rewrite", "would-delete"]
    old_versions_deleted: int = 0


class ErasureAudit(BaseModel):
    """One audit entry. Ids are stored as SHA-256 digests: the entry proves an erasure without keeping the id."""

    model_config = ConfigDict(frozen=True)

    audit_id: str
    requested_by: str
    started_at: datetime
    finished_at: datetime
    store: str
    dry_run: bool
    user_id_sha256: list[str]
    anonymous_id_sha256: list[str]
    linked_anonymous_ids: int
    lake_files_scanned: int
    lake_files: list[ObjectChange]
    rows_removed: int
    quarantine_objects_scanned: int
    quarantine_objects: list[ObjectChange]
    quarantine_events_removed: int
    error_objects: list[ObjectChange]
    error_records_removed: int
    # Identity table (docs/identity.md): ids of the person added from it, and its rows removed.
    person_user_ids: int = 0
    identity_links_removed: int = 0
    identity_rows_removed: int = 0
    # CRM trait imports (docs/segments.md): the objects rewritten and the user's rows removed.
    trait_import_objects: list[ObjectChange] = []
    trait_rows_removed: int = 0
    # Audience files (docs/reports.md): the persons' rows removed from them.
    audience_objects: list[ObjectChange] = []
    audience_rows_removed: int = 0
    audit_key: str | None = None

    @field_serializer("started_at", "finished_at")
    def _serialize_time(self, value: datetime) -> str:
        return format_timestamp(value)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class _Scan:
    key: str
    affected: bool
    linked: set[str]
    has_user_rows: bool = False


def _previous_id(properties: Any) -> Any:
    """`previousId` of an event's properties (a dict, or JSON text as the lake stores it); None if absent."""
    if isinstance(properties, str):
        try:
            properties = json.loads(properties)
        except ValueError:
            return None
    return properties.get("previousId") if isinstance(properties, dict) else None


def has_alias_rows(table: pa.Table) -> bool:
    return TYPE_COLUMN in table.column_names and bool(
        pc.any(pc.fill_null(pc.equal(table.column(TYPE_COLUMN), ALIAS_TYPE), False)).as_py()
    )


class _Matcher:
    def __init__(self, user_ids: frozenset[str], anonymous_ids: set[str]) -> None:
        self.user_ids = user_ids
        self.anonymous_ids = anonymous_ids
        self.ids = user_ids | anonymous_ids  # what an alias's previousId may name (an anonymous or a user id)
        self._users = pa.array(sorted(user_ids), type=pa.string())
        self._anons = pa.array(sorted(anonymous_ids), type=pa.string())

    def rows(self, table: pa.Table) -> pa.ChunkedArray:
        """Boolean mask of the rows to erase (a table without `properties` is judged on its ids only)."""
        user = table.column("user_id")
        by_user = pc.fill_null(pc.is_in(user, value_set=self._users), False)
        by_anon = pc.and_(pc.is_null(user), pc.fill_null(pc.is_in(table.column("anonymous_id"), self._anons), False))
        mask = pc.or_(by_user, by_anon)
        if PROPERTIES_COLUMN in table.column_names and has_alias_rows(table):
            mask = pc.or_(mask, self._aliases_naming_an_id(table))
        return mask

    def _aliases_naming_an_id(self, table: pa.Table) -> pa.ChunkedArray:
        """Alias rows whose previousId is an erased id (the properties of alias rows only are parsed)."""
        is_alias = pc.fill_null(pc.equal(table.column(TYPE_COLUMN), ALIAS_TYPE), False)
        positions = pc.indices_nonzero(is_alias).to_pylist()
        properties = table.column(PROPERTIES_COLUMN).take(positions).to_pylist()
        flags = [False] * table.num_rows
        for position, props in zip(positions, properties, strict=True):
            previous = _previous_id(props)
            flags[position] = isinstance(previous, str) and previous in self.ids
        return pa.chunked_array([pa.array(flags, type=pa.bool_())])

    def event(self, user_id: Any, anonymous_id: Any) -> bool:
        if isinstance(user_id, str) and user_id:
            return user_id in self.user_ids
        return isinstance(anonymous_id, str) and anonymous_id in self.anonymous_ids

    def names_previous_id(self, event: dict[str, Any]) -> bool:
        """An event whose previousId (top level as Segment sends an alias, or in properties) is an erased id."""
        for previous in (event.get("previousId"), _previous_id(event.get("properties"))):
            if isinstance(previous, str) and previous in self.ids:
                return True
        return False

    def raw_text(self, raw: str) -> bool:
        """Judge a raw event as the client sent it; unparsable text is matched on the quoted ids it contains."""
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            user = next((parsed[k] for k in _RAW_USER_KEYS if parsed.get(k) not in (None, "")), None)
            anon = next((parsed[k] for k in _RAW_ANONYMOUS_KEYS if parsed.get(k) not in (None, "")), None)
            return self.event(
                str(user) if user is not None else None, str(anon) if anon is not None else None
            ) or self.names_previous_id(parsed)
        return any(json.dumps(i) in raw for i in [*self.user_ids, *self.anonymous_ids])


class LakeEraser:
    def __init__(
        self,
        store: ObjectStore,
        *,
        workers: int = 8,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        log: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.store = store
        self.workers = workers
        self._now = now
        self._log = log

    def erase(self, request: ErasureRequest, *, requested_by: str, dry_run: bool = False) -> ErasureAudit:
        started = self._now()
        data_keys = [k for k in self.store.list_keys(EVENTS_PREFIX) if is_data_file(k)]
        self._log(f"scanning {len(data_keys)} data files in {self.store.description}")

        given_anons = set(request.anonymous_ids)
        person = _PersonIds.of(self._identity(), request) if request.include_linked_anonymous_ids else None
        user_ids = request.user_ids | (person.user_ids if person else frozenset())
        scans = self._scan(data_keys, _Matcher(user_ids, given_anons), collect_linked=True)
        linked = (
            (set().union(*(s.linked for s in scans)) - (person.others_devices if person else set()))
            | (person.anonymous_ids if person else set())
        ) - given_anons
        if not request.include_linked_anonymous_ids:
            linked = set()
        affected = {s.key for s in scans if s.affected}
        matcher = _Matcher(user_ids, given_anons | linked)
        if linked:
            # Second pass, only for the anonymous ids learnt from the user's own rows and the identity table.
            rest = [k for k in data_keys if k not in affected]
            affected |= {
                s.key for s in self._scan(rest, _Matcher(frozenset(), linked), collect_linked=False) if s.affected
            }

        # Order matters for a run that stops half-way: the anonymous ids are learnt from the user's own rows, so
        # those rows go last. Until they are gone, a re-run finds the same anonymous ids and finishes the job.
        with_user_rows = {s.key for s in scans if s.has_user_rows}
        first = sorted(affected - with_user_rows)
        lake_changes = self._erase_files(first, matcher, dry_run)
        quarantine_scanned, quarantine_changes = self._erase_lines(
            QUARANTINE_PREFIX, ".jsonl", lambda line: _quarantine_line_matches(line, matcher), dry_run
        )
        _, error_changes = self._erase_lines(
            ERRORS_PREFIX, "", lambda line: _error_line_matches(line, matcher), dry_run
        )
        last = sorted(affected & with_user_rows)
        lake_changes += self._erase_files(last, matcher, dry_run)
        lake_changes.sort(key=lambda c: c.key)
        # The person's CRM trait rows (docs/segments.md), keyed by user id.
        trait_changes = self._erase_traits(user_ids, dry_run)
        audience_changes = self._erase_audiences(matcher, dry_run)
        # The identity rows go last of all: they are how a re-run finds the person's ids again.
        links_removed, rows_removed = self._erase_identity(user_ids, given_anons | linked, dry_run)
        audit_id = str(uuid.uuid4())
        audit = ErasureAudit(
            audit_id=audit_id,
            requested_by=requested_by,
            started_at=started,
            finished_at=self._now(),
            store=self.store.description,
            dry_run=dry_run,
            user_id_sha256=sorted(digest(u) for u in user_ids),
            anonymous_id_sha256=sorted(digest(a) for a in given_anons | linked),
            linked_anonymous_ids=len(linked),
            lake_files_scanned=len(data_keys),
            lake_files=lake_changes,
            rows_removed=sum(c.rows_removed for c in lake_changes),
            quarantine_objects_scanned=quarantine_scanned,
            quarantine_objects=quarantine_changes,
            quarantine_events_removed=sum(c.rows_removed for c in quarantine_changes),
            error_objects=error_changes,
            error_records_removed=sum(c.rows_removed for c in error_changes),
            person_user_ids=len(user_ids - request.user_ids),
            identity_links_removed=links_removed,
            identity_rows_removed=rows_removed,
            trait_import_objects=trait_changes,
            trait_rows_removed=sum(c.rows_removed for c in trait_changes),
            audience_objects=audience_changes,
            audience_rows_removed=sum(c.rows_removed for c in audience_changes),
        )
        if dry_run:
            return audit
        part = partition_of(started)
        key = f"{AUDIT_ERASURE_PREFIX}dt={part.dt}/{started.strftime('%Y%m%dT%H%M%S%fZ')}-{audit_id}.json"
        audit = audit.model_copy(update={"audit_key": key})
        self.store.put(key, audit.model_dump_json(indent=2).encode() + b"\n")
        return audit

    # --- audience files (CSV, one row per person) ---------------------------------------------------
    def _erase_audiences(self, matcher: _Matcher, dry_run: bool) -> list[ObjectChange]:
        changes: list[ObjectChange] = []
        for key in sorted(k for k in self.store.list_keys(AUDIENCES_PREFIX) if k.endswith(".csv")):
            rows = list(csv.reader(io.StringIO(self.store.get(key).decode("utf-8"), newline="")))
            if not rows:
                continue
            header, body = rows[0], rows[1:]
            kept = [row for row in body if not _audience_row_matches(header, row, matcher)]
            removed = len(body) - len(kept)
            if removed == 0:
                continue
            action: Literal["rewritten", "deleted", "would-rewrite", "would-delete"] = "would-rewrite"
            purged = 0
            if not dry_run:  # an emptied audience stays, as an empty list: its link and the export still find it
                buffer = io.StringIO()
                csv.writer(buffer, lineterminator="\r\n").writerows([header, *kept])
                self.store.put(key, buffer.getvalue().encode("utf-8"))
                action = "rewritten"
                purged = self.store.purge_old_versions(key)
            self._log(f"{action} {key}: {removed} of {len(body)} persons removed")
            changes.append(
                ObjectChange(
                    key=key, rows_before=len(body), rows_removed=removed, action=action, old_versions_deleted=purged
                )
            )
        return changes

    # --- CRM trait imports -------------------------------------------------------------------------
    def _erase_traits(self, user_ids: frozenset[str], dry_run: bool) -> list[ObjectChange]:
        """Remove the `trait_imports` rows keyed by the person's user ids (account rows are not a person's)."""
        from featurepulse.traits.store import TraitStore

        changes = []
        for key, before, removed in TraitStore(self.store).erase_users(user_ids, dry_run=dry_run):
            gone = removed == before
            action = ("would-delete" if gone else "would-rewrite") if dry_run else ("deleted" if gone else "rewritten")
            changes.append(ObjectChange(key=key, rows_before=before, rows_removed=removed, action=action))
        if changes and not dry_run:
            self._log(f"trait imports: {sum(c.rows_removed for c in changes)} rows removed from {len(changes)} objects")
        return changes

    # --- identity table ----------------------------------------------------------------------------
    def _identity(self) -> IdentityStore:
        from featurepulse.identity.store import IdentityStore

        return IdentityStore(self.store)

    def _erase_identity(self, user_ids: frozenset[str], anonymous_ids: set[str], dry_run: bool) -> tuple[int, int]:
        """Remove every link naming an erased id; resolve the persons again from the links left."""
        identity = self._identity()
        links = identity.read_links()
        rows = identity.read_identities()
        if not links and not rows:
            return 0, 0
        erased = {(ID_KIND_USER, u) for u in user_ids} | {(ID_KIND_ANONYMOUS, a) for a in anonymous_ids}
        kept = [link for link in links if link.source not in erased and (ID_KIND_USER, link.to_user_id) not in erased]
        new_rows = resolve_identities(kept)
        links_removed = len(links) - len(kept)
        rows_removed = len({(r.id_kind, r.id) for r in rows} - {(r.id_kind, r.id) for r in new_rows})
        if (links_removed or rows_removed or new_rows != rows) and not dry_run:
            identity.write(kept, new_rows, now=self._now())
            self._log(f"identity table: {links_removed} links and {rows_removed} rows removed")
        return links_removed, rows_removed

    # --- lake data files -------------------------------------------------------------------------
    def _scan(self, keys: list[str], matcher: _Matcher, *, collect_linked: bool) -> list[_Scan]:
        def one(key: str) -> _Scan:
            with self.store.open(key) as handle:
                # ParquetFile.read: footer + the id and type column chunks, without read_table's dataset set-up;
                # the properties only when the file holds an alias row.
                parquet = pq.ParquetFile(handle, pre_buffer=True)
                table = parquet.read(columns=[*IDENTITY_COLUMNS, TYPE_COLUMN])
                if has_alias_rows(table):
                    table = table.append_column(PROPERTIES_COLUMN, parquet.read(columns=[PROPERTIES_COLUMN]).column(0))
            mask = matcher.rows(table)
            linked: set[str] = set()
            has_user_rows = False
            if collect_linked and matcher.user_ids:
                own = pc.fill_null(pc.is_in(table.column("user_id"), value_set=matcher._users), False)
                has_user_rows = bool(pc.any(own).as_py())
                if has_user_rows:
                    linked = {a for a in pc.unique(table.column("anonymous_id").filter(own)).to_pylist() if a}
            return _Scan(key=key, affected=bool(pc.any(mask).as_py()), linked=linked, has_user_rows=has_user_rows)

        if not keys:
            return []
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(keys)))) as pool:
            return list(pool.map(one, keys))

    def _erase_files(self, keys: list[str], matcher: _Matcher, dry_run: bool) -> list[ObjectChange]:
        """Rewrite files in parallel (Parquet (de)compression and S3 transfers release the GIL)."""
        if not keys:
            return []
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(keys)))) as pool:
            changes = list(pool.map(lambda key: self._erase_file(key, matcher, dry_run), keys))
        return [c for c in changes if c is not None]

    def _erase_file(self, key: str, matcher: _Matcher, dry_run: bool) -> ObjectChange | None:
        data = self.store.get(key)
        table = parquet_to_table(data)
        mask = matcher.rows(table)
        removed = int(pc.sum(mask).as_py() or 0)
        if removed == 0:
            return None
        kept = table.filter(pc.invert(mask))
        action: Literal["rewritten", "deleted", "would-rewrite", "would-delete"]
        purged = 0
        if dry_run:
            action = "would-delete" if kept.num_rows == 0 else "would-rewrite"
        elif kept.num_rows == 0:
            self.store.delete(key)
            action = "deleted"
            purged = self.store.purge_old_versions(key)
        else:
            fmt = file_format(data)
            self.store.put(key, table_to_parquet(kept, compression=fmt.compression, int96=fmt.int96))
            action = "rewritten"
            purged = self.store.purge_old_versions(key)
        self._log(f"{action} {key}: {removed} of {table.num_rows} rows removed")
        return ObjectChange(
            key=key, rows_before=table.num_rows, rows_removed=removed, action=action, old_versions_deleted=purged
        )

    # --- line-oriented objects: quarantine (JSON Lines) and Firehose error records -------------------
    def _erase_lines(
        self, prefix: str, suffix: str, matches: Callable[[bytes], bool], dry_run: bool
    ) -> tuple[int, list[ObjectChange]]:
        keys = [k for k in self.store.list_keys(prefix) if k.endswith(suffix)]
        changes: list[ObjectChange] = []
        for key in keys:
            data = self.store.get(key)
            lines = [line for line in _json_documents(data)]
            kept = [line for line in lines if not matches(line)]
            removed = len(lines) - len(kept)
            if removed == 0:
                continue
            action: Literal["rewritten", "deleted", "would-rewrite", "would-delete"]
            purged = 0
            if dry_run:
                action = "would-delete" if not kept else "would-rewrite"
            elif not kept:
                self.store.delete(key)
                action = "deleted"
                purged = self.store.purge_old_versions(key)
            else:
                self.store.put(key, b"".join(line + b"\n" for line in kept))
                action = "rewritten"
                purged = self.store.purge_old_versions(key)
            self._log(f"{action} {key}: {removed} of {len(lines)} records removed")
            changes.append(
                ObjectChange(
                    key=key, rows_before=len(lines), rows_removed=removed, action=action, old_versions_deleted=purged
                )
            )
        return len(keys), changes


@dataclass(frozen=True)
class _PersonIds:
    """What the identity table says about the persons of the requested user ids."""

    user_ids: frozenset[str]  # every user id of the persons (aliases), the requested ones included
    anonymous_ids: set[str]  # every anonymous id the table assigns to the persons
    others_devices: set[str]  # anonymous ids the table assigns to other persons (shared devices)

    @classmethod
    def of(cls, identity: IdentityStore, request: ErasureRequest) -> _PersonIds:
        rows = identity.read_identities()
        persons = {(r.id_kind, r.id): r.person_id for r in rows}
        wanted = {persons.get((ID_KIND_USER, u), u) for u in request.user_ids}
        users: set[str] = set(request.user_ids)
        anons: set[str] = set()
        for person in wanted:
            ids = person_ids(persons, person)
            users.update(ids[ID_KIND_USER])
            anons.update(ids[ID_KIND_ANONYMOUS])
        others = {r.id for r in rows if r.id_kind == ID_KIND_ANONYMOUS and r.person_id not in wanted}
        return cls(user_ids=frozenset(users), anonymous_ids=anons, others_devices=others)


def _json_documents(data: bytes) -> Iterator[bytes]:
    """The JSON documents of an object: JSON Lines, or documents concatenated without a separator."""
    text = data.decode("utf-8", errors="replace")
    decoder = json.JSONDecoder()
    pos = 0
    while pos < len(text):
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            return
        try:
            _, end = decoder.raw_decode(text, pos)
        except ValueError:
            # Not JSON from here on: keep the rest of the line as one opaque record.
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
        yield text[pos:end].encode()
        pos = end


def _audience_row_matches(header: list[str], row: list[str], matcher: _Matcher) -> bool:
    """An audience row of an erased person: its person id, or one of its user ids, is an erased id (a cell the
    CSV writer neutralized with a leading `'` is read without it)."""
    cells = dict(zip(header, row, strict=False))

    def plain(text: str) -> str:
        return text[1:] if text.startswith("'") else text

    ids = {plain(cells.get("person_id", ""))} | {plain(u) for u in cells.get("user_ids", "").split(";")}
    return bool(ids & matcher.ids)


def _quarantine_line_matches(line: bytes, matcher: _Matcher) -> bool:
    try:
        record = json.loads(line)
    except ValueError:
        return matcher.raw_text(line.decode("utf-8", errors="replace"))
    if not isinstance(record, dict):
        return False
    if matcher.event(record.get("user_id"), record.get("anonymous_id")):
        return True
    raw = record.get("raw")
    return isinstance(raw, str) and matcher.raw_text(raw)


def _error_line_matches(line: bytes, matcher: _Matcher) -> bool:
    try:
        record = json.loads(line)
        raw = base64.b64decode(record["rawData"]).decode("utf-8", errors="replace")
    except (ValueError, KeyError, TypeError):
        return matcher.raw_text(line.decode("utf-8", errors="replace"))
    return any(matcher.raw_text(doc.decode()) for doc in _json_documents(raw.encode()))


def read_user_ids(lines: Iterable[str]) -> frozenset[str]:
    """User ids from a batch file: one per line; blank lines and `#` comments are ignored."""
    return frozenset(s for line in lines if (s := line.strip()) and not s.startswith("#"))
