"""The service's parts in process: keys at rest, the error table, a retried conflict, the app's checks."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import gridpoints
import gridpoints.errors as errors
from gridpoints import MemoryStore, SerializationFailure
from gridpoints.server import PROBLEMS, ApiKey, KeyRing, Role, create_app, hash_token, new_token, problem_of

RULESET = "tests/server/ruleset.yaml"


def test_keys_are_kept_as_digests() -> None:
    """A key ring holds digests only, finds a key by its token, and refuses a wrong one."""
    token = new_token()
    ring = KeyRing.from_json(json.dumps([{"name": "p", "sha256": hash_token(token), "tenant": "t",
                                          "roles": ["platform", "auditor"]}]))
    key = ring.find(token)
    assert key is not None and key.roles == {Role.PLATFORM, Role.AUDITOR} and key.tenant == "t"
    assert ring.find(token + "x") is None and ring.find("") is None
    assert token not in repr(ring) and token not in repr(key) and key.digest == hash_token(token)
    assert hash_token(token).startswith("sha256:") and len(hash_token(token)) == 7 + 64


@pytest.mark.parametrize(("entry", "message"), [
    ({"sha256": "ab", "tenant": "t", "roles": ["platform"]}, "SHA-256 digest"),
    ({"sha256": "0" * 64, "tenant": "t", "roles": ["mayor"]}, "unknown role 'mayor'"),
    ({"sha256": "0" * 64, "tenant": "t", "roles": ["resident"]}, "must name its subject"),
    ({"sha256": "0" * 64, "tenant": "t", "roles": ["staff"], "subject": "r-1"}, "resident-only"),
    ({"sha256": "0" * 64, "roles": ["staff"]}, "missing 'tenant'"),
    ({"sha256": "0" * 64, "tenant": "t", "roles": ["staff"], "token": "x"}, "unknown field(s) token"),
])
def test_bad_key_configuration_names_the_entry(entry: dict[str, Any], message: str) -> None:
    """A bad key entry is refused with its position and what is wrong."""
    with pytest.raises(ValueError, match=r"keys\.json\[1\]") as caught:
        KeyRing.from_json(json.dumps([{"sha256": "1" * 64, "tenant": "t", "roles": ["staff"]}, entry]),
                          source="keys.json")
    assert message in str(caught.value)


def test_keys_from_the_environment() -> None:
    """GRIDPOINTS_API_KEYS holds the same JSON; unset means no keys."""
    text = json.dumps([{"sha256": hash_token("a"), "tenant": "t", "roles": ["staff"]}])
    assert KeyRing.from_environment({"GRIDPOINTS_API_KEYS": text}).find("a") is not None
    assert KeyRing.from_environment({}).keys == ()


def _errors() -> list[type[errors.GridpointsError]]:
    return [obj for _, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, errors.GridpointsError)]


def _instance(cls: type[errors.GridpointsError]) -> errors.GridpointsError:
    if issubclass(cls, errors.UnknownEventType):
        return cls("patrl", event_id="e", known=["patrol"], index=2)  # type: ignore[call-arg]
    if issubclass(cls, errors.EventError):
        return cls("bad", field="attributes.hours", event_id="e", index=2)  # type: ignore[call-arg]
    if issubclass(cls, errors.IdempotencyConflict):
        return cls("e", stored="a" * 64, received="b" * 64)
    if issubclass(cls, errors.RedemptionRefused):
        return cls("out_of_stock", "none left", item="soap", subject="r")
    if issubclass(cls, errors.CorrectionRefused):
        return cls("cap_reached", "over the cap", subject="r")
    if issubclass(cls, errors.RulesetError):
        return cls([errors.Issue("rules[0].points", "expected an integer", "x.yaml", 4, 7)])
    if issubclass(cls, errors.MissingExtra):
        return cls("server", "the service")
    if issubclass(cls, errors.UpgradeRefused):
        return cls("r@1", "r@2", ["pending e1: an award waits for verification"])
    if issubclass(cls, errors.VersionMissing):
        return cls("r@1", "e1", ["r@2"])
    if issubclass(cls, errors.SealKeyMismatch):
        return cls("other_key", tenant="t", seq=3)
    return cls("it broke")


@pytest.mark.parametrize("cls", _errors(), ids=lambda c: c.__name__)
def test_every_error_maps_to_one_status_with_both_languages(cls: type[errors.GridpointsError]) -> None:
    """Each gridpoints error has one status and a problem body in zh and en; store failures are 5xx, never a
    business (4xx) rejection, and a serialization failure says to retry."""
    problem = problem_of(_instance(cls), batch=True, batch_ids=["x", "e"])
    zh = problem.body("zh", instance="/x", request_id="r")
    en = problem.body("en", instance="/x", request_id="r")
    assert zh["status"] == en["status"] == PROBLEMS[zh["code"]].status
    assert zh["title"] != en["title"] and zh["detail"] and en["detail"]
    if issubclass(cls, errors.StoreError):
        assert zh["status"] >= 500
    if issubclass(cls, SerializationFailure):
        assert zh["status"] == 503 and problem.headers == {"Retry-After": "1"}
    if issubclass(cls, errors.EventError):
        assert zh["location"].startswith("events[2].")
    if issubclass(cls, errors.IdempotencyConflict):
        assert zh["location"] == "events[1].id"
        assert (zh["stored_fingerprint"], zh["received_fingerprint"]) == ("a" * 64, "b" * 64)


class _Conflicting(MemoryStore):
    """A memory store whose first ``failures`` write transactions fail as a database serialization conflict
    does (the engine must retry them without the caller seeing it)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    @contextlib.contextmanager
    def transaction(self, tenant: str, **locks: Any) -> Iterator[Any]:  # type: ignore[override]
        if self.failures:
            self.failures -= 1
            raise SerializationFailure("could not serialize access due to concurrent update")
        with super().transaction(tenant, **locks) as txn:
            yield txn


