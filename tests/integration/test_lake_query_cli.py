"""`featurepulse lake query`: the local lake answers SQL without a duckdb CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurepulse.cli import main
from tests.reporting_dataset import demo_events, write_identities, write_lake


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("lake")
    rows = demo_events()
    write_lake(lake, rows)
    write_identities(lake, rows)
    return lake


def test_a_query_over_the_events_view_prints_a_table(lake_dir: Path, capsys: pytest.CaptureFixture[str]):
    # Given a local lake / When asked how many events each day holds
    code = main(["lake", "query", "--lake-dir", str(lake_dir), "SELECT dt, count(*) AS events FROM events GROUP BY dt"])
    # Then a table with the header and one line per day is printed
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0].split() == ["dt", "events"]
    assert len(out) > 1


def test_athena_sql_is_translated_and_csv_printed(lake_dir: Path, capsys: pytest.CaptureFixture[str]):
    # Given an Athena-only function / When run with --athena --csv
    code = main(
        [
            "lake",
            "query",
            "--lake-dir",
            str(lake_dir),
            "--athena",
            "--csv",
            "SELECT approx_distinct(event_id) AS ids FROM events",
        ]
    )
    # Then it runs on DuckDB and prints CSV
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0] == "ids" and int(out[1]) > 0


def test_bad_sql_is_one_line_and_exit_2(lake_dir: Path, capsys: pytest.CaptureFixture[str]):
    # Given a query naming a column that does not exist / When run
    code = main(["lake", "query", "--lake-dir", str(lake_dir), "SELECT no_such_column FROM events"])
    # Then one line says the query failed
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("featurepulse: error: the query failed:") and err.count("\n") == 1


def test_a_missing_lake_says_how_to_make_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # Given no lake / When queried, Then the user is told to run the demo
    assert main(["lake", "query", "--dir", str(tmp_path), "SELECT 1"]) == 2
    assert "run `make run`" in capsys.readouterr().err
