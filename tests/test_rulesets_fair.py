"""Every shipped ruleset passes the fairness kit: the project checks its own rulesets the way hosts will."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridpoints.testing import assert_fair

RULESETS = sorted((Path(__file__).resolve().parents[1] / "rulesets").glob("*.yaml"))


@pytest.mark.parametrize("ruleset", RULESETS, ids=[p.stem for p in RULESETS])
def test_shipped_ruleset_is_fair(ruleset: Path) -> None:
    """Caps, shares, equal treatment, determinism, idempotency, conservation, floor, positive events."""
    assert_fair(ruleset, max_examples=25, seed=20261129)


def test_fair_play_limits_bind_within_generated_streams() -> None:
    """The fair-play ruleset's tight limits are reachable in short streams, so its check tests something:
    its share awards nothing more to a member above half of a grid's issued points once the grid reaches 60."""
    assert_fair(RULESETS[[p.stem for p in RULESETS].index("fair-play")], max_examples=25, seed=7,
                max_member_share=0.5, streams={"subjects": 3, "days": 3, "max_size": 60})
