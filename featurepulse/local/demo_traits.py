"""The demo's marketer files (docs/segments.md): one CRM export and one campaign spend file, written from the
traffic generator's users and imported into the local lake the way `featurepulse traits import` and
`featurepulse spend import` do, before the report runs; plus a broken CRM file, to show it is refused.

The CRM file has the columns userId, lifecycle, region for about two thirds of the signed-in users (chosen and
filled from each user id alone, so the same run gives the same file); it sets no `plan`, so each person's plan is
the one their identify call sent. The spend file gives every demo campaign a fixed spend.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from featurepulse.domain.traits import format_imported_at
from featurepulse.lake.store import LocalStore, ObjectStore, S3Store
from featurepulse.local.traffic import CAMPAIGNS, SyntheticUser
from featurepulse.traits.csv_files import ImportFileError, read_spend_csv, read_traits_csv
from featurepulse.traits.store import SpendRow, TraitStore

CRM_IMPORT_NAME = "demo-crm"
SPEND_IMPORT_NAME = "demo-spend"
CRM_KEY_COLUMN = "userId"
LIFECYCLES: tuple[str, ...] = ("trial", "customer", "customer", "churn-risk")
REGION_OF_COUNTRY = {"US": "AMER", "BR": "AMER", "DE": "EMEA", "FR": "EMEA", "GB": "EMEA", "JP": "APAC"}
# US dollars per demo campaign (featurepulse/local/traffic.py CAMPAIGNS).
DEMO_SPEND_USD = {"spring-launch": 1200.0, "ai-summary-beta": 2400.0, "partner-webinar": 800.0}


@dataclass(frozen=True)
class DemoImports:
    crm_file: Path
    spend_file: Path
    bad_crm_file: Path
    crm_users: int
    crm_values: int
    spend_campaigns: int
    bad_file_error: str
    stores: tuple[str, ...]


def _pick(user_id: str) -> int:
    return int.from_bytes(hashlib.sha256(user_id.encode()).digest()[:4], "big")


def crm_rows(users: Iterable[SyntheticUser]) -> list[dict[str, str]]:
    """The CRM export's rows: about two thirds of the signed-in users, sorted by user id."""
    rows = []
    for user in sorted((u for u in users if u.user_id), key=lambda u: str(u.user_id)):
        user_id = str(user.user_id)
        pick = _pick(user_id)
        if pick % 3 == 2:
            continue
        rows.append(
            {
                CRM_KEY_COLUMN: user_id,
                "lifecycle": LIFECYCLES[(pick // 3) % len(LIFECYCLES)],
                "region": REGION_OF_COUNTRY.get(user.country, "other"),
            }
        )
    return rows


def crm_csv(users: Iterable[SyntheticUser]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[CRM_KEY_COLUMN, "lifecycle", "region"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(crm_rows(users))
    return out.getvalue()


def spend_csv() -> str:
    names = [c.name for c in CAMPAIGNS if c is not None]
    return "campaign,spend_usd\n" + "".join(f"{name},{DEMO_SPEND_USD[name]:.2f}\n" for name in names)


def bad_crm_csv(users: Iterable[SyntheticUser]) -> str:
    """The CRM export with the same user listed twice (what a careless merge of two exports gives)."""
    text = crm_csv(users)
    lines = text.splitlines()
    if len(lines) < 2:
        return "userId,lifecycle\nusr_00001,trial\nusr_00001,customer\n"
    return "\n".join([*lines, lines[1]]) + "\n"


def target_stores(lake_dir: Path, s3_client: Any | None, bucket: str | None) -> list[ObjectStore]:
    """The local lake directory (what the local report reads) and the moto lake bucket when it exists."""
    stores: list[ObjectStore] = [LocalStore(lake_dir)]
    if s3_client is not None and bucket:
        try:
            s3_client.head_bucket(Bucket=bucket)
        except Exception:  # the lake component is not running (`--components`): the directory is enough
            return stores
        stores.append(S3Store(s3_client, bucket))
    return stores


def import_demo_files(
    users: Iterable[SyntheticUser], *, files_dir: Path, stores: list[ObjectStore], now: datetime
) -> DemoImports:
    """Write the demo's CRM, spend and broken CRM files under `files_dir` and import the two good ones."""
    users = list(users)
    files_dir.mkdir(parents=True, exist_ok=True)
    crm_file, spend_file, bad_file = files_dir / "crm.csv", files_dir / "spend.csv", files_dir / "crm-broken.csv"
    crm_file.write_text(crm_csv(users), encoding="utf-8")
    spend_file.write_text(spend_csv(), encoding="utf-8")
    bad_file.write_text(bad_crm_csv(users), encoding="utf-8")
    stamp = format_imported_at(now)
    crm = read_traits_csv(
        crm_file.read_bytes(), key_column=CRM_KEY_COLUMN, import_name=CRM_IMPORT_NAME, imported_at=stamp
    )
    spend = [
        SpendRow(line.campaign, line.spend_usd, SPEND_IMPORT_NAME, stamp)
        for line in read_spend_csv(spend_file.read_bytes())
    ]
    try:
        read_traits_csv(bad_file.read_bytes(), key_column=CRM_KEY_COLUMN, import_name="broken", imported_at=stamp)
        error = "accepted (it should not have been)"
    except ImportFileError as exc:
        error = f"{bad_file.name}: {exc}"
    for store in stores:
        traits = TraitStore(store)
        traits.replace_trait_import(CRM_IMPORT_NAME, crm.rows, now=now)
        traits.replace_spend_import(SPEND_IMPORT_NAME, spend, now=now)
    return DemoImports(
        crm_file=crm_file,
        spend_file=spend_file,
        bad_crm_file=bad_file,
        crm_users=crm.keys,
        crm_values=len(crm.rows),
        spend_campaigns=len(spend),
        bad_file_error=error,
        stores=tuple(store.description for store in stores),
    )


def import_for_demo(stack: Any, users: list[SyntheticUser], console: Any) -> DemoImports | None:
    """`make run`: import the demo's files into the running local stack's lake and say so (nothing without
    signed-in users: a run with `--components none` or no traffic has nothing to export)."""
    ctx = stack.context
    if ctx is None or not any(u.user_id for u in users):
        return None
    stores = target_stores(Path(ctx.lake_dir), stack.client("s3"), ctx.lake_bucket)
    done = import_demo_files(users, files_dir=Path(stack.root) / "imports", stores=stores, now=datetime.now(UTC))
    console.print(
        f"CRM file {done.crm_file}: {done.crm_users} users (lifecycle, region), {done.crm_values} values imported "
        f"as {CRM_IMPORT_NAME!r}; spend file {done.spend_file}: {done.spend_campaigns} campaigns imported as "
        f"{SPEND_IMPORT_NAME!r} (into {', '.join(done.stores)})"
    )
    console.print(f"a broken CRM file is refused: {done.bad_file_error}")
    return done