def _request(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await client.request(method, path, **kwargs)
    return asyncio.run(go())


def _app(store: MemoryStore, max_retries: int = 8) -> Any:
    engine = gridpoints.Engine(gridpoints.load_ruleset(RULESET), store=store, tenant="t", max_retries=max_retries)
    return create_app(engine, keys=KeyRing((ApiKey.for_token("p", "tok", tenant="t", roles=["platform"]),)))


EVENT = {"id": "e-1", "type": "patrol", "subject": "r-1", "grid": "g", "occurred_at": "2026-04-01T10:00:00+08:00",
         "attributes": {"hours": 1}}
AUTH = {"Authorization": "Bearer tok"}


def test_a_retried_conflict_is_invisible_and_counted() -> None:
    """Two serialization conflicts retried inside the engine: the caller gets the decision; metrics count 2."""
    app = _app(_Conflicting(2))
    response = _request(app, "POST", "/v1/t/events", json=EVENT, headers=AUTH)
    assert response.status_code == 200 and response.json()["points"] == 10
    metrics = _request(app, "GET", "/metrics").text
    assert "gridpoints_serialization_retries_total 2.0" in metrics
    assert 'gridpoints_store_errors_total{code="retry-later"}' not in metrics


def test_a_conflict_outliving_the_retries_is_503_not_a_rejection() -> None:
    """When the retries run out the answer is 503 retry-later with Retry-After; nothing was written."""
    store = _Conflicting(5)
    app = _app(store, max_retries=3)
    response = _request(app, "POST", "/v1/t/events", json=EVENT, headers=AUTH)
    assert response.status_code == 503 and response.json()["code"] == "retry-later"
    assert response.headers["retry-after"] == "1"
    assert store.find_event("t", "e-1") is None
    metrics = _request(app, "GET", "/metrics").text
    assert 'gridpoints_store_errors_total{code="retry-later"} 1.0' in metrics
    assert 'gridpoints_events_total{outcome="failed"} 1.0' in metrics


def test_create_app_checks_tenants() -> None:
    """An engine listed under another tenant's name is refused."""
    engine = gridpoints.Engine(gridpoints.load_ruleset(RULESET), tenant="a")
    with pytest.raises(ValueError, match="bound to tenant 'a'"):
        create_app({"b": engine}, keys=KeyRing(()))


def test_unknown_tenant_with_a_key_for_it_is_404() -> None:
    """A key for a tenant the service does not serve gets 404, not the other tenant's data."""
    engine = gridpoints.Engine(gridpoints.load_ruleset(RULESET), tenant="t")
    app = create_app(engine, keys=KeyRing((ApiKey.for_token("x", "tok", tenant="u", roles=["platform"]),)))
    response = _request(app, "GET", "/v1/u/ruleset", headers=AUTH)
    assert response.status_code == 404 and response.json()["location"] == "path:tenant"


def test_notices_of_an_engine_without_an_outbox_are_404_in_both_languages() -> None:
    """An engine made without notify=True writes no notices: the feed and the acknowledgement say so."""
    engine = gridpoints.Engine(gridpoints.load_ruleset(RULESET), tenant="t")
    app = create_app(engine, keys=KeyRing((ApiKey.for_token("x", "tok", tenant="t", roles=["platform"]),)))
    for method, path, body in (("GET", "/v1/t/notices", None), ("POST", "/v1/t/notices/acknowledge", {"cursor": 1})):
        zh = _request(app, method, path, json=body, headers=AUTH)
        en = _request(app, method, path, json=body, headers={**AUTH, "Accept-Language": "en"})
        assert zh.status_code == en.status_code == 404 and zh.json()["code"] == "not-found"
        assert "--notify" in zh.json()["detail"] and zh.json()["detail"].startswith("本服务不写通知")
        assert en.json()["detail"].startswith("this service writes no notices")
    notifying = gridpoints.Engine(gridpoints.load_ruleset(RULESET), tenant="t", notify=True)
    app = create_app(notifying, keys=KeyRing((ApiKey.for_token("x", "tok", tenant="t", roles=["platform"]),)))
    assert _request(app, "POST", "/v1/t/events", json=EVENT, headers=AUTH).status_code == 200
    feed = _request(app, "GET", "/v1/t/notices", headers=AUTH).json()
    assert [n["kind"] for n in feed["notices"]] == ["points_awarded"] and feed["next_after"] == 1


def test_serve_refuses_a_bad_keys_file(tmp_path: Any) -> None:
    """gridpoints serve names the keys file's problem and exits 1 before serving anything."""
    from click.testing import CliRunner

    from gridpoints.cli import command

    keys = tmp_path / "keys.json"
    keys.write_text('[{"sha256": "short", "tenant": "t", "roles": ["platform"]}]', encoding="utf-8")
    result = CliRunner().invoke(command(), ["serve", RULESET, "--store", "memory:", "--keys", str(keys)])
    assert result.exit_code == 1 and "keys.json[0]" in result.output and "SHA-256" in result.output


def test_a_pseudonymising_engine_still_serves_a_resident_their_own_data(caplog: pytest.LogCaptureFixture) -> None:
    """With the engine pseudonymising subjects, a resident key (raw id) reads its own decision and balance,
    not another's, and the log names the subject by the engine's pseudonym only."""
    from gridpoints import Pseudonymiser

    pseudonymiser = Pseudonymiser(b"k" * 32)
    engine = gridpoints.Engine(gridpoints.load_ruleset(RULESET), tenant="t", pseudonymiser=pseudonymiser)
    keys = KeyRing((ApiKey.for_token("p", "tok", tenant="t", roles=["platform"]),
                    ApiKey.for_token("r", "res", tenant="t", roles=["resident"], subject="r-1")))
    app = create_app(engine, keys=keys)
    resident = {"Authorization": "Bearer res"}
    with caplog.at_level("INFO", logger="gridpoints.server"):
        assert _request(app, "POST", "/v1/t/events", json=EVENT, headers=AUTH).status_code == 200
        other = {**EVENT, "id": "e-2", "subject": "r-2"}
        assert _request(app, "POST", "/v1/t/events", json=other, headers=AUTH).status_code == 200
        own = _request(app, "GET", "/v1/t/events/e-1", headers=resident)
        assert own.status_code == 200 and own.json()["decision"]["subject"] == pseudonymiser.subject("r-1")
        assert _request(app, "GET", "/v1/t/events/e-2", headers=resident).status_code == 404
        assert _request(app, "GET", "/v1/t/subjects/r-1/balance", headers=resident).json()["balance"] == 10
    subjects = {getattr(record, "subject", None) for record in caplog.records} - {None}
    assert subjects == {pseudonymiser.subject("r-1"), pseudonymiser.subject("r-2")}


def test_verify_uses_the_tenants_sealing_key() -> None:
    """A keyed ledger verifies with the sealing key the app was given, and not without it."""
    seal = b"s" * 32
    keys = KeyRing((ApiKey.for_token("p", "tok", tenant="t", roles=["platform", "auditor"]),))

    def served(seal_keys: dict[str, bytes]) -> Any:
        engine = gridpoints.Engine(gridpoints.load_ruleset(RULESET), store=store, tenant="t", seal_key=seal)
        return create_app(engine, keys=keys, seal_keys=seal_keys)

    store = MemoryStore()
    assert _request(served({"t": seal}), "POST", "/v1/t/events", json=EVENT, headers=AUTH).status_code == 200
    keyed = _request(served({"t": seal}), "GET", "/v1/t/verify", headers=AUTH).json()
    assert keyed["ok"] and "keyed chain" in keyed["summary"]
    assert not _request(served({}), "GET", "/v1/t/verify", headers=AUTH).json()["ok"]
