"""The write-key cache of the ingest runtime: revocation applies within the TTL, new keys almost at once."""

from __future__ import annotations

import random
import string
import tracemalloc

from featurepulse.dal.sources import MAX_WRITE_KEY_CHARS, NEGATIVE_TTL_SECONDS, Source, SourceCache


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


def random_key(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits, k=length))


def test_random_long_keys_keep_the_cache_memory_bounded() -> None:
    # Given a cache over a table with no such keys
    table, clock = Table(), Clock()
    cache = SourceCache(table.get, ttl_seconds=60, clock=clock, max_entries=64, max_unknown_entries=128)
    rng = random.Random(7)
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()

        # When 2,000 random keys of the longest allowed length (and 300 far longer ones) are checked
        for _ in range(2_000):
            assert cache.get(random_key(rng, MAX_WRITE_KEY_CHARS)) is None
        for _ in range(300):
            assert cache.get("x" * 50_000 + random_key(rng, 8)) is None
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then the cache holds at most its bound of unknown keys, none of the key text, and the over-long keys
    # were never looked up
    assert len(cache) == 128
    assert table.lookups == 2_000
    assert held - baseline < 64 * 1024  # 128 digests and expiry times; the key text alone would be 512 KB


def test_a_valid_key_stays_cached_under_a_flood_of_random_keys() -> None:
    # Given a valid key in the cache
    table, clock = Table(), Clock()
    table.sources["valid"] = ACTIVE
    cache = SourceCache(table.get, ttl_seconds=60, clock=clock, max_entries=8, max_unknown_entries=16)
    assert cache.get("valid") == ACTIVE
    lookups_before = table.lookups

    # When 10,000 random keys arrive within the TTL
    rng = random.Random(11)
    for _ in range(10_000):
        cache.get(random_key(rng, 32))

    # Then the valid key is still answered from the cache
    assert cache.cached("valid")
    assert cache.get("valid") == ACTIVE
    assert table.lookups == lookups_before + 10_000


def test_known_keys_beyond_the_bound_evict_the_least_recently_used() -> None:
    # Given a cache of 2 known keys holding a and b, a used last
    table, clock = Table(), Clock()
    for key in "abc":
        table.sources[key] = ACTIVE
    cache = SourceCache(table.get, ttl_seconds=60, clock=clock, max_entries=2)
    cache.get("a")
    cache.get("b")
    cache.get("a")

    # When a third key is cached
    cache.get("c")

    # Then b (least recently used) is out, a and c stay
    assert (cache.cached("a"), cache.cached("b"), cache.cached("c")) == (True, False, True)
