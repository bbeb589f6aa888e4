"""The traffic generator's traits (docs/segments.md) and the demo's CRM and spend files built from its users."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from featurepulse.domain.traits import current_imports
from featurepulse.lake.store import LocalStore
from featurepulse.local.demo_traits import (
    CRM_IMPORT_NAME,
    DEMO_SPEND_USD,
    SPEND_IMPORT_NAME,
    crm_rows,
    import_demo_files,
)
from featurepulse.local.traffic import COMPANY_SIZES, PLANS, ROLES, TrafficGenerator, account_traits
from featurepulse.traits.store import TraitStore

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def messages(generator: TrafficGenerator, ticks: int = 40) -> list[dict[str, Any]]:
    out = []
    for i in range(ticks):
        for request in generator.tick(T0 + timedelta(seconds=i), 25):
            out.extend(request.payload.get("batch", [request.payload]))
    return out


def test_identify_calls_carry_plan_role_and_signup_date_and_group_calls_the_account_traits() -> None:
    # Given the generator's traffic
    generator = TrafficGenerator(seed=11)
    sent = messages(generator)
    identifies = [m for m in sent if m["type"] == "identify"]
    groups = [m for m in sent if m["type"] == "group"]
    assert identifies and groups
    # Then every identify names a plan, a role and a signup date, and they are the user's recorded traits
    users = {u.user_id: u for u in generator.users if u.user_id}
    for message in identifies:
        traits = message["traits"]
        assert traits["plan"] in PLANS
        assert traits["role"] in ROLES
        assert datetime.fromisoformat(traits["signup_date"]).year in (2025, 2026)
        assert traits == users[message["userId"]].traits
    assert {m["traits"]["plan"] for m in identifies} == set(PLANS)
    # And every group call of an account sends the same traits, with a company size
    for message in groups:
        assert message["traits"] == account_traits(message["groupId"])
        assert message["traits"]["size"] in COMPANY_SIZES


def test_the_same_seed_gives_the_same_traits() -> None:
    first, second = TrafficGenerator(seed=5), TrafficGenerator(seed=5)
    assert messages(first, 10) == messages(second, 10)
    assert [u.traits for u in first.users] == [u.traits for u in second.users]


def test_the_demo_imports_a_crm_file_for_some_signed_in_users_and_the_campaign_spend(tmp_path: Path) -> None:
    # Given the users of a run
    generator = TrafficGenerator(seed=7)
    messages(generator)
    signed_in = {u.user_id for u in generator.users if u.user_id}
    # When the demo writes and imports its files into a local lake
    done = import_demo_files(generator.users, files_dir=tmp_path / "imports", stores=[LocalStore(tmp_path)], now=T0)
    # Then the CRM import holds lifecycle and region for a part of the signed-in users, and nobody else
    rows = current_imports(TraitStore(LocalStore(tmp_path)).read_trait_imports())
    keys = {r.key for r in rows}
    assert keys < signed_in and len(keys) == done.crm_users == len(crm_rows(generator.users))
    assert {r.trait for r in rows} == {"lifecycle", "region"}
    assert {r.import_name for r in rows} == {CRM_IMPORT_NAME}
    # And the spend import gives each demo campaign its spend
    spend = TraitStore(LocalStore(tmp_path)).read_spend()
    assert {(s.campaign_name, s.spend_usd, s.import_name) for s in spend} == {
        (name, usd, SPEND_IMPORT_NAME) for name, usd in DEMO_SPEND_USD.items()
    }
    # And the broken file (a user listed twice) is refused naming its line and column
    last_line = len(done.bad_crm_file.read_text(encoding="utf-8").splitlines())
    assert done.bad_file_error.startswith(f"crm-broken.csv: line {last_line}, column 'userId' (1): duplicate key")
