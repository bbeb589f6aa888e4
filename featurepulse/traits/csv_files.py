"""Read and validate the CSV files a marketer imports: CRM traits and campaign spend (docs/segments.md).

Pure (standard library only): bytes in, rows or one `ImportFileError` out. The whole file is checked before a
single row is returned, so an import is either complete or refused; the error names the line (the physical
line a record starts on, counting the header as line 1) and the column.

Traits file: UTF-8 (a BOM is fine), comma-separated (`delimiter` to change), a header line naming the columns,
one key column (`--key`, e.g. userId); every other column is a trait. Values are trimmed; an empty cell sets
nothing. Spend file: exactly the columns `campaign` and `spend_usd` (a plain non-negative number in US dollars).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from featurepulse.domain.traits import ACCOUNT_TRAIT_PREFIX, KEY_KIND_ACCOUNT, KEY_KIND_USER, TraitImportRow

MAX_COLUMNS = 100
MAX_COLUMN_NAME_CHARS = 128
MAX_KEY_CHARS = 256  # the ingest limit of a userId or groupId
MAX_VALUE_CHARS = 1000
MAX_ROWS = 1_000_000
MAX_SPEND_USD = 1e12
SPEND_CAMPAIGN_COLUMN = "campaign"
SPEND_AMOUNT_COLUMN = "spend_usd"
SPEND_COLUMNS = (SPEND_CAMPAIGN_COLUMN, SPEND_AMOUNT_COLUMN)
_PLAIN_NUMBER = re.compile(r"^\d+(\.\d+)?$|^\.\d+$")


class ImportFileError(ValueError):
    """A file that cannot be imported, with where: `line 7, column 'plan' (3): value of 1500 characters...`."""

    def __init__(self, message: str, *, line: int | None = None, column: str | None = None, index: int | None = None):
        self.line = line
        self.column = column
        self.index = index
        self.reason = message
        where = []
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}" + (f" ({index})" if index is not None else ""))
        elif index is not None:
            where.append(f"column {index}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


@dataclass(frozen=True)
class TraitsFile:
    key_column: str
    trait_columns: tuple[str, ...]
    keys: int
    rows: list[TraitImportRow]


@dataclass(frozen=True)
class SpendLine:
    campaign: str
    spend_usd: float
    line: int


def decode_text(data: bytes) -> str:
    """The file's text: UTF-8 (BOM dropped), never a binary file."""
    if data[:4] == b"PK\x03\x04":
        raise ImportFileError(
            "not a CSV file: it looks like a spreadsheet workbook (zip); export it as CSV (UTF-8)", line=1
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ImportFileError(
            "not a CSV file: it holds NUL bytes (a binary file, or UTF-16 text: save it as UTF-8)",
            line=data[:nul].count(b"\n") + 1,
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ImportFileError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at character {column}); save the file as UTF-8",
            line=line,
        ) from None


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) of each non-blank record."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    previous = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFileError(f"not valid CSV: {exc}", line=previous + 1) from None
        start, previous = previous + 1, reader.line_num
        if fields and any(f.strip() for f in fields):
            yield start, fields


def _header(records: Iterator[tuple[int, list[str]]]) -> tuple[int, list[str]]:
    try:
        line, names = next(records)
    except StopIteration:
        raise ImportFileError("the file is empty: the first line must name the columns", line=1) from None
    names = [n.strip() for n in names]
    if len(names) > MAX_COLUMNS:
        raise ImportFileError(f"{len(names)} columns, at most {MAX_COLUMNS}", line=line)
    first_seen: dict[str, int] = {}
    for index, name in enumerate(names, start=1):
        if not name:
            raise ImportFileError("empty column name (the first line must name every column)", line=line, index=index)
        if len(name) > MAX_COLUMN_NAME_CHARS:
            raise ImportFileError(
                f"column name of {len(name)} characters, at most {MAX_COLUMN_NAME_CHARS}", line=line, index=index
            )
        if name in first_seen:
            raise ImportFileError(
                f"duplicate column name (also column {first_seen[name]})", line=line, column=name, index=index
            )
        first_seen[name] = index
    return line, names


def _fields(line: int, fields: list[str], names: list[str]) -> list[str]:
    if len(fields) != len(names):
        raise ImportFileError(
            f"{len(fields)} fields, the header has {len(names)} (a value with a comma must be in double quotes)",
            line=line,
        )
    return [f.strip() for f in fields]


