"""A hypothesis state machine drives each store against a pure-Python model of balances, caps and
idempotency: awards, deductions, replays, conflicting replays, batches, reports pending verification and
their verification with the grid worker's credit, corrections (冲正) of each of them and staff adjustments
(人工调整), in any order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from _reliability import BUDGET, GRID_CAP, POINTS, RULESET, SUBJECT_CAP, Record, event, open_store, scaled
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

import gridpoints
from gridpoints import CorrectionRefused, Engine, IdempotencyConflict
from gridpoints.audit import verify
from gridpoints.errors import SettlementError
from gridpoints.model import pending
from gridpoints.storage import Store

pytestmark = pytest.mark.reliability

SUBJECTS = ("s0", "s1", "s2", "s3")
GRID = {"s0": "g0", "s1": "g0", "s2": "g1", "s3": "g1"}
KINDS = ("mediation", "cleanup", "noise_violation")

WORKERS = {"g0": "w0", "g1": "w1"}
REPORT = 20
CREDIT = 5
#: The reliability ruleset and a report verified by the grid's worker, who is credited (the credit is bound by
#: the community budget only: the caps select rewards).
MODEL_RULESET = RULESET.replace("limits:\n", """  - id: report
    on: hazard_report
    points: 20
    verify: {by: [grid_worker], within: 7d}
    credit_worker: {points: 5, within: 2d}
limits:
""", 1)

new_events = st.tuples(st.sampled_from(SUBJECTS), st.sampled_from(KINDS), st.integers(1, 3))


class Model:
    """What the ruleset promises, computed directly: truncating subject and grid caps per day and the monthly
    community budget, deductions in full, a decision per event id; a report parks 20 points until verified,
    when they pass the caps of the report's day and the worker is credited (through the budget)."""

    def __init__(self) -> None:
        self.balances = dict.fromkeys(SUBJECTS, 0)
        self.workers = dict.fromkeys(WORKERS.values(), 0)
        self.pending = dict.fromkeys(SUBJECTS, 0)
        self.used: dict[tuple[str, str, int], int] = {}
        self.decided: dict[str, tuple[dict[str, Any], int]] = {}
        self.corrected: dict[str, int] = {}
        self.adjusted: dict[str, tuple[str, int]] = {}
        #: Report id → None while pending, else (points granted, the worker's credit).
        self.reports: dict[str, tuple[int, int] | None] = {}

    def _keys(self, item: dict[str, Any]) -> tuple[tuple[tuple[str, str, int], int], ...]:
        day = int(item["occurred_at"][8:10])
        return ((("subject", item["subject"], day), SUBJECT_CAP), (("grid", item["grid"], day), GRID_CAP),
                (("community", "c1", 0), BUDGET))

    def _limit(self, keys: tuple[tuple[tuple[str, str, int], int], ...], points: int) -> int:
        for key, cap in keys:
            points = max(0, min(points, cap - self.used.get(key, 0)))
        for key, _ in keys:
            self.used[key] = self.used.get(key, 0) + points
        return points

    def decide(self, item: dict[str, Any]) -> int:
        points = POINTS.get(item["type"], 0)
        if item["type"] == "hazard_report":
            self.pending[item["subject"]] += REPORT
            self.reports[item["id"]] = None
        elif points > 0:
            points = self._limit(self._keys(item), points)
        self.balances[item["subject"]] += points
        self.decided[item["id"]] = (item, points)
        return points

    def verify(self, report_id: str) -> tuple[int, int]:
        item = self.decided[report_id][0]
        granted = self._limit(self._keys(item), REPORT)
        credit = self._limit(self._keys(item)[2:], CREDIT)
        self.pending[item["subject"]] -= REPORT
        self.balances[item["subject"]] += granted
        self.workers[WORKERS[item["grid"]]] += credit
        self.reports[report_id] = (granted, credit)
        return granted, credit

    def correct(self, event_id: str) -> int:
        """A correction gives the points back and the room under the caps; what it moved, negated."""
        item, points = self.decided[event_id]
        subject = item["subject"]
        credit = 0
        if event_id in self.reports:
            verified = self.reports[event_id]
            if verified is None:
                self.pending[subject] -= REPORT
                points = 0
            else:
                points, credit = verified
                self.workers[WORKERS[item["grid"]]] -= credit
        self.balances[subject] -= points
        if points > 0:
            for key, _ in self._keys(item):
                self.used[key] -= points
        if credit:
            self.used[("community", "c1", 0)] -= credit
        self.corrected[event_id] = -points
        return -points


class LedgerMachine(RuleBasedStateMachine):
    store: Store

    submitted = Bundle("submitted")

    def __init__(self) -> None:
        super().__init__()
        self.engine = Engine(gridpoints.load_ruleset(MODEL_RULESET), self.store, tenant=f"sm-{uuid.uuid4().hex[:10]}")
        self.engine.register("staff", grid="g0", household="h-staff", roles=("staff",))
        for grid, worker in WORKERS.items():
            self.engine.register(worker, grid=grid, household=f"h-{worker}", roles=("grid_worker",))
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

    @rule(target=submitted, subject=st.sampled_from(SUBJECTS), day=st.integers(1, 3))
    def report(self, subject: str, day: int) -> dict[str, Any]:
        """A hazard report: its 20 points wait in the resident's pending account."""
        item = self._new(subject, "hazard_report", day)
        decision = self.engine.submit(item)
        assert decision.points == self.model.decide(item) == 0
        self.steps += 1
        return item

    @rule(item=submitted)
    def verify(self, item: dict[str, Any]) -> None:
        """The grid's worker verifies a report: through the caps of its day, the worker credited; a report
        already verified or corrected is refused (nothing written)."""
        if item["id"] not in self.model.reports:
            return
        self.serial += 1
        verification = dict(event(f"ev{self.serial}", "verify", item["subject"], item["grid"],
                                  day=int(item["occurred_at"][8:10]), minute=59),
                            actor=WORKERS[item["grid"]], attributes={"event": item["id"]})
        verification["occurred_at"] = verification["occurred_at"].replace("T10:", "T20:")
        if self.model.reports[item["id"]] is not None or item["id"] in self.model.corrected:
            head = self.engine.head()
            with pytest.raises(SettlementError):
                self.engine.submit(verification)
            assert self.engine.head() == head
        else:
            decision = self.engine.submit(verification)
            granted, _ = self.model.verify(item["id"])
            assert decision.points == granted
        self.steps += 1

    @rule(item=submitted)
    def correct(self, item: dict[str, Any]) -> None:
        """冲正: a first correction reverses the event (nothing to reverse: refused); a repeat is a duplicate."""
        event_id = item["id"]
        at = datetime(2026, 4, 28, 9, tzinfo=UTC)
        if event_id in self.model.corrected:
            decision = self.engine.correct(event_id, reason="mistake", actor="staff", at=at)
            assert decision.duplicate and decision.points == self.model.corrected[event_id]
        elif self.model.decided[event_id][1] == 0 and event_id not in self.model.reports:
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
        assert self.engine.balances(list(self.model.workers)) == self.model.workers
        held = self.store.balances(self.engine.tenant, [pending(s) for s in SUBJECTS])
        assert {s: held[pending(s)] for s in SUBJECTS} == self.model.pending

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
