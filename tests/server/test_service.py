"""The service end to end: uvicorn in a subprocess, httpx, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from _service import OTHER, RESIDENT, STAFF_MEMBER, TENANT, TOKENS, Service, start_service, stop_service
from _service import engine_beside as engine_beside

BASE = f"/v1/{TENANT}"

#: Who may call each operation: written out here, independently of the service's own table, so that a
#: change to either shows up as a failure.
EXPECTED: dict[str, set[str]] = {
    "submit_event": {"platform"},
    "submit_batch": {"platform"},
    "get_decision": {"platform", "staff", "auditor", "resident"},
    "get_balance": {"platform", "staff", "auditor", "resident"},
    "get_history": {"platform", "staff", "auditor", "resident"},
    "get_statement": {"platform", "staff", "auditor", "resident"},
    "get_standing": {"platform", "staff", "auditor", "resident"},
    "get_worker_view": {"platform", "staff"},
    "list_notices": {"platform"},
    "acknowledge_notices": {"platform"},
    "get_leaderboard": {"platform", "staff", "auditor"},
    "redeem": {"platform"},
    "fulfil_redemption": {"platform", "staff"},
    "cancel_redemption": {"platform", "staff"},
    "correct_event": {"staff"},
    "adjust_balance": {"staff"},
    "close_period": {"staff"},
    "get_ruleset": {"platform", "staff", "auditor"},
    "lint_ruleset": {"staff"},
    "check_ruleset": {"staff"},
    "verify_ledger": {"staff", "auditor"},
}
ROLES = ("platform", "staff", "auditor", "resident")


def patrol(event_id: str, subject: str = RESIDENT, *, day: int = 1, hours: float = 2) -> dict[str, Any]:
    return {"id": event_id, "type": "patrol", "subject": subject, "grid": "g01",
            "occurred_at": f"2026-04-{day:02d}T19:00:00+08:00", "attributes": {"hours": hours}}


def uid() -> str:
    return uuid.uuid4().hex[:10]


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["status"] == status, body
    assert body["type"] == f"urn:gridpoints:problem:{code}" and body["title"] and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


@pytest.fixture(scope="module")
def fixtures(service: Service) -> dict[str, str]:
    """Recorded facts the role tests read: an event of the resident's, two held redemptions."""
    run = uid()
    for day in (1, 2, 3):
        ok(service.call("POST", f"{BASE}/events", json=patrol(f"seed-{run}-{day}", day=day)))
    ok(service.call("POST", f"{BASE}/events", json=patrol(f"seed-{run}-other", "r-2")))
    ok(service.call("POST", f"{BASE}/events", json=patrol(f"seed-{run}-mistake", "r-3")))
    for name in ("fulfil", "cancel"):
        ok(service.call("POST", f"{BASE}/redemptions", json={"subject": RESIDENT, "item": "checkup",
                                                             "request_id": f"hold-{name}-{run}",
                                                             "at": "2026-04-04T10:00:00+08:00"}))
    return {"event": f"seed-{run}-1", "other_event": f"seed-{run}-other", "mistake": f"seed-{run}-mistake",
            "fulfil": f"hold-fulfil-{run}", "cancel": f"hold-cancel-{run}", "run": run}


