"""CRM and spend CSV files (docs/segments.md): a good file gives its rows in long form; a bad one is refused whole
with one message naming the line and the column."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurepulse.traits.csv_files import (
    MAX_COLUMNS,
    MAX_VALUE_CHARS,
    ImportFileError,
    read_spend_csv,
    read_traits_csv,
)

STAMP = "2026-12-04T10:00:00.000Z"


def traits(text: str | bytes, key: str = "userId", **kwargs: object) -> list[tuple[str, str, str, str]]:
    data = text.encode() if isinstance(text, str) else text
    parsed = read_traits_csv(data, key_column=key, import_name="crm", imported_at=STAMP, **kwargs)  # type: ignore[arg-type]
    return [(r.key_kind, r.key, r.trait, r.value) for r in parsed.rows]


def refused(text: str | bytes, key: str = "userId", **kwargs: object) -> str:
    with pytest.raises(ImportFileError) as caught:
        traits(text, key, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_crm_file_becomes_one_row_per_key_and_non_empty_trait() -> None:
    # Given a file with a BOM, a quoted value holding a comma and a line break, padding and an empty cell
    text = '\ufeffuserId, plan ,region\nu1,pro," Paris,\nFR"\n u2 ,, EMEA\n\n'
    # When it is read
    rows = traits(text)
    # Then each non-empty cell is a (user, key, trait, value) row, trimmed; the empty cell sets nothing
    assert rows == [
        ("user", "u1", "plan", "pro"),
        ("user", "u1", "region", "Paris,\nFR"),
        ("user", "u2", "region", "EMEA"),
    ]


def test_an_account_file_gives_account_rows() -> None:
    assert traits("groupId,size\nacct-1,11-50\n", key="groupId", account=True) == [
        ("account", "acct-1", "size", "11-50")
    ]


def test_another_delimiter_can_be_named() -> None:
    assert traits("userId;plan\nu1;pro\n", delimiter=";") == [("user", "u1", "plan", "pro")]


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("email,plan\na@b,pro\n", "userId", "line 1: no key column 'userId'; the columns are: email, plan"),
        ("userid,plan\nu1,pro\n", "userId", "line 1: no key column 'userId' (did you mean 'userid'?"),
        ("userId,plan\nu1,pro\n,free\n", "userId", "line 3, column 'userId' (1): empty key"),
        (
            "userId,plan\nu1,pro\nu2,free\nu1,team\n",
            "userId",
            "line 4, column 'userId' (1): duplicate key 'u1' (first on line 2)",
        ),
        ("userId,plan\nu1,pro,extra\n", "userId", "line 2: 3 fields, the header has 2"),
        ('userId,note\nu1,"two\nlines"\nu2,x,y\n', "userId", "line 4: 3 fields, the header has 2"),
        ("userId,plan,plan\nu1,a,b\n", "userId", "line 1, column 'plan' (3): duplicate column name (also column 2)"),
        ("userId,,plan\nu1,a,b\n", "userId", "line 1, column 2: empty column name"),
        ("userId\nu1\n", "userId", "line 1: no trait column besides the key column 'userId'"),
        ("userId,plan\n", "userId", "line 1: no rows after the header: nothing to import"),
        ("", "userId", "line 1: the file is empty"),
        ('userId,plan\nu1,"pro\n', "userId", "line 2: not valid CSV"),
        ('userId,plan\nu1,"pro"x\n', "userId", "line 2: not valid CSV"),
        ("userId,account.size\nu1,10\n", "userId", "line 1, column 'account.size' (2): a user trait may not start"),
    ],
)
def test_a_bad_crm_file_is_refused_with_its_line_and_column(text: str, key: str, expected: str) -> None:
    assert expected in refused(text, key)


def test_too_many_columns_and_too_long_values_are_refused() -> None:
    header = ",".join(["userId", *(f"t{i}" for i in range(MAX_COLUMNS))])
    assert refused(header + "\n") == f"line 1: {MAX_COLUMNS + 1} columns, at most {MAX_COLUMNS}"
    long_value = "x" * (MAX_VALUE_CHARS + 1)
    message = refused(f"userId,plan,note\nu1,pro,ok\nu2,free,{long_value}\n")
    assert message == f"line 3, column 'note' (3): value of {MAX_VALUE_CHARS + 1} characters, at most {MAX_VALUE_CHARS}"


def test_a_file_that_is_not_utf8_text_is_refused_with_its_line() -> None:
    # Given a Latin-1 file (an accented value on line 3), a UTF-16 file and a spreadsheet workbook
    latin1 = "userId,city\nu1,Paris\nu2,Orléans\n".encode("latin-1")
    utf16 = "userId,city\nu1,Paris\n".encode("utf-16")
    workbook = b"PK\x03\x04" + b"\x00" * 30
    # Then each is refused, naming the line and what to do
    assert refused(latin1).startswith("line 3: not UTF-8 text (byte 0xe9 at character 7); save the file as UTF-8")
    assert "NUL bytes" in refused(utf16)
    assert "spreadsheet workbook" in refused(workbook)


def test_a_spend_file_gives_one_amount_per_campaign() -> None:
    lines = read_spend_csv(b"campaign,spend_usd\nspring-launch,1250.50\n partner-webinar ,0\nai,.5\n")
    assert [(s.campaign, s.spend_usd, s.line) for s in lines] == [
        ("spring-launch", 1250.5, 2),
        ("partner-webinar", 0.0, 3),
        ("ai", 0.5, 4),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("campaign,cost\na,1\n", "line 1: no column 'spend_usd'; unexpected column 'cost'"),
        ("campaign,spend_usd,currency\na,1,EUR\n", "line 1: unexpected column 'currency'"),
        ("campaign,spend_usd\na,-5\n", "line 2, column 'spend_usd' (2): negative spend '-5'"),
        ('campaign,spend_usd\na,"$1,200"\n', "line 2, column 'spend_usd' (2): not a number: '$1,200'"),
        ("campaign,spend_usd\na,NaN\n", "line 2, column 'spend_usd' (2): not a number: 'NaN'"),
        ("campaign,spend_usd\na,\n", "line 2, column 'spend_usd' (2): empty spend"),
        (
            "campaign,spend_usd\na,1\nb,2\na,3\n",
            "line 4, column 'campaign' (1): duplicate campaign 'a' (first on line 2)",
        ),
        ("campaign,spend_usd\n,3\n", "line 2, column 'campaign' (1): empty campaign name"),
    ],
)
def test_a_bad_spend_file_is_refused_with_its_line_and_column(text: str, expected: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        read_spend_csv(text.encode())
    assert expected in str(caught.value)


cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=12).map(
    str.strip
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(alphabet="abcdefghij_", min_size=1, max_size=6), min_size=1, max_size=4, unique=True),
    st.lists(st.lists(cells, min_size=4, max_size=4), max_size=8),
)
def test_any_table_written_as_csv_reads_back_as_its_non_empty_cells(
    trait_names: list[str], table: list[list[str]]
) -> None:
    # Given any table of values (commas, quotes, line breaks, non-ASCII), one row per distinct key, written with a
    # CSV writer
    header = ["userId", *trait_names]
    rows = [[f"u{i}", *values[: len(trait_names)]] for i, values in enumerate(table)]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    # When it is read (a file without data rows is refused: nothing to import)
    if not rows:
        assert "no rows after the header" in refused(out.getvalue())
        return
    got = traits(out.getvalue())
    # Then every non-empty cell is one row, in file order
    want = [
        ("user", row[0], name, value) for row in rows for name, value in zip(trait_names, row[1:], strict=True) if value
    ]
    assert got == want
