"""The write-key cache of the ingest runtime: revocation applies within the TTL, new keys almost at once."""

from __future__ import annotations

from featurepulse.dal.sources import NEGATIVE_TTL_SECONDS, Source, SourceCache


class Table:
    """The sources table as the cache sees it: write key -> source, counting lookups."""

    def __init__(self) -> None:
        self.sources: dict[str, Source] = {}
        self.lookups = 0

    def get(self, write_key: str) -> Source | None:
        self.lookups += 1
        return self.sources.get(write_key)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


ACTIVE = Source(source_id="src_1", name="web", created_at="2026-11-25T12:00:00.000Z")
REVOKED = Source(
    source_id="src_1",
    name="web",
    created_at="2026-11-25T12:00:00.000Z",
    status="revoked",
    revoked_at="2026-11-25T13:00:00.000Z",
)


def test_a_known_key_is_looked_up_once_per_ttl() -> None:
    # Given a cache of 60 s over a table with one source
    table, clock = Table(), Clock()
    table.sources["k"] = ACTIVE
    cache = SourceCache(table.get, ttl_seconds=60, clock=clock)

    # When the key is checked 3 times within a minute, then after it
    answers = [cache.get("k") for _ in range(3)]
    clock.now += 61
    cache.get("k")

    # Then the table was read once per TTL
    assert answers == [ACTIVE] * 3
    assert table.lookups == 2


def test_a_revocation_takes_effect_when_the_ttl_ends() -> None:
    # Given a key cached as active, then revoked in the table
    table, clock = Table(), Clock()
    table.sources["k"] = ACTIVE
    cache = SourceCache(table.get, ttl_seconds=60, clock=clock)
    cache.get("k")
    table.sources["k"] = REVOKED

    # When it is checked before and after the TTL
    before = cache.get("k")
    clock.now += 60.5
    after = cache.get("k")

    # Then it is active until the TTL ends, revoked after
    assert before is not None and before.active
    assert after is not None and not after.active


def test_an_unknown_key_is_remembered_only_briefly() -> None:
    # Given a key not (yet) in the table
    table, clock = Table(), Clock()
    cache = SourceCache(table.get, ttl_seconds=60, clock=clock)
    assert cache.get("new") is None

    # When its source is created and the key is used again after the short negative TTL
    table.sources["new"] = ACTIVE
    clock.now += NEGATIVE_TTL_SECONDS + 0.1

    # Then it works without waiting for the full TTL
    assert cache.get("new") == ACTIVE