def _requests(facts: dict[str, str]) -> dict[str, Callable[[Service, str | None, str], httpx.Response]]:
    """One valid request per operation (the same each time: the writes are idempotent)."""
    run = facts["run"]
    at = {"at": "2026-04-05T10:00:00+08:00"}
    return {
        "submit_event": lambda s, r, t: s.call("POST", f"/v1/{t}/events", r, json=patrol(f"m-{run}")),
        "submit_batch": lambda s, r, t: s.call("POST", f"/v1/{t}/events/batch", r,
                                               json={"events": [patrol(f"mb-{run}", day=9)]}),
        "get_decision": lambda s, r, t: s.call("GET", f"/v1/{t}/events/{facts['event']}", r),
        "get_balance": lambda s, r, t: s.call("GET", f"/v1/{t}/subjects/{RESIDENT}/balance", r),
        "get_history": lambda s, r, t: s.call("GET", f"/v1/{t}/subjects/{RESIDENT}/history", r),
        "get_statement": lambda s, r, t: s.call("GET", f"/v1/{t}/subjects/{RESIDENT}/statement", r,
                                                params={"window": "2026-04"}),
        "get_standing": lambda s, r, t: s.call("GET", f"/v1/{t}/subjects/{RESIDENT}/standing", r,
                                               params={"window": "2026-04"}),
        "get_worker_view": lambda s, r, t: s.call("GET", f"/v1/{t}/grids/g01/worker-view", r,
                                                  params={"now": "2026-04-05T10:00:00+08:00"}),
        "list_notices": lambda s, r, t: s.call("GET", f"/v1/{t}/notices", r, params={"after": 0, "limit": 5}),
        "acknowledge_notices": lambda s, r, t: s.call("POST", f"/v1/{t}/notices/acknowledge", r,
                                                      json={"cursor": 0}),
        "get_leaderboard": lambda s, r, t: s.call("GET", f"/v1/{t}/leaderboards/2026-04", r),
        "redeem": lambda s, r, t: s.call("POST", f"/v1/{t}/redemptions", r, json={
            "subject": RESIDENT, "item": "soap", "request_id": f"soap-{run}", "at": "2026-04-04T11:00:00+08:00"}),
        "fulfil_redemption": lambda s, r, t: s.call("POST", f"/v1/{t}/redemptions/{facts['fulfil']}/fulfil", r,
                                                    json=at),
        "cancel_redemption": lambda s, r, t: s.call("POST", f"/v1/{t}/redemptions/{facts['cancel']}/cancel", r,
                                                    json=at),
        "correct_event": lambda s, r, t: s.call("POST", f"/v1/{t}/events/{facts['mistake']}/correct", r, json={
            "reason": "录入错误", "actor": STAFF_MEMBER, "at": "2026-04-05T10:00:00+08:00"}),
        "adjust_balance": lambda s, r, t: s.call("POST", f"/v1/{t}/adjustments", r, json={
            "subject": "r-3", "points": 5, "reason": "补录", "actor": STAFF_MEMBER,
            "at": "2026-04-05T11:00:00+08:00", "request_id": f"adj-{run}"}),
        "close_period": lambda s, r, t: s.call("POST", f"/v1/{t}/periods/2026-03/close", r,
                                               json={"now": "2026-04-01T00:00:00+08:00"}),
        "get_ruleset": lambda s, r, t: s.call("GET", f"/v1/{t}/ruleset", r),
        "lint_ruleset": lambda s, r, t: s.call("POST", f"/v1/{t}/ruleset/lint", r,
                                               json={"ruleset": "ruleset: x\nversion: 1\nname: X\nrules: []\n"}),
        "check_ruleset": lambda s, r, t: s.call("POST", f"/v1/{t}/ruleset/check", r, json={"examples": 1, "seed": 1}),
        "verify_ledger": lambda s, r, t: s.call("GET", f"/v1/{t}/verify", r),
    }


def test_every_operation_is_in_the_role_table_and_the_openapi_roles_match(service: Service) -> None:
    """The OpenAPI document lists, for every operation, exactly the roles the tests expect."""
    document = ok(service.http.get("/openapi.json"))
    listed = {op["operationId"]: set(op["x-gridpoints-roles"])
              for path in document["paths"].values() for op in path.values() if "x-gridpoints-roles" in op}
    assert listed == EXPECTED


@pytest.mark.parametrize("operation", sorted(EXPECTED))
def test_role_boundary(service: Service, fixtures: dict[str, str], operation: str) -> None:
    """Each role may call exactly its operations; outside its roles or tenant it is 403 (and logged), without a
    key 401."""
    send = _requests(fixtures)[operation]
    for role in ROLES:
        response = send(service, role, TENANT)
        if role in EXPECTED[operation]:
            assert response.status_code == 200, (role, response.text)
        else:
            body = problem(response, 403, "forbidden")
            assert body["location"] == "roles"
    body = problem(send(service, "other-tenant", TENANT), 403, "forbidden")
    assert body["location"] == "path:tenant"
    problem(send(service, None, TENANT), 401, "unauthenticated")
    problem(service.call("GET", f"{BASE}/ruleset", None, headers={"X-API-Key": "not-a-key"}), 401, "unauthenticated")
    forbidden = [line for line in service.log_lines() if line.get("msg") == "forbidden"
                 and line.get("operation") == operation]
    assert {line["reason"] for line in forbidden} >= {"tenant"} | ({"role"} if set(ROLES) - EXPECTED[operation]
                                                                   else set())


