"""A hypothesis state machine drives each store against a pure-Python model of balances, caps and
idempotency: awards, deductions, replays, conflicting replays, batches, corrections (冲正) and staff
adjustments (人工调整), in any order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from _reliability import GRID_CAP, POINTS, SUBJECT_CAP, Record, event, open_store, policy, scaled
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from gridpoints import CorrectionRefused, Engine, IdempotencyConflict
from gridpoints.audit import verify
from gridpoints.storage import Store

pytestmark = pytest.mark.reliability

SUBJECTS = ("s0", "s1", "s2", "s3")
GRID = {"s0": "g0", "s1": "g0", "s2": "g1", "s3": "g1"}
KINDS = ("mediation", "cleanup", "noise_violation")

new_events = st.tuples(st.sampled_from(SUBJECTS), st.sampled_from(KINDS), st.integers(1, 3))


class Model:
    """What the ruleset promises, computed directly: truncating subject and grid caps per day, deductions in
    full, a decision per event id, and the monthly budget (never reached by these few events)."""

    def __init__(self) -> None:
        self.balances = dict.fromkeys(SUBJECTS, 0)
        self.used: dict[tuple[str, str, int], int] = {}
        self.decided: dict[str, tuple[dict[str, Any], int]] = {}
        self.corrected: dict[str, int] = {}
        self.adjusted: dict[str, tuple[str, int]] = {}

    def decide(self, item: dict[str, Any]) -> int:
        subject, kind, day = item["subject"], item["type"], int(item["occurred_at"][8:10])
        points = POINTS[kind]
        if points > 0:
            for key, cap in ((("subject", subject, day), SUBJECT_CAP), (("grid", item["grid"], day), GRID_CAP)):
                points = max(0, min(points, cap - self.used.get(key, 0)))
            for key in (("subject", subject, day), ("grid", item["grid"], day)):
                self.used[key] = self.used.get(key, 0) + points
        self.balances[subject] += points
        self.decided[item["id"]] = (item, points)
        return points

    def correct(self, event_id: str) -> int:
        """A correction gives the points back and the room under the caps; what it moved, negated."""
        item, points = self.decided[event_id]
        subject, day = item["subject"], int(item["occurred_at"][8:10])
        self.balances[subject] -= points
        if points > 0:
            for key in (("subject", subject, day), ("grid", item["grid"], day)):
                self.used[key] -= points
        self.corrected[event_id] = -points
        return -points


class LedgerMachine(RuleBasedStateMachine):
    store: Store

    submitted = Bundle("submitted")

    def __init__(self) -> None:
        super().__init__()
        self.engine = Engine(policy(), self.store, tenant=f"sm-{uuid.uuid4().hex[:10]}")
        self.engine.register("staff", grid="g0", household="h-staff", roles=("staff",))
        self.model = Model()
        self.serial = 0
        self.steps = 0

    def _new(self, subject: str, kind: str, day: int) -> dict[str, Any]:
        self.serial += 1
        return event(f"ev{self.serial}", kind, subject, GRID[subject], day=day, minute=self.serial)

    @rule(target=submitted, spec=new_events)
    def submit(self, spec: tuple[str, str, int]) -> dict[str, Any]:
        item = self._new(*spec)
        decision = self.engine.submit(item)
        assert not decision.duplicate
        assert decision.points == self.model.decide(item)
        self.steps += 1
        return item

    @rule(item=submitted)
    def submit_duplicate(self, item: dict[str, Any]) -> None:
        decision = self.engine.submit(item)
        assert decision.duplicate and decision.entries == ()
        assert decision.points == self.model.decided[item["id"]][1]
        self.steps += 1

    @rule(item=submitted, change=st.sampled_from(("type", "subject", "day")))
    def submit_conflicting_duplicate(self, item: dict[str, Any], change: str) -> None:
        altered = dict(item)
        if change == "type":
            altered["type"] = "cleanup" if item["type"] != "cleanup" else "mediation"
        elif change == "subject":
            altered["subject"] = "s0" if item["subject"] != "s0" else "s1"
        else:
            altered["occurred_at"] = item["occurred_at"].replace("T10:", "T11:")
        head = self.engine.head()
        with pytest.raises(IdempotencyConflict):
            self.engine.submit(altered)
        assert self.engine.head() == head
        self.steps += 1

    @rule(specs=st.lists(new_events, min_size=1, max_size=6), replay=st.booleans(), data=st.data())
    def submit_many(self, specs: list[tuple[str, str, int]], replay: bool, data: st.DataObject) -> None:
        batch = [self._new(*spec) for spec in specs]
        if replay and self.model.decided:
            earlier = data.draw(st.sampled_from(sorted(self.model.decided)))
            batch.insert(data.draw(st.integers(0, len(batch))), self.model.decided[earlier][0])
        if data.draw(st.booleans()):
            batch.append(dict(batch[0]))  # the same id twice in one batch: the second is a duplicate
        expected = []
        for item in batch:
            known = self.model.decided.get(item["id"])
            expected.append(known[1] if known is not None else self.model.decide(item))
        decisions = self.engine.submit_many(batch)
        assert [d.points for d in decisions] == expected
        self.steps += len(batch)

    @rule(specs=st.lists(new_events, min_size=1, max_size=4), data=st.data())
    def submit_many_with_a_conflict(self, specs: list[tuple[str, str, int]], data: st.DataObject) -> None:
        if not self.model.decided:
            return
        earlier = self.model.decided[data.draw(st.sampled_from(sorted(self.model.decided)))][0]
        clash = dict(earlier, type="cleanup" if earlier["type"] != "cleanup" else "mediation")
        batch = [self._new(*spec) for spec in specs]
        batch.insert(data.draw(st.integers(0, len(batch))), clash)
        head = self.engine.head()
        with pytest.raises(IdempotencyConflict):
            self.engine.submit_many(batch)
        assert self.engine.head() == head  # all or nothing: the new events in the batch were not written
        self.steps += len(batch)

    @rule(item=submitted)
    def correct(self, item: dict[str, Any]) -> None:
        """冲正: a first correction reverses the event (nothing to reverse: refused); a repeat is a duplicate."""
        event_id = item["id"]
        at = datetime(2026, 4, 28, 9, tzinfo=UTC)
        if event_id in self.model.corrected:
            decision = self.engine.correct(event_id, reason="mistake", actor="staff", at=at)
            assert decision.duplicate and decision.points == self.model.corrected[event_id]
        elif self.model.decided[event_id][1] == 0:
            with pytest.raises(CorrectionRefused, match="nothing_to_correct"):
                self.engine.correct(event_id, reason="mistake", actor="staff", at=at)
        else:
            decision = self.engine.correct(event_id, reason="mistake", actor="staff", at=at)
            assert not decision.duplicate and decision.points == self.model.correct(event_id)
            assert all(e.reverses is not None for e in decision.entries)
        self.steps += 1

    @rule(subject=st.sampled_from(SUBJECTS), points=st.integers(1, 40), again=st.booleans())
    def adjust(self, subject: str, points: int, again: bool) -> None:
        """人工调整: credits through the adjustments account; a retry by request id is a duplicate."""
        if again and self.model.adjusted:
            request, (subject, points) = sorted(self.model.adjusted.items())[0]
        else:
            request = f"adj-{len(self.model.adjusted)}"
        at = datetime(2026, 4, 28, 9, tzinfo=UTC)
        decision = self.engine.adjust(subject, points, reason="missed", actor="staff", at=at, request_id=request)
        if request in self.model.adjusted:
            assert decision.duplicate
        else:
            assert not decision.duplicate
            self.model.adjusted[request] = (subject, points)
            self.model.balances[subject] += points
        assert decision.points == points
        self.steps += 1

    @invariant()
    def balances_match_the_model(self) -> None:
        assert self.engine.balances(list(SUBJECTS)) == self.model.balances

    @rule()
    def ledger_verifies(self) -> None:
        report = verify(self.store, self.engine.tenant)
        assert report.ok, report.problems
        assert sum(self.store.balances(self.engine.tenant, [f"subject:{s}:spendable" for s in SUBJECTS]
                                       ).values()) == sum(self.model.balances.values())


@pytest.mark.parametrize("backend", ["memory", "sqlite", "postgresql", "mysql"])
def test_store_agrees_with_the_model(backend: str, database: tuple[str, str], record: Record) -> None:
    """On every store, any sequence of submissions, replays, conflicts and batches matches the model."""
    url, prefix = database
    store = open_store(url, prefix)
    examples = scaled(100 if backend == "memory" else 30, 300)
    steps: list[int] = []

    class Machine(LedgerMachine):
        def teardown(self) -> None:
            steps.append(self.steps)

    Machine.store = store
    failed = True
    try:
        run_state_machine_as_test(Machine, settings=settings(
            max_examples=examples, stateful_step_count=25, deadline=None, database=None,
            suppress_health_check=list(HealthCheck)))
        failed = False
    finally:
        store.close()
        record(label="state machine", operations=sum(steps), violations=int(failed), examples=len(steps))
