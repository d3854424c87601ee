"""Prove a ruleset fair: run every fairness property over hypothesis-generated event streams.

:func:`assert_fair` is for host test suites; :func:`check_ruleset` and :func:`run_check` back the
``gridpoints check RULESET [--examples N]`` command. A failure carries hypothesis' *shrunk*
counter-example as JSON Lines, which ``gridpoints run RULESET events.jsonl`` replays.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal, TextIO

import attrs
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed

from gridpoints.engine import Engine
from gridpoints.errors import RulesetError
from gridpoints.policy import load_ruleset
from gridpoints.policy._compile import Policy
from gridpoints.storage import MemoryStore
from gridpoints.testing._messages import Lang, render
from gridpoints.testing._messages import meaning as property_meaning
from gridpoints.testing.properties import (
    PROPERTIES,
    Bound,
    Concentration,
    FairnessViolation,
    PropertyCheck,
    check_concentration,
    check_durable_base_points,
    check_event_type_bounds,
    events_jsonl,
)
from gridpoints.testing.strategies import event_streams

__all__ = [
    "PropertyResult",
    "assert_fair",
    "check_ruleset",
    "counterexample",
    "fairness_checks",
    "minimise",
    "result_line",
    "run_check",
    "run_property",
]


@attrs.frozen(slots=True)
class PropertyResult:
    """The outcome of one property over ``examples`` streams; ``violation`` holds the shrunk failure."""

    name: str
    examples: int
    violation: FairnessViolation | None = None

    @property
    def passed(self) -> bool:
        return self.violation is None


def _policy(ruleset: Policy | str | Path) -> Policy:
    return ruleset if isinstance(ruleset, Policy) else load_ruleset(ruleset)


def fairness_checks(
    properties: Sequence[str] | None = None, *,
    event_type_bounds: Mapping[str, Bound | tuple[str, str, int]] | None = None,
    concentration: Concentration | None = None, oracle: Literal["durable"] | None = None,
) -> dict[str, PropertyCheck]:
    """The checks to run by name: the standard ones (or those named in ``properties``), then
    ``event_type_bounds`` and ``concentration`` when their intents are given, and ``durable_base_points``
    with ``oracle="durable"``. Raises ``ValueError`` for an unknown property or oracle name."""
    if oracle not in (None, "durable"):
        raise ValueError(f"unknown oracle {oracle!r}; known: 'durable'")
    names = list(PROPERTIES) if properties is None else list(properties)
    unknown = [n for n in names if n not in PROPERTIES]
    if unknown:
        raise ValueError(f"unknown fairness properties {unknown}; known: {', '.join(PROPERTIES)}")
    checks: dict[str, PropertyCheck] = {name: PROPERTIES[name] for name in names}
    if event_type_bounds:
        checks["event_type_bounds"] = partial(check_event_type_bounds, bounds=event_type_bounds)
    if concentration is not None:
        checks["concentration"] = partial(check_concentration, bound=concentration)
    if oracle == "durable":
        checks["durable_base_points"] = check_durable_base_points
    return checks


def _hypothesis_test(policy: Policy, body: Any, max_examples: int, seed: int | None,
                     streams: Mapping[str, Any] | None) -> Any:
    """``body`` as a hypothesis test over ``max_examples`` generated streams (seeded when ``seed`` is given)."""
    test = settings(
        max_examples=max_examples, deadline=None, database=None, derandomize=False, report_multiple_bugs=False,
        verbosity=Verbosity.quiet, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        # No explain phase: the counter-example is replayed as JSON Lines, not annotated source lines.
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    )(given(event_streams(policy, **dict(streams or {})))(body))
    return hypothesis_seed(seed)(test) if seed is not None else test


def _attempt(policy: Policy, name: str, check: PropertyCheck, events: list[dict[str, Any]]) -> None:
    """Run one check; an exception other than a violation — the engine refusing a generated event, say —
    is reported as a violation of the property, with the stream that caused it."""
    try:
        check(policy, events)
    except FairnessViolation:
        raise
    except Exception as exc:  # any engine failure on a valid stream is a finding, not a crash of the kit
        raise FairnessViolation.of(name, "engine.raised", events, kind=type(exc).__name__,
                                   error=str(exc)) from exc


def run_property(policy: Policy, name: str, check: PropertyCheck, *, max_examples: int = 100,
                 seed: int | None = None, streams: Mapping[str, Any] | None = None) -> PropertyResult:
    """Run one check over ``max_examples`` generated streams (``streams`` are :func:`event_streams`
    options). An exception other than a violation — the engine refusing a generated event, say — is
    reported as a violation of the property, with the stream that caused it."""
    def attempt(events: list[dict[str, Any]]) -> None:
        _attempt(policy, name, check, events)

    try:
        _hypothesis_test(policy, attempt, max_examples, seed, streams)()
    except FairnessViolation as violation:
        return PropertyResult(name, max_examples, minimise(policy, check, violation).evolve(ref=policy.ref))
    return PropertyResult(name, max_examples)


def _still_fails(policy: Policy, check: PropertyCheck, name: str, events: list[dict[str, Any]]
                 ) -> FairnessViolation | None:
    try:
        check(policy, events)
    except FairnessViolation as violation:
        return violation if violation.property == name else None
    except Exception:  # a smaller stream the engine refuses is simply not a counter-example
        return None
    return None


def minimise(policy: Policy, check: PropertyCheck, violation: FairnessViolation) -> FairnessViolation:
    """The violation on the fewest events that still break the same property: hypothesis' shrunk stream,
    then (1) each event dropped in turn while the property still fails, events that moved no points first,
    and (2) each event's optional fields (attributes, household) dropped. Deterministic; at most a few
    hundred replays of streams of at most ``max_size`` events."""
    name = violation.property
    events: list[dict[str, Any]] = [dict(e) for e in violation.events if isinstance(e, Mapping)]
    if len(events) != len(violation.events):
        return violation
    best = violation
    zero = _zero_effect(policy, events)
    changed = True
    while changed and len(events) > 1:
        changed = False
        for index in sorted(range(len(events)), key=lambda i: (events[i]["id"] not in zero, -i)):
            candidate = events[:index] + events[index + 1:]
            found = _still_fails(policy, check, name, candidate)
            if found is not None:
                events, best, changed = candidate, found, True
                break
    for index in range(len(events)):
        for field in ("household", *sorted(events[index].get("attributes") or {})):
            candidate = [dict(e) for e in events]
            if field == "household":
                if "household" not in candidate[index]:
                    continue
                del candidate[index]["household"]
            else:
                attributes = dict(candidate[index]["attributes"])
                del attributes[field]
                candidate[index]["attributes"] = attributes
            found = _still_fails(policy, check, name, candidate)
            if found is not None:
                events, best = candidate, found
    return best.evolve(events=events)


def _zero_effect(policy: Policy, events: list[dict[str, Any]]) -> set[str]:
    """Ids of events whose decision moved no points when the stream is replayed."""
    from_engine = Engine(policy, store=MemoryStore())
    try:
        return {d.event_id for d in (from_engine.submit(e) for e in events) if not d.entries}
    except Exception:  # a stream the engine refuses: no order preference
        return set()


def _run_all(policy: Policy, checks: Mapping[str, PropertyCheck], max_examples: int, seed: int | None,
             streams: Mapping[str, Any] | None) -> list[PropertyResult]:
    """Every check over the same ``max_examples`` streams, each stream drawn once: drawing dominates the
    cost of a check. A check that fails is then run on its own with the same seed, which draws the same
    streams up to the failing one and lets hypothesis shrink it; should that run not meet the failure
    again, the failing stream itself is minimised."""
    if len(checks) == 1:
        return [run_property(policy, name, check, max_examples=max_examples, seed=seed, streams=streams)
                for name, check in checks.items()]
    if seed is None:
        # A seed of our own, so that the run of a failing check on its own draws the same streams.
        seed = random.SystemRandom().getrandbits(64)
    first: dict[str, FairnessViolation] = {}

    def every_check(events: list[dict[str, Any]]) -> None:
        for name, check in checks.items():
            if name in first:
                continue
            try:
                # Each check gets its own copy: none may see what another did to the events.
                _attempt(policy, name, check, copy.deepcopy(events))
            except FairnessViolation as violation:
                first[name] = violation

    _hypothesis_test(policy, every_check, max_examples, seed, streams)()
    results = []
    for name, check in checks.items():
        if name not in first:
            results.append(PropertyResult(name, max_examples))
            continue
        result = run_property(policy, name, check, max_examples=max_examples, seed=seed, streams=streams)
        if result.violation is None:
            result = PropertyResult(name, max_examples,
                                    minimise(policy, check, first[name]).evolve(ref=policy.ref))
        results.append(result)
    return results


def assert_fair(
    ruleset: Policy | str | Path, *, max_examples: int = 100, seed: int | None = None,
    properties: Sequence[str] | None = None,
    event_type_bounds: Mapping[str, Bound | tuple[str, str, int]] | None = None,
    concentration: Concentration | None = None, max_member_share: float | None = None,
    streams: Mapping[str, Any] | None = None, oracle: Literal["durable"] | None = None,
) -> None:
    """Raise :class:`FairnessViolation` unless every property holds over ``max_examples`` streams each.

    ``ruleset`` is a path, YAML text or a compiled Policy. ``properties`` picks standard properties by
    name (all by default). Host intents add checks: ``event_type_bounds`` maps an event type to an intended
    ``(scope, window, limit)``; ``concentration`` (or the shorthand ``max_member_share``: a subject's share
    of its grid's monthly awards once they reach 100) bounds 积分垄断. ``oracle="durable"`` adds the
    ``durable_base_points`` property: base points equal an independent durable_rules compilation's (the
    ``durable`` extra). ``seed`` makes the run repeatable.
    The violation raised is the first failing property's; its message ends with the shrunk
    counter-example as JSON Lines and names any other failing properties.
    """
    policy = _policy(ruleset)
    if concentration is None and max_member_share is not None:
        concentration = Concentration(max_share=max_member_share)
    checks = fairness_checks(properties, event_type_bounds=event_type_bounds, concentration=concentration,
                             oracle=oracle)
    failed = [r.violation for r in _run_all(policy, checks, max_examples, seed, streams) if r.violation is not None]
    if failed:
        first = failed[0]
        others = [v.property for v in failed[1:]]
        if not others:
            raise first
        raise first.evolve(also=others)


def check_ruleset(path: str | Path | Policy, examples: int = 100, *, seed: int | None = None) -> list[PropertyResult]:
    """Every standard property of a ruleset over ``examples`` streams each; raises
    :class:`~gridpoints.errors.RulesetError` if it does not load."""
    policy = _policy(path)
    return _run_all(policy, fairness_checks(), examples, seed, None)


def result_line(result: PropertyResult, lang: Lang = "en") -> str:
    """One property's report in ``lang``: ``PASS name (meaning)`` or ``FAIL name (meaning): why``, the
    failure followed by its counter-example; always ends with a newline."""
    meaning = property_meaning(result.name, lang)
    if result.violation is None:
        return render("check.pass", lang, {"name": result.name, "meaning": meaning}) + "\n"
    line = render("check.fail", lang, {"name": result.name, "meaning": meaning,
                                       "detail": result.violation.text(lang)})
    return line if line.endswith("\n") else line + "\n"


def run_check(path: str, examples: int, out: TextIO, *, seed: int | None = None, lang: Lang = "en") -> int:
    """``gridpoints check``: a :func:`result_line` per property in ``lang``, then how many passed; returns
    the exit code (0 all pass, 1 a failure or a ruleset that does not load)."""
    try:
        policy = load_ruleset(path)
    except RulesetError as exc:
        for issue in exc.issues:
            out.write(f"{issue.describe(lang)}\n")
        out.write(render("check.invalid", lang, {"path": path, "count": len(exc.issues)}) + "\n")
        return 1
    out.write(render("check.header", lang, {"ref": policy.ref, "count": len(PROPERTIES), "examples": examples})
              + "\n")
    results = check_ruleset(policy, examples, seed=seed)
    for result in results:
        out.write(result_line(result, lang))
    failures = sum(not r.passed for r in results)
    out.write(render("check.summary", lang, {"passed": len(results) - failures, "failed": failures}) + "\n")
    return 1 if failures else 0


def counterexample(violation: FairnessViolation) -> str:
    """The violation's events as JSON Lines (what :func:`assert_fair` appends to its message)."""
    return events_jsonl(violation.events)