def test_resident_reads_only_their_own_data(service: Service, fixtures: dict[str, str]) -> None:
    """A resident key reads its own balance, history and decisions; another subject's are 403 / 404."""
    assert ok(service.call("GET", f"{BASE}/subjects/{RESIDENT}/balance", "resident"))["balance"] > 0
    problem(service.call("GET", f"{BASE}/subjects/r-2/balance", "resident"), 403, "forbidden")
    problem(service.call("GET", f"{BASE}/subjects/r-2/history", "resident"), 403, "forbidden")
    for view in ("statement", "standing"):
        assert ok(service.call("GET", f"{BASE}/subjects/{RESIDENT}/{view}", "resident",
                               params={"window": "2026-04"}))["subject"] == RESIDENT
        problem(service.call("GET", f"{BASE}/subjects/r-2/{view}", "resident", params={"window": "2026-04"}),
                403, "forbidden")
    problem(service.call("GET", f"{BASE}/events/{fixtures['other_event']}", "resident"), 404, "not-found")
    seen = ok(service.call("GET", f"{BASE}/events/{fixtures['other_event']}", "auditor"))
    assert seen["decision"]["subject"] == "r-2"


def test_other_tenant_key_works_in_its_own_tenant(service: Service) -> None:
    """A key bound to the other tenant is served there, on that tenant's own ledger."""
    decision = ok(service.call("POST", f"/v1/{OTHER}/events", "other-tenant", json=patrol(f"o-{uid()}")))
    assert decision["entries"][0]["tenant"] == OTHER
    assert ok(service.call("GET", f"/v1/{OTHER}/verify", "other-tenant"))["ok"]


def test_submit_is_idempotent_by_event_id(service: Service) -> None:
    """A retry with the same body is the original decision with the same status; another body is 409 with
    both fingerprints, and nothing is written."""
    subject = f"s-{uid()}"
    event = patrol(f"i-{uid()}", subject)
    first = service.call("POST", f"{BASE}/events", json=event)
    again = service.call("POST", f"{BASE}/events", json=event)
    assert first.status_code == again.status_code == 200
    assert first.headers["idempotent-replayed"] == "false" and again.headers["idempotent-replayed"] == "true"
    original, replay = first.json(), again.json()
    assert replay.pop("duplicate") is True and original.pop("duplicate") is False
    # The retry wrote nothing, so it lists no entries; the decision (points, trace) is the original's.
    assert replay.pop("entries") == [] and len(original.pop("entries")) == 1
    assert replay == original
    changed = {**event, "attributes": {"hours": 3}}
    body = problem(service.call("POST", f"{BASE}/events", json=changed), 409, "idempotency-conflict")
    assert body["location"] == "id" and body["event_id"] == event["id"]
    assert len(body["stored_fingerprint"]) == len(body["received_fingerprint"]) == 64
    assert body["stored_fingerprint"] != body["received_fingerprint"]
    assert body["stored_fingerprint"] in body["detail"]
    assert ok(service.call("GET", f"{BASE}/subjects/{subject}/balance"))["balance"] == 20


def test_batch_is_all_or_nothing_and_places_the_bad_event(service: Service) -> None:
    """A bad event in a batch is 422 at events[i].…; none of the batch is written; a good batch is decided
    with caps exact."""
    subject, run = f"s-{uid()}", uid()
    events = [patrol(f"b-{run}-{i}", subject) for i in range(4)]
    bad = [*events[:2], {**events[2], "attributes": {"hours": "two"}}, events[3]]
    body = problem(service.call("POST", f"{BASE}/events/batch", json={"events": bad}), 422, "invalid-event")
    assert body["location"].startswith("events[2].attributes")
    problem(service.call("GET", f"{BASE}/events/{events[0]['id']}"), 404, "not-found")
    decisions = ok(service.call("POST", f"{BASE}/events/batch", json={"events": events}))["decisions"]
    assert [d["points"] for d in decisions] == [20, 20, 10, 0]  # the daily cap of 50
    conflict = [*events[:1], {**events[1], "attributes": {"hours": 1}}]
    body = problem(service.call("POST", f"{BASE}/events/batch", json={"events": conflict}), 409,
                   "idempotency-conflict")
    assert body["location"] == "events[1].id"


