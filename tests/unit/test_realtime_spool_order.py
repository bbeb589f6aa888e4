"""The local Flink feeder lets one spool file wait at a time (featurepulse/realtime/local.py): the job's file source
hands out waiting files in no particular order, so the next file is written only once the job has started on the
previous one (the job writes the name of each file it starts into the read marker,
flink/local/featurepulse_flink_local/job.py)."""

from __future__ import annotations

from pathlib import Path

from featurepulse.realtime.local import SpoolWriter


def _spool(tmp_path: Path) -> SpoolWriter:
    directory = tmp_path / "spool"
    directory.mkdir()
    return SpoolWriter(directory)


def test_the_first_file_may_be_written_at_once(tmp_path: Path):
    # Given a new spool (no marker yet)
    spool = _spool(tmp_path)
    # Then nothing waits: the first file may be written
    assert spool.last_file_taken()


def test_the_next_file_waits_until_the_job_has_started_on_the_last_one(tmp_path: Path):
    # Given a spool with one file written and no file read yet
    spool = _spool(tmp_path)
    spool.write([b'{"a": 1}'])
    # Then the next file waits
    assert not spool.last_file_taken()
    # When the job marks the file as started
    assert spool.last_name is not None
    spool.read_marker.write_text(spool.last_name, encoding="utf-8")
    # Then the next file may be written, and after it the feeder waits again
    assert spool.last_file_taken()
    spool.write([b'{"a": 2}'])
    assert not spool.last_file_taken()


def test_a_marker_left_by_an_earlier_run_is_forgotten(tmp_path: Path):
    # Given a marker naming a file of an earlier run, newer than anything this run will write
    (tmp_path / "spool.read").write_text("99999999999999999999-00000001.json", encoding="utf-8")
    # When a new spool starts and writes its first file
    spool = _spool(tmp_path)
    spool.write([b'{"a": 1}'])
    # Then the feeder waits for this run's job, not trusting the old marker
    assert not spool.read_marker.exists()
    assert not spool.last_file_taken()


def test_file_names_sort_in_the_order_they_were_written(tmp_path: Path):
    # Given many files written one after the other
    spool = _spool(tmp_path)
    names = []
    for i in range(50):
        spool.write([f'{{"i": {i}}}'.encode()])
        assert spool.last_name is not None
        names.append(spool.last_name)
    # Then their names sort in writing order (the marker comparison relies on it)
    assert names == sorted(names)
    assert sorted(p.name for p in spool.directory.iterdir()) == names
