"""The deploy-time connector fetch (flink/fetch_connectors.py): Maven URLs and the merge into one jar.

Nothing is downloaded here: the merge runs on two small jars made in the test.
"""

from __future__ import annotations

import importlib.util
import json
import zipfile
from pathlib import Path

from cdk.realtime import merged_jar_name

SCRIPT = Path(__file__).resolve().parents[2] / "flink" / "fetch_connectors.py"
SERVICES = "META-INF/services/org.apache.flink.table.factories.Factory"


def _module():
    spec = importlib.util.spec_from_file_location("fetch_connectors", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _jar(path: Path, entries: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as jar:
        for name, text in entries.items():
            jar.writestr(name, text)
    return path


def test_jar_urls_follow_the_maven_layout_and_versions_name_the_merged_jar():
    fetch = _module()
    config = json.loads(fetch.CONFIG.read_text())
    urls = [fetch.jar_url(config["repository"], jar) for jar in config["jars"]]
    assert urls == [
        "https://repo1.maven.org/maven2/org/apache/flink/flink-sql-connector-kinesis/5.1.0-1.20/"
        "flink-sql-connector-kinesis-5.1.0-1.20.jar",
        "https://repo1.maven.org/maven2/org/apache/flink/flink-sql-connector-dynamodb/5.1.0-1.20/"
        "flink-sql-connector-dynamodb-5.1.0-1.20.jar",
    ]
    assert merged_jar_name() == config["merged_jar"]


def test_both_connectors_come_from_one_release_for_flink_1_20_that_fixes_idle_shard_polling():
    # Given the pinned connector jars
    config = json.loads(_module().CONFIG.read_text())
    releases = {jar["version"].rsplit("-", 1)[0] for jar in config["jars"]}
    flink_versions = {jar["version"].rsplit("-", 1)[1] for jar in config["jars"]}
    # Then they are built for the runtime (FLINK-1_20) from one flink-connector-aws release (shared shaded base)
    assert flink_versions == {"1.20"}
    assert len(releases) == 1
    # And that release is 5.1.0 or later: 5.0.0's Kinesis source polls idle shards without pause (FLINK-36947)
    (release,) = releases
    assert tuple(int(part) for part in release.split(".")) >= (5, 1, 0)
    # And the merged jar's name carries it (the `jarfile` run option names the jar, so a bump redeploys)
    assert f"-{release}-1.20.jar" in config["merged_jar"]


def test_fetched_jars_are_cached_outside_the_folder_that_ships_whole():
    fetch = _module()
    # The application zip copies flink/app/ whole: only the merged jar may land there
    assert fetch.LIB == fetch.HERE / "app" / "lib"
    assert fetch.HERE / "app" not in fetch.DOWNLOADS.parents


def test_merge_keeps_every_connector_factory_and_drops_signatures(tmp_path: Path):
    # Given two connector jars that share a shaded class and each register a table factory
    kinesis = _jar(
        tmp_path / "k.jar",
        {
            SERVICES: "org.apache.flink.connector.kinesis.table.KinesisDynamicTableFactory\n",
            "shaded/A.class": "k",
            "META-INF/K.SF": "sig",
        },
    )
    dynamodb = _jar(
        tmp_path / "d.jar",
        {SERVICES: "org.apache.flink.connector.dynamodb.table.DynamoDbDynamicSinkFactory\n", "shaded/A.class": "d"},
    )
    # When they are merged
    out = tmp_path / "merged.jar"
    _module().merge([kinesis, dynamodb], out)
    # Then both factories are registered, the shared class is there once, and no signature survives
    with zipfile.ZipFile(out) as merged:
        assert merged.read(SERVICES).decode().splitlines() == [
            "org.apache.flink.connector.kinesis.table.KinesisDynamicTableFactory",
            "org.apache.flink.connector.dynamodb.table.DynamoDbDynamicSinkFactory",
        ]
        assert merged.read("shaded/A.class") == b"k"
        assert "META-INF/K.SF" not in merged.namelist()


def test_an_earlier_merged_jar_is_removed_so_it_does_not_ship(tmp_path: Path):
    # Given lib/ with the merged jar of an earlier connector version beside the current one
    (tmp_path / "featurepulse-flink-connectors-5.0.0-1.20.jar").write_bytes(b"old")
    (tmp_path / "featurepulse-flink-connectors-5.1.0-1.20.jar").write_bytes(b"new")
    # When the fetch cleans up
    removed = _module().remove_other_jars(tmp_path, "featurepulse-flink-connectors-5.1.0-1.20.jar")
    # Then only the current jar is left in the folder that ships whole
    assert removed == ["featurepulse-flink-connectors-5.0.0-1.20.jar"]
    assert [p.name for p in tmp_path.iterdir()] == ["featurepulse-flink-connectors-5.1.0-1.20.jar"]