def test_errors_speak_the_callers_language(service: Service) -> None:
    """The same error in zh (default) and en, chosen by ?lang or Accept-Language; code and location stay."""
    event = {**patrol(f"l-{uid()}"), "type": "patroll"}
    zh = problem(service.call("POST", f"{BASE}/events", json=event), 422, "unknown-event-type")
    en = problem(service.call("POST", f"{BASE}/events", json=event, headers={"Accept-Language": "en-US"}), 422,
                 "unknown-event-type")
    forced = problem(service.call("POST", f"{BASE}/events?lang=en", json=event), 422, "unknown-event-type")
    assert zh["lang"] == "zh" and en["lang"] == forced["lang"] == "en"
    assert zh["title"] == "未知的事件类型" and en["title"] == "Unknown event type"
    assert "没有对应的规则" in zh["detail"] and "unknown event type" in en["detail"]
    assert zh["location"] == en["location"] == "type" and zh["suggestion"] == "patrol"
    malformed = problem(service.call("POST", f"{BASE}/events", json={"id": "x"}), 422, "invalid-request")
    assert malformed["location"] in {"type", "subject", "grid", "occurred_at"}


def test_decision_and_explanation(service: Service, fixtures: dict[str, str]) -> None:
    """A recorded decision with its explanation in zh or en; an unknown id is 404."""
    zh = ok(service.call("GET", f"{BASE}/events/{fixtures['event']}"))
    en = ok(service.call("GET", f"{BASE}/events/{fixtures['event']}?lang=en"))
    assert zh["decision"]["points"] == 20 and zh["decision"]["trace"]["rules"][0]["rule_id"] == "patrol"
    assert "邻里守望巡逻" in zh["explanation"] and "Net change: +20 points" in en["explanation"]
    problem(service.call("GET", f"{BASE}/events/nope-{uid()}"), 404, "not-found")


def test_history_pages_and_windows(service: Service) -> None:
    """History pages by after_seq and filters by a window of local time."""
    subject, run = f"s-{uid()}", uid()
    for i, day in enumerate((1, 1, 2, 2, 3)):
        ok(service.call("POST", f"{BASE}/events", json=patrol(f"h-{run}-{i}", subject, day=day, hours=1)))
    seen, after = [], 0
    while True:
        page = ok(service.call("GET", f"{BASE}/subjects/{subject}/history", params={"limit": 2, "after_seq": after}))
        seen += page["entries"]
        if page["next_after_seq"] is None:
            break
        assert len(page["entries"]) == 2
        after = page["next_after_seq"]
    assert [e["event_id"] for e in seen] == [f"h-{run}-{i}" for i in range(5)]
    day2 = ok(service.call("GET", f"{BASE}/subjects/{subject}/history", params={"window": "2026-04-02"}))
    assert [e["event_id"] for e in day2["entries"]] == [f"h-{run}-2", f"h-{run}-3"]
    week = ok(service.call("GET", f"{BASE}/subjects/{subject}/history", params={"window": "2026-W14"}))
    assert len(week["entries"]) == 5
    problem(service.call("GET", f"{BASE}/subjects/{subject}/history", params={"window": "April"}), 422,
            "invalid-window")


