"""Fetch the Flink connector jars named in flink/connectors.json and merge them into flink/app/lib/<merged_jar>.

    python flink/fetch_connectors.py            (make flink-connectors; `make deploy` runs it first)

Run by a platform engineer before `cdk deploy`, never by synth or the tests (they work without the jar; synth
warns that the application would not start without it). Each jar is checked against the SHA-1 Maven Central
publishes beside it and, when pinned in connectors.json, against its SHA-256. Managed Service for Apache Flink
takes a single `jarfile`, so the jars are merged: entries are copied once, `META-INF/services/*` files (the
connector factories) are concatenated, signatures are dropped. The downloaded jars stay in flink/.connectors/
(a cache); only the merged jar goes into flink/app/, the folder the application zip copies whole.
"""

from __future__ import annotations

import hashlib
import json
import sys
import urllib.request
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "connectors.json"
DOWNLOADS = HERE / ".connectors"
LIB = HERE / "app" / "lib"
SIGNATURE_SUFFIXES = (".SF", ".DSA", ".RSA", ".EC")


def jar_url(repository: str, jar: dict[str, str]) -> str:
    path = jar["group"].replace(".", "/")
    name = f"{jar['artifact']}-{jar['version']}.jar"
    return f"{repository}/{path}/{jar['artifact']}/{jar['version']}/{name}"


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as answer:
        data: bytes = answer.read()
        return data


def fetch(jar: dict[str, str], repository: str) -> Path:
    url = jar_url(repository, jar)
    target = DOWNLOADS / url.rsplit("/", 1)[1]
    if not target.exists():
        print(f"fetching {url}")
        data = _download(url)
        published_sha1 = _download(url + ".sha1").decode().split()[0].strip()
        if hashlib.sha1(data).hexdigest() != published_sha1:
            raise SystemExit(f"{target.name}: SHA-1 does not match {url}.sha1")
        target.write_bytes(data)
    sha256 = hashlib.sha256(target.read_bytes()).hexdigest()
    pinned = jar.get("sha256")
    if pinned and pinned != sha256:
        raise SystemExit(f"{target.name}: sha256 {sha256} differs from the pinned {pinned}")
    print(f"{target.name}: sha256 {sha256}{'' if pinned else '  (not pinned in connectors.json yet)'}")
    return target


def merge(jars: list[Path], output: Path) -> None:
    seen: set[str] = set()
    services: dict[str, list[str]] = {}
    tmp = output.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
        for jar in jars:
            with zipfile.ZipFile(jar) as source:
                for info in source.infolist():
                    name = info.filename
                    if name.startswith("META-INF/") and name.endswith(SIGNATURE_SUFFIXES):
                        continue
                    if name.startswith("META-INF/services/") and not info.is_dir():
                        lines = services.setdefault(name, [])
                        for line in source.read(info).decode().splitlines():
                            if line.strip() and line not in lines:
                                lines.append(line)
                        continue
                    if name in seen:
                        continue
                    seen.add(name)
                    out.writestr(info, source.read(info))
        for name, lines in services.items():
            out.writestr(name, "\n".join(lines) + "\n")
    tmp.replace(output)


def remove_other_jars(lib: Path, keep: str) -> list[str]:
    """flink/app/ ships whole: a merged jar of an earlier version left in lib/ would ship too."""
    removed = []
    for jar in sorted(lib.glob("*.jar")):
        if jar.name != keep:
            jar.unlink()
            removed.append(jar.name)
    return removed


def main() -> int:
    config = json.loads(CONFIG.read_text())
    DOWNLOADS.mkdir(exist_ok=True)
    LIB.mkdir(exist_ok=True)
    jars = [fetch(jar, config["repository"]) for jar in config["jars"]]
    output = LIB / config["merged_jar"]
    merge(jars, output)
    for name in remove_other_jars(LIB, output.name):
        print(f"removed {LIB / name} (not the merged jar of connectors.json)")
    print(f"merged into {output} ({output.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
