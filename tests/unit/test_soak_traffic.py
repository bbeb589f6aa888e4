"""The soak's traffic generator (featurepulse/local/soak.py, `SoakTraffic`) picks returning users without listing
every user, and sends exactly what the demo's generator sends for the same seed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from featurepulse.local.soak import SoakTraffic
from featurepulse.local.traffic import SyntheticUser, TrafficGenerator


class CountingSoakTraffic(SoakTraffic):
    """Counts the picks that brought a user back."""

    returning = 0

    def _pick_user(self) -> SyntheticUser:
        known = len(self.users)
        user = super()._pick_user()
        if len(self.users) == known:
            self.returning += 1
        return user


def test_the_soak_generator_sends_what_the_demo_generator_sends():
    # Given both generators with the same seed and many sessions (users come back while others are active)
    ours = CountingSoakTraffic(11, concurrent_sessions=40)
    theirs = TrafficGenerator(11, concurrent_sessions=40)
    start = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    # When each generates the same ticks
    for second in range(200):
        now = start + timedelta(seconds=second)
        mine, reference = ours.tick(now, 200), theirs.tick(now, 200)
        # Then every request is the same, payload and messages
        assert [(r.route, r.payload, r.messages) for r in mine] == [(r.route, r.payload, r.messages) for r in reference]
    # and users came back (the path that differs), as many as in the demo's generator
    assert ours.returning > 50
    assert len(ours.users) == len(theirs.users)