def test_redemption_is_idempotent_by_request_id_and_refusals_are_409(service: Service) -> None:
    """Redeem, retry (same decision), reuse the request id for another item (409), overspend (409 with a
    reason); hold settlement and a second settlement."""
    subject, run = f"s-{uid()}", uid()
    ok(service.call("POST", f"{BASE}/events", json=patrol(f"r-{run}", subject, hours=3)))
    body = {"subject": subject, "item": "soap", "request_id": f"q-{run}", "at": "2026-04-02T10:00:00+08:00"}
    first = ok(service.call("POST", f"{BASE}/redemptions", json=body))
    again = service.call("POST", f"{BASE}/redemptions", json=body)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["points"] == first["points"] == -10 and again.json()["entries"] == []
    problem(service.call("POST", f"{BASE}/redemptions", json={**body, "item": "checkup"}), 409,
            "idempotency-conflict")
    assert ok(service.call("GET", f"{BASE}/subjects/{subject}/balance"))["balance"] == 20
    hold = {**body, "item": "checkup", "request_id": f"h-{run}"}
    ok(service.call("POST", f"{BASE}/redemptions", json=hold))
    refused = problem(service.call("POST", f"{BASE}/redemptions", json={**hold, "request_id": f"x-{run}"}), 409,
                      "redemption-refused")
    assert refused["reason"] == "insufficient_balance" and "余额不足" in refused["detail"]
    at = {"at": "2026-04-03T10:00:00+08:00"}
    ok(service.call("POST", f"{BASE}/redemptions/h-{run}/cancel", "staff", json=at))
    assert ok(service.call("GET", f"{BASE}/subjects/{subject}/balance"))["balance"] == 20
    again_settled = service.call("POST", f"{BASE}/redemptions/h-{run}/fulfil", "staff", json=at)
    assert problem(again_settled, 409, "redemption-refused")["reason"] == "already_settled"
    unknown = problem(service.call("POST", f"{BASE}/redemptions/none-{run}/fulfil", json=at), 409,
                      "redemption-refused")
    assert unknown["reason"] == "unknown_request"


def test_corrections_and_adjustments(service: Service) -> None:
    """Staff correct an event (its points reversed, a retry replayed) and adjust a balance; an unknown event,
    an actor adjusting themselves and an unregistered actor are refused with their own problems."""
    subject, run = f"s-{uid()}", uid()
    ok(service.call("POST", f"{BASE}/events", json=patrol(f"c-{run}", subject, hours=3)))
    body = {"reason": "重复录入", "actor": STAFF_MEMBER, "at": "2026-04-06T09:00:00+08:00"}
    first = service.call("POST", f"{BASE}/events/c-{run}/correct", "staff", json=body)
    assert ok(first)["points"] == -30 and first.headers["idempotent-replayed"] == "false"
    again = service.call("POST", f"{BASE}/events/c-{run}/correct", "staff", json=body)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert ok(service.call("GET", f"{BASE}/subjects/{subject}/balance"))["balance"] == 0
    refused = problem(service.call("POST", f"{BASE}/events/none-{run}/correct", "staff", json=body), 409,
                      "correction-refused")
    assert refused["reason"] == "unknown_event"
    adjust = {"subject": subject, "points": 15, "reason": "补录巡逻", "actor": STAFF_MEMBER,
              "at": "2026-04-06T10:00:00+08:00", "request_id": f"a-{run}"}
    assert ok(service.call("POST", f"{BASE}/adjustments", "staff", json=adjust))["points"] == 15
    assert ok(service.call("GET", f"{BASE}/subjects/{subject}/balance"))["balance"] == 15
    self_adjust = {**adjust, "subject": STAFF_MEMBER, "request_id": f"self-{run}"}
    problem(service.call("POST", f"{BASE}/adjustments", "staff", json=self_adjust), 422, "segregation-of-duties")
    stranger = {**adjust, "actor": "nobody", "request_id": f"n-{run}"}
    problem(service.call("POST", f"{BASE}/adjustments", "staff", json=stranger), 422, "segregation-of-duties")
    assert ok(service.call("GET", f"{BASE}/verify", "auditor"))["ok"]