def read_traits_csv(
    data: bytes,
    *,
    key_column: str,
    import_name: str,
    imported_at: str,
    account: bool = False,
    delimiter: str = ",",
) -> TraitsFile:
    """Every (key, trait, value) of a traits file, long form, or the first problem found."""
    records = _records(decode_text(data), delimiter)
    header_line, names = _header(records)
    if key_column not in names:
        near = [n for n in names if n.lower() == key_column.lower()]
        hint = f" (did you mean {near[0]!r}? names are case-sensitive)" if near else ""
        raise ImportFileError(
            f"no key column {key_column!r}{hint}; the columns are: {', '.join(names)}", line=header_line
        )
    key_index = names.index(key_column)
    traits = [(i, n) for i, n in enumerate(names) if i != key_index]
    if not traits:
        raise ImportFileError(f"no trait column besides the key column {key_column!r}", line=header_line)
    if not account:
        for i, name in traits:
            if name.startswith(ACCOUNT_TRAIT_PREFIX):
                raise ImportFileError(
                    f"a user trait may not start with {ACCOUNT_TRAIT_PREFIX!r} (account traits are imported with "
                    "--account, keyed by the account id)",
                    line=header_line,
                    column=name,
                    index=i + 1,
                )
    kind = KEY_KIND_ACCOUNT if account else KEY_KIND_USER
    first_line_of: dict[str, int] = {}
    rows: list[TraitImportRow] = []
    for line, raw in records:
        if len(first_line_of) >= MAX_ROWS:
            raise ImportFileError(f"more than {MAX_ROWS:,} rows: split the file (one --name each)", line=line)
        fields = _fields(line, raw, names)
        key = fields[key_index]
        if not key:
            raise ImportFileError("empty key", line=line, column=key_column, index=key_index + 1)
        if len(key) > MAX_KEY_CHARS:
            raise ImportFileError(
                f"key of {len(key)} characters, at most {MAX_KEY_CHARS}",
                line=line,
                column=key_column,
                index=key_index + 1,
            )
        if key in first_line_of:
            raise ImportFileError(
                f"duplicate key {key!r} (first on line {first_line_of[key]})",
                line=line,
                column=key_column,
                index=key_index + 1,
            )
        first_line_of[key] = line
        for i, name in traits:
            value = fields[i]
            if len(value) > MAX_VALUE_CHARS:
                raise ImportFileError(
                    f"value of {len(value)} characters, at most {MAX_VALUE_CHARS}", line=line, column=name, index=i + 1
                )
            if value:
                rows.append(TraitImportRow(kind, key, name, value, import_name, imported_at))
    if not first_line_of:
        raise ImportFileError("no rows after the header: nothing to import", line=header_line)
    return TraitsFile(
        key_column=key_column, trait_columns=tuple(n for _, n in traits), keys=len(first_line_of), rows=rows
    )


def parse_spend(text: str, *, line: int, column: str, index: int) -> float:
    if not _PLAIN_NUMBER.match(text):
        hint = " (a plain number such as 1250.50: no currency sign, no thousands separator)"
        if text.startswith("-"):
            raise ImportFileError(f"negative spend {text!r}", line=line, column=column, index=index)
        raise ImportFileError(f"not a number: {text!r}{hint}", line=line, column=column, index=index)
    value = float(text)
    if not math.isfinite(value) or value > MAX_SPEND_USD:
        raise ImportFileError(f"spend {text} is above {MAX_SPEND_USD:,.0f}", line=line, column=column, index=index)
    return value


def read_spend_csv(data: bytes, *, delimiter: str = ",") -> list[SpendLine]:
    """The (campaign, spend) lines of a spend file, or the first problem found."""
    records = _records(decode_text(data), delimiter)
    header_line, names = _header(records)
    missing = [c for c in SPEND_COLUMNS if c not in names]
    extra = [n for n in names if n not in SPEND_COLUMNS]
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"no column {', '.join(repr(m) for m in missing)}")
        if extra:
            problems.append(f"unexpected column {', '.join(repr(e) for e in extra)}")
        raise ImportFileError(
            f"{'; '.join(problems)}: a spend file has exactly the columns {', '.join(SPEND_COLUMNS)}",
            line=header_line,
        )
    campaign_index, spend_index = names.index(SPEND_CAMPAIGN_COLUMN), names.index(SPEND_AMOUNT_COLUMN)
    first_line_of: dict[str, int] = {}
    out: list[SpendLine] = []
    for line, raw in records:
        if len(out) >= MAX_ROWS:
            raise ImportFileError(f"more than {MAX_ROWS:,} rows", line=line)
        fields = _fields(line, raw, names)
        campaign, amount = fields[campaign_index], fields[spend_index]
        problem = None
        if not campaign:
            problem = "empty campaign name"
        elif len(campaign) > MAX_KEY_CHARS:
            problem = f"campaign name of {len(campaign)} characters, at most {MAX_KEY_CHARS}"
        elif campaign in first_line_of:
            problem = f"duplicate campaign {campaign!r} (first on line {first_line_of[campaign]})"
        if problem is not None:
            raise ImportFileError(problem, line=line, column=SPEND_CAMPAIGN_COLUMN, index=campaign_index + 1)
        first_line_of[campaign] = line
        if not amount:
            raise ImportFileError("empty spend", line=line, column=SPEND_AMOUNT_COLUMN, index=spend_index + 1)
        spend = parse_spend(amount, line=line, column=SPEND_AMOUNT_COLUMN, index=spend_index + 1)
        out.append(SpendLine(campaign=campaign, spend_usd=spend, line=line))
    if not out:
        raise ImportFileError("no rows after the header: nothing to import", line=header_line)
    return out