def test_leaderboard_close_lint_check_verify(service: Service, fixtures: dict[str, str]) -> None:
    """The staff and auditor operations answer with their reports."""
    board = ok(service.call("GET", f"{BASE}/leaderboards/2026-04", params={"top": 3}))
    assert 1 <= len(board["standings"]) <= 3 and board["standings"][0]["rank"] == 1
    problem(service.call("GET", f"{BASE}/leaderboards/2026-04", params={"scope": "grid"}), 422, "invalid-request")
    closed = ok(service.call("POST", f"{BASE}/periods/2026-02/close", "staff",
                             json={"now": "2026-03-01T00:00:00+08:00"}))
    assert closed["window"] == "2026-02"
    lint = ok(service.call("POST", f"{BASE}/ruleset/lint", "staff",
                           json={"ruleset": "ruleset: x\nversion: 1\nname: X\nrules:\n  - id: a\n    on: e\n"
                                            "    points: ten\n"}))
    assert lint["errors"] >= 1 and lint["diagnostics"][0]["line"] is not None
    points = [d for d in lint["diagnostics"] if d["path"] == "rules[0].points"]
    assert lint["lang"] == "zh" and points[0]["message"].startswith("应为整数，或含有 'per'")
    assert points[0]["message_code"] == "value.invalid" and points[0]["text"].startswith("错误[invalid] ")
    for asked in ({"params": {"lang": "en"}}, {"headers": {"Accept-Language": "en-GB,en;q=0.8"}}):
        english = ok(service.call("POST", f"{BASE}/ruleset/lint", "staff", **asked,
                                  json={"ruleset": "ruleset: x\nversion: 1\nname: X\nrules:\n  - id: a\n"
                                                   "    on: e\n    points: ten\n"}))
        (english_points,) = [d for d in english["diagnostics"] if d["path"] == "rules[0].points"]
        assert english["lang"] == "en" and english_points["message"].startswith("expected an integer or a mapping")
    check = ok(service.call("POST", f"{BASE}/ruleset/check", "staff", json={"examples": 2, "seed": 3}))
    assert check["ruleset"] == "service-test@1" and check["passed"] and check["properties"]
    assert check["lang"] == "zh" and check["properties"][0]["text"].startswith("通过 caps（每个上限")
    for asked in ({"params": {"lang": "en"}}, {"headers": {"Accept-Language": "en-GB,en;q=0.8"}}):
        english = ok(service.call("POST", f"{BASE}/ruleset/check", "staff", **asked, json={"examples": 1, "seed": 3}))
        assert english["lang"] == "en" and english["properties"][0]["text"].startswith("PASS caps (every cap")
    problem(service.call("POST", f"{BASE}/ruleset/check", "staff", json={"examples": 10_000}), 422,
            "invalid-request")
    report = ok(service.call("GET", f"{BASE}/verify", "auditor"))
    assert report["ok"], report
    anchored = ok(service.call("GET", f"{BASE}/verify", "auditor", params={"anchor": report["head"]}))
    assert anchored["ok"]
    problem(service.call("GET", f"{BASE}/verify", "auditor", params={"anchor": "junk"}), 422, "invalid-request")


def _event(event_id: str, subject: str, when: str, hours: float = 2) -> dict[str, Any]:
    return {"id": event_id, "type": "patrol", "subject": subject, "grid": "g01", "occurred_at": when,
            "attributes": {"hours": hours}}


def test_statement_and_standing_are_the_engines(service: Service) -> None:
    """A month's statement and standing over HTTP carry the engine's own figures, entry for entry."""
    run = uid()
    subject, rival = f"st-{run}", f"sr-{run}"
    ok(service.call("POST", f"{BASE}/events", json=_event(f"sa-{run}", subject, "2026-05-30T19:00:00+08:00", 1)))
    ok(service.call("POST", f"{BASE}/events", json=_event(f"sb-{run}", subject, "2026-06-02T19:00:00+08:00", 3)))
    ok(service.call("POST", f"{BASE}/events", json=_event(f"sc-{run}", subject, "2026-06-03T19:00:00+08:00")))
    ok(service.call("POST", f"{BASE}/events", json=_event(f"sd-{run}", rival, "2026-06-03T20:00:00+08:00", 4)))
    ok(service.call("POST", f"{BASE}/redemptions", json={"subject": subject, "item": "checkup",
                                                         "request_id": f"sh-{run}", "at": "2026-06-04T10:00:00+08:00"}))
    statement = ok(service.call("GET", f"{BASE}/subjects/{subject}/statement", "auditor",
                                params={"window": "2026-06"}))
    engine = engine_beside(service)
    try:
        mine = engine.statement(subject, "2026-06")
        assert statement == {"subject": subject, "window": "2026-06", "opening": mine.opening,
                             "credits": mine.credits, "debits": mine.debits, "closing": mine.closing,
                             "pending": mine.pending, "held": mine.held, "earned": mine.earned,
                             "entries": [e.to_dict() for e in mine.entries]}
        # The figures themselves: 10 points in May, 30 + 20 in June, 20 held for the check-up.
        assert (statement["opening"], statement["credits"], statement["earned"], statement["held"]) == (10, 50, 50, 20)
        assert statement["closing"] == statement["opening"] + statement["credits"] - statement["debits"]
        standing = ok(service.call("GET", f"{BASE}/subjects/{subject}/standing", "staff",
                                   params={"window": "2026-06", "scope": "grid"}))
        theirs = engine.standing(subject, "2026-06", scope="grid")
        assert standing == {"subject": subject, "window": "2026-06", "scope": "grid", "grid": theirs.grid,
                            "rank": theirs.rank, "ranked": theirs.ranked, "earned": theirs.earned,
                            "to_next_rank": theirs.to_next_rank, "tier": theirs.tier, "next_tier": theirs.next_tier,
                            "to_next_tier": theirs.to_next_tier, "tier_blocked": theirs.tier_blocked}
        assert standing["earned"] == 50 and standing["rank"] is not None  # an unregistered subject: grid "-"
    finally:
        engine.store.close()
    problem(service.call("GET", f"{BASE}/subjects/{subject}/statement", params={"window": "June"}), 422,
            "invalid-window")
    problem(service.call("GET", f"{BASE}/subjects/{subject}/standing"), 422, "invalid-request")


def test_worker_view_is_the_engines(service: Service) -> None:
    """A staff key reads a grid's to-do list as the engine makes it; the window defaults to the month of now."""
    now = "2026-04-05T10:00:00+08:00"
    view = ok(service.call("GET", f"{BASE}/grids/g01/worker-view", "staff", params={"now": now}))
    engine = engine_beside(service)
    try:
        theirs = engine.worker_view("g01", now=datetime.fromisoformat(now))
    finally:
        engine.store.close()
    assert view["grid"] == "g01" and view["window"] == theirs.window == "2026-04" and view["now"] == theirs.now
    assert view["verifications"] == [{"event_id": v.event_id, "subject": v.subject, "points": v.points,
                                      "deadline": v.deadline} for v in theirs.verifications]
    assert view["repairs_due"] == [{"event_id": r.event_id, "subject": r.subject, "repair": r.repair,
                                    "remaining": str(r.remaining), "deadline": r.deadline} for r in theirs.repairs_due]
    assert view["visits"] == list(theirs.visits)
    tagged = ok(service.call("GET", f"{BASE}/grids/g01/worker-view", "platform",
                             params={"now": now, "window": "2026-04", "visit_tag": ["staff", "elderly"]}))
    assert tagged["window"] == "2026-04"
    problem(service.call("GET", f"{BASE}/grids/g01/worker-view", "staff"), 422, "invalid-request")
    problem(service.call("GET", f"{BASE}/grids/g01/worker-view", "staff", params={"now": now, "window": "x"}), 422,
            "invalid-window")


def _last_cursor(service: Service) -> int:
    after = 0
    while True:
        page = ok(service.call("GET", f"{BASE}/notices", params={"after": after, "limit": 1000}))
        if not page["notices"]:
            return after
        after = page["next_after"]


def test_notices_feed_and_acknowledgement(service: Service) -> None:
    """The outbox is read after a cursor (the same page every time), with zh and en texts; an acknowledgement is
    idempotent, never moves back, and the feed without a cursor starts after it."""
    start = _last_cursor(service)
    run = uid()
    subject = f"nt-{run}"
    ok(service.call("POST", f"{BASE}/events", json=_event(f"na-{run}", subject, "2026-04-08T19:00:00+08:00")))
    first = ok(service.call("GET", f"{BASE}/notices", params={"after": start}))
    again = ok(service.call("GET", f"{BASE}/notices", params={"after": start}))
    assert first == again
    told = [n for n in first["notices"] if n["event_id"] == f"na-{run}"]
    assert [(n["kind"], n["subject"], n["points"]) for n in told] == [("points_awarded", subject, 20)]
    assert told[0]["text"]["zh"].startswith("您获得 20 积分") and told[0]["text"]["en"].startswith("You earned 20 ")
    cursors = [n["cursor"] for n in first["notices"]]
    assert cursors == sorted(cursors) and cursors[0] > start and first["next_after"] == cursors[-1]
    last = first["next_after"]
    assert ok(service.call("POST", f"{BASE}/notices/acknowledge", json={"cursor": last})) == {"acknowledged": last}
    assert ok(service.call("POST", f"{BASE}/notices/acknowledge", json={"cursor": last})) == {"acknowledged": last}
    assert ok(service.call("POST", f"{BASE}/notices/acknowledge", json={"cursor": start})) == {"acknowledged": last}
    assert ok(service.call("GET", f"{BASE}/notices"))["notices"] == []
    assert ok(service.call("GET", f"{BASE}/notices", params={"after": start}))["notices"] == first["notices"]
    problem(service.call("POST", f"{BASE}/notices/acknowledge", json={"cursor": -1}), 422, "invalid-request")
    problem(service.call("GET", f"{BASE}/notices", params={"limit": 0}), 422, "invalid-request")


def test_health_ready_and_metrics(service: Service, fixtures: dict[str, str]) -> None:
    """healthz and readyz answer without a key; metrics count events by outcome, latency, retries, store errors."""
    assert ok(service.http.get("/healthz"))["status"] == "ok"
    assert ok(service.http.get("/readyz"))["tenants"] == [TENANT, OTHER]
    text = service.http.get("/metrics").text
    awarded = next(float(line.split()[-1]) for line in text.splitlines()
                   if line.startswith('gridpoints_events_total{outcome="awarded"}'))
    assert awarded >= 4
    assert 'gridpoints_request_seconds_bucket{le="0.005",operation="submit_event"}' in text
    assert "gridpoints_serialization_retries_total" in text and "# TYPE gridpoints_store_errors_total" in text


def test_logs_are_json_with_request_ids_and_pseudonyms_only(service: Service) -> None:
    """Each request is one JSON log line with its request id; a raw subject id never appears in the log."""
    secret = f"resident-{uid()}"
    response = service.call("POST", f"{BASE}/events", json=patrol(f"g-{uid()}", secret),
                            headers={"X-Request-Id": f"req-{secret[-10:]}"})
    ok(response)
    assert response.headers["x-request-id"] == f"req-{secret[-10:]}"
    ok(service.call("GET", f"{BASE}/subjects/{secret}/balance", "auditor"))
    time.sleep(0.2)
    lines = service.log_lines()
    mine = [line for line in lines if line.get("request_id") == f"req-{secret[-10:]}"]
    assert len(mine) == 1 and mine[0]["operation"] == "submit_event" and mine[0]["status"] == 200
    assert str(mine[0]["subject"]).startswith("p:")
    assert secret not in service.log.read_text(encoding="utf-8")


def test_graceful_shutdown_finishes_the_batch_in_flight(tmp_path: Any) -> None:
    """SIGTERM while a batch is being sent: the batch is decided and answered in full, the service exits 0,
    and a restarted service finds every event and a verified ledger."""
    store = f"sqlite:///{tmp_path / 'shutdown.db'}"
    running = start_service(tmp_path, store)
    run, count = uid(), 2000
    events = [patrol(f"gs-{run}-{i}", f"s{i % 50}", day=1 + i % 28, hours=1) for i in range(count)]
    payload = json.dumps({"events": events}).encode()
    half = len(payload) // 2
    signalled = threading.Event()

    def body() -> Any:
        yield payload[:half]
        signalled.wait(30)
        time.sleep(0.3)
        yield payload[half:]

    result: dict[str, Any] = {}

    def send() -> None:
        result["response"] = httpx.post(f"{running.base}{BASE}/events/batch", content=body(), timeout=60,
                                        headers={"Authorization": f"Bearer {TOKENS['platform']}",
                                                 "content-type": "application/json"})

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(0.5)
    running.process.send_signal(signal.SIGTERM)
    signalled.set()
    sender.join(60)
    response = result["response"]
    assert response.status_code == 200, response.text
    assert len(response.json()["decisions"]) == count
    # uvicorn re-raises the signal once it has shut down cleanly, so the exit is by SIGTERM (as systemd expects).
    assert running.process.wait(60) in (0, -signal.SIGTERM)
    assert any(line.get("msg") == "stopped" for line in running.log_lines())
    again = start_service(tmp_path, store)
    try:
        assert again.call("GET", f"{BASE}/events/gs-{run}-{count - 1}", "auditor").status_code == 200
        assert ok(again.call("GET", f"{BASE}/verify", "auditor"))["entries_checked"] >= count
    finally:
        stop_service(again)
