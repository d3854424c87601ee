"""The HTTP service: an ASGI app (FastAPI) over one engine per tenant.

Every operation is under ``/v1/{tenant}/…`` and needs a key (``Authorization: Bearer <token>`` or
``X-API-Key: <token>``) bound to that tenant and holding one of the operation's roles; the OpenAPI
document lists them per operation (``x-gridpoints-roles``). A request outside its tenant or roles is
``403`` and logged. Errors are problem details (:mod:`._problems`). The engine is the only way in: the
service calls :class:`~gridpoints.Engine`'s public methods, :func:`gridpoints.lint`,
:func:`gridpoints.audit.verify` and the fairness kit, and adds nothing to what they decide.

Idempotency: a submitted event is keyed by its id, a redemption by its request id. A retry with the same
body is answered with the original decision and the same status (``Idempotent-Replayed: true`` says it
was a retry, and its ``entries`` are empty: the retry wrote nothing); a different body under the same key is
``409`` with both fingerprints.
"""

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

import gridpoints
from gridpoints.audit import verify as verify_ledger
from gridpoints.calendar import local_date, window_id, window_kind
from gridpoints.engine import CloseReport, Engine, ResidentStanding, Statement, WorkerView
from gridpoints.errors import GridpointsError, StoreError
from gridpoints.model import Anchor, Decision, Entry, Notice
from gridpoints.privacy import Pseudonymiser
from gridpoints.server._keys import ApiKey, KeyRing, Role
from gridpoints.server._ops import LOGGER, Metrics, RetryWatch
from gridpoints.server._problems import Lang, Problem, Refusal, problem_of

__all__ = ["OPERATIONS", "Principal", "app_from_environment", "create_app", "decision_json", "open_store",
           "read_registry"]

PLATFORM, STAFF, AUDITOR, RESIDENT = Role.PLATFORM, Role.STAFF, Role.AUDITOR, Role.RESIDENT

#: Who may call each operation (by operation id). A resident reads only their own subject's data.
OPERATIONS: dict[str, tuple[Role, ...]] = {
    "submit_event": (PLATFORM,),
    "submit_batch": (PLATFORM,),
    "get_decision": (PLATFORM, STAFF, AUDITOR, RESIDENT),
    "get_balance": (PLATFORM, STAFF, AUDITOR, RESIDENT),
    "get_history": (PLATFORM, STAFF, AUDITOR, RESIDENT),
    "get_statement": (PLATFORM, STAFF, AUDITOR, RESIDENT),
    "get_standing": (PLATFORM, STAFF, AUDITOR, RESIDENT),
    "get_worker_view": (PLATFORM, STAFF),
    "list_notices": (PLATFORM,),
    "acknowledge_notices": (PLATFORM,),
    "get_leaderboard": (PLATFORM, STAFF, AUDITOR),
    "redeem": (PLATFORM,),
    "fulfil_redemption": (PLATFORM, STAFF),
    "cancel_redemption": (PLATFORM, STAFF),
    "correct_event": (STAFF,),
    "adjust_balance": (STAFF,),
    "close_period": (STAFF,),
    "get_ruleset": (PLATFORM, STAFF, AUDITOR),
    "lint_ruleset": (STAFF,),
    "check_ruleset": (STAFF,),
    "verify_ledger": (STAFF, AUDITOR),
}

MAX_BATCH = 5000
MAX_PAGE = 1000
MAX_CHECK_EXAMPLES = 500
PROBLEM_JSON = "application/problem+json"


# -- request and response bodies ---------------------------------------------------------------------------


class EventBody(BaseModel):
    """An event as the engine takes it (see the DSL reference); the engine checks it against the ruleset."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, description="Idempotency key within the tenant")
    type: str = Field(min_length=1)
    subject: str = Field(min_length=1)
    grid: str = Field(min_length=1)
    occurred_at: str = Field(description="ISO 8601 with a UTC offset, e.g. 2026-04-01T19:00:00+08:00")
    attributes: dict[str, Any] = Field(default_factory=dict)
    household: str | None = None
    community: str | None = None
    actor: str | None = None

    def raw(self) -> dict[str, Any]:
        data = {"id": self.id, "type": self.type, "subject": self.subject, "grid": self.grid,
                "occurred_at": self.occurred_at, "attributes": self.attributes}
        for name in ("household", "community", "actor"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data


class BatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[EventBody] = Field(min_length=1, max_length=MAX_BATCH)


class RedeemBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=1)
    item: str = Field(min_length=1)
    request_id: str = Field(min_length=1, description="Idempotency key of the redemption")
    at: AwareDatetime


class AtBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime


class CorrectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, description="Why, kept with the correction and explained")
    actor: str = Field(min_length=1, description="The staff member (a registered subject with a role the ruleset "
                                                  "names for corrections, default staff)")
    at: AwareDatetime


class AdjustBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=1)
    points: int = Field(description="Positive credits, negative debits (stops at the floor)")
    reason: str = Field(min_length=1)
    actor: str = Field(min_length=1, description="The staff member, as for a correction")
    at: AwareDatetime
    request_id: str = Field(min_length=1, description="Idempotency key of the adjustment")


class AcknowledgeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cursor: int = Field(ge=0, description="The cursor of the last notice sent (every notice up to it is delivered)")


class CloseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    now: AwareDatetime


class LintBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ruleset: str = Field(description="The YAML text of a (draft) ruleset")


class CheckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    examples: int = Field(50, ge=1, le=MAX_CHECK_EXAMPLES)
    seed: int | None = None


# -- who is calling -------------------------------------------------------------------------------------------


class Principal:
    """The caller of one request: its key, and the tenant's engine."""

    __slots__ = ("engine", "key")

    def __init__(self, key: ApiKey, engine: Engine) -> None:
        self.key = key
        self.engine = engine

    def own(self, subject: str) -> None:
        """A resident may read only their own subject."""
        if self.key.roles == {RESIDENT} and subject != self.key.subject:
            raise Refusal(Problem.of("forbidden", "居民只能查看本人的数据", "a resident may read only their own data",
                                     location="subject"))


def _lang(request: Request) -> Lang:
    asked = request.query_params.get("lang")
    if asked in ("zh", "en"):
        return "en" if asked == "en" else "zh"
    accept = request.headers.get("accept-language", "").strip().lower()
    return "en" if accept.startswith("en") else "zh"


def _state(request: Request) -> dict[str, Any]:
    state: dict[str, Any] = request.scope.setdefault("gridpoints", {})
    return state


class _Service:
    """What the routes share: the engines, keys, metrics, the log pseudonymiser, the shutdown flag."""

    def __init__(self, engines: Mapping[str, Engine], keys: KeyRing, log_pseudonymiser: Pseudonymiser,
                 seal_keys: Mapping[str, bytes]) -> None:
        self.engines = engines
        self.seal_keys = seal_keys
        self.keys = keys
        self.metrics = Metrics()
        self.retry_watch = RetryWatch(self.metrics)
        self.log_pseudonymiser = log_pseudonymiser
        self.stopping = False
        self.check_lock = threading.Lock()

    def pseudonym(self, tenant: str | None, subject: str) -> str:
        engine = self.engines.get(tenant) if tenant is not None else None
        if engine is not None and engine.pseudonymiser is not None:
            return engine.pseudonymiser.subject(subject)
        return self.log_pseudonymiser.subject(subject)

    def stored_subject(self, engine: Engine, subject: str) -> str:
        """A raw subject id as the engine stores it (its pseudonym, if the engine pseudonymises)."""
        return engine.pseudonymiser.subject(subject) if engine.pseudonymiser is not None else subject


_bearer = HTTPBearer(auto_error=False, scheme_name="bearer", description="Authorization: Bearer <token>")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey")


def _guard(service: _Service, operation: str) -> Callable[..., Principal]:
    roles = OPERATIONS[operation]

    def dependency(
        request: Request,
        tenant: Annotated[str, Path(description="The tenant the key is bound to")],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        header: Annotated[str | None, Depends(_api_key)],
    ) -> Principal:
        state = _state(request)
        state["operation"] = operation
        state["tenant"] = tenant
        token = bearer.credentials if bearer is not None else header
        key = service.keys.find(token) if token else None
        if key is None:
            LOGGER.warning("unauthenticated", extra={"request_id": state.get("request_id"), "operation": operation,
                                                     "tenant": tenant, "presented": bool(token)})
            raise Refusal(Problem.of("unauthenticated", "缺少或无效的访问密钥", "missing or unknown API key",
                                     location="header:Authorization"))
        state["key"] = key.name
        state["roles"] = sorted(key.roles)
        if key.tenant != tenant:
            _forbidden(state, key, operation, tenant, "tenant")
            raise Refusal(Problem.of("forbidden", f"该密钥不属于租户 {tenant!r}",
                                     f"the key is not bound to tenant {tenant!r}", location="path:tenant"))
        if not key.roles & set(roles):
            _forbidden(state, key, operation, tenant, "role")
            allowed = ", ".join(roles)
            raise Refusal(Problem.of("forbidden", f"该操作需要以下角色之一：{allowed}",
                                     f"this operation needs one of the roles: {allowed}", location="roles",
                                     roles=list(roles)))
        engine = service.engines.get(tenant)
        if engine is None:
            raise Refusal(Problem.of("not-found", f"本服务不服务租户 {tenant!r}",
                                     f"tenant {tenant!r} is not served here", location="path:tenant"))
        return Principal(key, engine)

    return dependency


def _forbidden(state: dict[str, Any], key: ApiKey, operation: str, tenant: str, why: str) -> None:
    LOGGER.warning("forbidden", extra={"request_id": state.get("request_id"), "operation": operation,
                                       "tenant": tenant, "key": key.name, "key_tenant": key.tenant,
                                       "roles": sorted(key.roles), "reason": why})


# -- rendering ------------------------------------------------------------------------------------------------


def decision_json(decision: Decision) -> dict[str, Any]:
    return {"event_id": decision.event_id, "subject": decision.subject, "points": decision.points,
            "duplicate": decision.duplicate, "entries": [entry.to_dict() for entry in decision.entries],
            "trace": decision.trace.to_dict()}


def _close_json(report: CloseReport) -> dict[str, Any]:
    return {
        "window": report.window,
        "base": [decision_json(d) for d in report.base],
        "challenges": {cid: [_standing(s) for s in standings] for cid, standings in report.challenges.items()},
        "allocations": {item: list(subjects) for item, subjects in report.allocations.items()},
        "expired_points": [decision_json(d) for d in report.expired_points],
        "repairs_expired": [decision_json(d) for d in report.repairs_expired],
        "holds_expired": [decision_json(d) for d in report.holds_expired],
        "pending_expired": [decision_json(d) for d in report.pending_expired],
    }


def _standing(standing: gridpoints.Standing) -> dict[str, Any]:
    return {"rank": standing.rank, "subject": standing.subject, "grid": standing.grid, "earned": standing.earned}


def _statement_json(subject: str, statement: Statement) -> dict[str, Any]:
    return {"subject": subject, "window": statement.window, "opening": statement.opening,
            "credits": statement.credits, "debits": statement.debits, "closing": statement.closing,
            "pending": statement.pending, "held": statement.held, "earned": statement.earned,
            "entries": [e.to_dict() for e in statement.entries]}


def _resident_standing_json(subject: str, standing: ResidentStanding) -> dict[str, Any]:
    return {"subject": subject, "window": standing.window, "scope": standing.scope, "grid": standing.grid,
            "rank": standing.rank, "ranked": standing.ranked, "earned": standing.earned,
            "to_next_rank": standing.to_next_rank, "tier": standing.tier, "next_tier": standing.next_tier,
            "to_next_tier": standing.to_next_tier, "tier_blocked": standing.tier_blocked}


def _worker_view_json(view: WorkerView) -> dict[str, Any]:
    return {"grid": view.grid, "now": view.now, "window": view.window,
            "verifications": [{"event_id": v.event_id, "subject": v.subject, "points": v.points,
                               "deadline": v.deadline} for v in view.verifications],
            "repairs_due": [{"event_id": r.event_id, "subject": r.subject, "repair": r.repair,
                             "remaining": str(r.remaining), "deadline": r.deadline} for r in view.repairs_due],
            "visits": list(view.visits)}


def _notice_json(notice: Notice) -> dict[str, Any]:
    return {"cursor": notice.cursor, "kind": notice.kind.value, "subject": notice.subject,
            "event_id": notice.event_id, "at": notice.at, "points": notice.points, "details": dict(notice.details),
            "text": {"zh": notice.text("zh"), "en": notice.text("en")}}


def _replayed(decisions: Iterable[Decision]) -> dict[str, str]:
    return {"Idempotent-Replayed": "true" if all(d.duplicate for d in decisions) else "false"}


def _window(window: str) -> str:
    try:
        return window_kind(window)
    except ValueError as exc:
        raise Refusal(Problem.of("invalid-window", f"{window!r} 不是窗口编号（例如 2026-04-01、2026-W14、2026-04）",
                                 str(exc), location="window")) from None


def _doc(summary: str, operation: str, description: str = "") -> dict[str, Any]:
    roles = OPERATIONS[operation]
    text = f"{description}\n\nRoles: {', '.join(roles)}." if description else f"Roles: {', '.join(roles)}."
    return {"operation_id": operation, "name": operation, "summary": summary, "description": text.strip(),
            "openapi_extra": {"x-gridpoints-roles": [r.value for r in roles]}}


def _problem_response(request: Request, problem: Problem) -> JSONResponse:
    state = _state(request)
    body = problem.body(_lang(request), instance=request.url.path, request_id=state.get("request_id", ""))
    state["code"] = problem.kind.code
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers)


# -- the app ------------------------------------------------------------------------------------------------------


def create_app(
    engines: Engine | Mapping[str, Engine], *, keys: KeyRing, log_pseudonymiser: Pseudonymiser | None = None,
    close_stores: bool = False, title: str = "gridpoints", seal_keys: Mapping[str, bytes] | None = None,
) -> FastAPI:
    """The service over ``engines`` (one, or one per tenant keyed by its tenant), admitting ``keys``.

    ``log_pseudonymiser`` pseudonymises subjects in the logs of a tenant whose engine has no pseudonymiser
    of its own (a random per-process key if not given, so log lines link within one run only).
    ``close_stores``: close each engine's store when the app shuts down (after in-flight requests end).
    ``seal_keys``: each keyed tenant's sealing key (the one its engine seals with), for ``verify``.
    Mount the result in a host's ASGI app, or serve it with uvicorn (``gridpoints serve``).
    """
    table = {engines.tenant: engines} if isinstance(engines, Engine) else dict(engines)
    for tenant, engine in table.items():
        if engine.tenant != tenant:
            raise ValueError(f"engine for tenant {tenant!r} is bound to tenant {engine.tenant!r}")
    service = _Service(table, keys, log_pseudonymiser or Pseudonymiser(os.urandom(32)), dict(seal_keys or {}))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        LOGGER.info("started", extra={"tenants": sorted(table), "keys": len(keys.keys)})
        yield
        # uvicorn runs this after the in-flight requests have finished (or its graceful timeout passed).
        service.stopping = True
        if close_stores:
            for store in {id(e.store): e.store for e in table.values()}.values():
                store.close()
        LOGGER.info("stopped")

    app = FastAPI(title=title, version=gridpoints.__version__, lifespan=lifespan,
                  description="Community grid points (网格积分制) as an HTTP service. See docs/service.md.")
    app.state.gridpoints = service
    _install_handlers(app, service)
    _install_routes(app, service)
    app.add_middleware(_RequestLog, service=service)
    return app


def _install_handlers(app: FastAPI, service: _Service) -> None:
    @app.exception_handler(Refusal)
    async def refused(request: Request, exc: Refusal) -> Response:
        return _problem_response(request, exc.problem)

    @app.exception_handler(GridpointsError)
    async def gridpoints_error(request: Request, exc: GridpointsError) -> Response:
        state = _state(request)
        problem = problem_of(exc, batch=state.get("batch_ids") is not None, batch_ids=state.get("batch_ids"))
        submitted = state.get("submitted", 0)
        if submitted:
            service.metrics.events.labels("failed" if problem.status >= 500 else "rejected").inc(submitted)
        if isinstance(exc, StoreError):
            service.metrics.store_errors.labels(problem.kind.code).inc()
            LOGGER.error("store error", extra={"request_id": state.get("request_id"), "code": problem.kind.code,
                                               "error": type(exc).__name__})
        return _problem_response(request, problem)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        place = _place(first.get("loc", ()))
        message = str(first.get("msg", "invalid request"))
        problem = Problem.of("invalid-request", f"请求格式无效：{place}：{message}", f"{place}: {message}",
                             location=place, errors=[{"location": _place(e.get("loc", ())), "message": e.get("msg")}
                                                     for e in errors[:20]])
        return _problem_response(request, problem)


def _place(loc: Iterable[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        source, parts = parts[0], parts[1:]
    else:
        source = "body"
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text if source == "body" else f"{source}:{text}"


def _install_routes(app: FastAPI, service: _Service) -> None:
    def guard(operation: str) -> Any:
        return Depends(_guard(service, operation))

    def observed(engine: Engine) -> None:
        service.retry_watch.observe(id(engine), engine.retries)

    Lng = Annotated[Literal["zh", "en"] | None,
                    Query(description="Language of texts (default: Accept-Language, else zh)")]

    @app.post("/v1/{tenant}/events", **_doc("Submit one event", "submit_event",
              "Idempotent by event id: a retry with the same body returns the original decision with the same "
              "status; a different body under the same id is 409 with both fingerprints."))
    def submit_event(request: Request, event: EventBody, who: Annotated[Principal, guard("submit_event")]) -> Response:
        state = _state(request)
        state["subject"] = event.subject
        state["submitted"] = 1
        try:
            decision = who.engine.submit(event.raw())
        finally:
            observed(who.engine)
        service.metrics.decided([(decision.points, decision.duplicate)])
        return JSONResponse(decision_json(decision), headers=_replayed([decision]))

    @app.post("/v1/{tenant}/events/batch", **_doc("Submit a batch of events", "submit_batch",
              f"All or nothing, in one transaction; at most {MAX_BATCH} events. Each event is idempotent by id."))
    def submit_batch(request: Request, batch: BatchBody, who: Annotated[Principal, guard("submit_batch")]) -> Response:
        state = _state(request)
        state["batch_ids"] = [e.id for e in batch.events]
        state["submitted"] = len(batch.events)
        try:
            decisions = who.engine.submit_many([e.raw() for e in batch.events])
        finally:
            observed(who.engine)
        service.metrics.decided((d.points, d.duplicate) for d in decisions)
        return JSONResponse({"decisions": [decision_json(d) for d in decisions]}, headers=_replayed(decisions))

    @app.get("/v1/{tenant}/events/{event_id}", **_doc("A recorded decision and its explanation", "get_decision"))
    def get_decision(request: Request, who: Annotated[Principal, guard("get_decision")], event_id: str,
                     lang: Lng = None) -> Response:
        decision = who.engine.decision(event_id)
        resident = who.key.subject
        if (decision is not None and resident is not None
                and decision.subject != service.stored_subject(who.engine, resident)):
            decision = None  # another resident's event: answered as unknown, so ids cannot be probed
        if decision is None:
            raise Refusal(Problem.of("not-found", f"没有记录编号为 {event_id!r} 的事件",
                                     f"no recorded event {event_id!r}", location="path:event_id"))
        if resident is not None:
            _state(request)["subject"] = resident
        text_lang: Lang = lang or _lang(request)
        return JSONResponse({"decision": decision_json(decision), "explanation": decision.explain(text_lang),
                             "lang": text_lang})

    @app.get("/v1/{tenant}/subjects/{subject}/balance", **_doc("A subject's spendable balance", "get_balance"))
    def get_balance(request: Request, subject: str, who: Annotated[Principal, guard("get_balance")]) -> Response:
        _state(request)["subject"] = subject
        who.own(subject)
        return JSONResponse({"subject": subject, "balance": who.engine.balance(subject)})

    @app.get("/v1/{tenant}/subjects/{subject}/history", **_doc("A subject's ledger entries, paged", "get_history",
             "Entries oldest first, optionally only those in one window (local time of the ruleset): "
             "2026-04-01, 2026-W14, 2026-04, 2026-Q2 or 2026. Page with after_seq = the last page's next_after_seq."))
    def get_history(request: Request, who: Annotated[Principal, guard("get_history")], subject: str,
                    window: Annotated[str | None, Query()] = None, after_seq: Annotated[int, Query(ge=0)] = 0,
                    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> Response:
        _state(request)["subject"] = subject
        who.own(subject)
        kind = _window(window) if window is not None else None
        zone = who.engine.policy.zone
        page: list[Entry] = []
        more = False
        for entry in who.engine.history(subject):
            if entry.seq <= after_seq:
                continue
            if kind is not None and window_id(kind, local_date(datetime.fromisoformat(entry.occurred_at), zone)) \
                    != window:
                continue
            if len(page) == limit:
                more = True
                break
            page.append(entry)
        return JSONResponse({"subject": subject, "window": window, "entries": [e.to_dict() for e in page],
                             "next_after_seq": page[-1].seq if more else None})

    @app.get("/v1/{tenant}/subjects/{subject}/statement", **_doc("A subject's statement (积分对账单) for a window",
             "get_statement", "Opening and closing spendable balance, credits and debits, the entries that occurred "
             "in the window (local time of the ruleset), what stood pending verification and held at its end, "
             "and the points earned in it: the engine's Engine.statement."))
    def get_statement(request: Request, subject: str, who: Annotated[Principal, guard("get_statement")],
                      window: Annotated[str, Query(description="2026-04-01, 2026-W14, 2026-04, 2026-Q2 or 2026")]
                      ) -> Response:
        _state(request)["subject"] = subject
        who.own(subject)
        _window(window)
        return JSONResponse(_statement_json(subject, who.engine.statement(subject, window)))

    @app.get("/v1/{tenant}/subjects/{subject}/standing", **_doc("A subject's rank and 社区信用 tier in a window",
             "get_standing", "The rank by points earned (as leaderboards rank, community-wide or in the subject's "
             "grid), the points to pass the one above, and the tier at `at` (default: the window's end) with the "
             "earned points still missing for the next one: the engine's Engine.standing."))
    def get_standing(request: Request, subject: str, who: Annotated[Principal, guard("get_standing")],
                     window: Annotated[str, Query(description="2026-04-01, 2026-W14, 2026-04, 2026-Q2 or 2026")],
                     scope: Annotated[Literal["community", "grid"], Query()] = "community",
                     at: Annotated[AwareDatetime | None, Query()] = None) -> Response:
        _state(request)["subject"] = subject
        who.own(subject)
        _window(window)
        return JSONResponse(_resident_standing_json(subject, who.engine.standing(subject, window, scope=scope,
                                                                                 at=at)))

    @app.get("/v1/{tenant}/grids/{grid}/worker-view", **_doc("A grid worker's to-do list", "get_worker_view",
             "Open verifications of the grid's events, repairs under way of its residents and the residents to "
             "visit (主动上门: holding one of visit_tag, default elderly, and having earned at most "
             "visit_max_earned in window, default the month of now): the engine's Engine.worker_view. "
             "Staff and platform only: a key's roles are per tenant, not per grid, and grid workers act with "
             "staff keys (as for fulfilling redemptions); the platform fetches it for the worker signed in to "
             "its app. Not auditors (an operational list naming residents, not the ledger) nor residents."))
    def get_worker_view(grid: str, who: Annotated[Principal, guard("get_worker_view")],
                        now: Annotated[AwareDatetime, Query(description="The moment the list is for")],
                        window: Annotated[str | None, Query()] = None,
                        visit_tag: Annotated[list[str] | None, Query(description="Repeat for several tags")] = None,
                        visit_max_earned: Annotated[int, Query(ge=0)] = 0) -> Response:
        if window is not None:
            _window(window)
        view = who.engine.worker_view(grid, now=now, window=window, visit_max_earned=visit_max_earned,
                                      visit_tags=tuple(visit_tag) if visit_tag else ("elderly",))
        return JSONResponse(_worker_view_json(view))

    def outbox(engine: Engine) -> Engine:
        if not engine.notify:
            raise Refusal(Problem.of("not-found", "本服务不写通知（以 gridpoints serve --notify 启动）",
                                     "this service writes no notices (serve with gridpoints serve --notify)",
                                     location="path:tenant"))
        return engine

    @app.get("/v1/{tenant}/notices", **_doc("Notices to send, from the outbox", "list_notices",
             "Notices after `after` (default: after the last acknowledged) in cursor order, each with its text in "
             "zh and en. Reading moves nothing: acknowledge the last one sent. Page with after = next_after (the "
             "given after, or null, when there is nothing new)."))
    def list_notices(who: Annotated[Principal, guard("list_notices")],
                     after: Annotated[int | None, Query(ge=0)] = None,
                     limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> Response:
        notices = outbox(who.engine).notices(after=after, limit=limit)
        return JSONResponse({"notices": [_notice_json(n) for n in notices],
                             "next_after": notices[-1].cursor if notices else after})

    @app.post("/v1/{tenant}/notices/acknowledge", **_doc("Acknowledge the notices sent", "acknowledge_notices",
              "Every notice up to cursor is delivered; idempotent, and the acknowledged cursor never moves back "
              "(nor past the last notice). Answers the acknowledged cursor."))
    def acknowledge_notices(body: AcknowledgeBody,
                            who: Annotated[Principal, guard("acknowledge_notices")]) -> Response:
        return JSONResponse({"acknowledged": outbox(who.engine).acknowledge(body.cursor)})

    @app.get("/v1/{tenant}/leaderboards/{window}", **_doc("Ranking by points earned in a window", "get_leaderboard"))
    def get_leaderboard(who: Annotated[Principal, guard("get_leaderboard")], window: str,
                        scope: Annotated[Literal["community", "grid"], Query()] = "community",
                        grid: Annotated[str | None, Query()] = None,
                        top: Annotated[int, Query(ge=1, le=100)] = 10) -> Response:
        _window(window)
        if scope == "grid" and grid is None:
            raise Refusal(Problem.of("invalid-request", "按网格排名需要 grid 参数", "scope=grid needs grid",
                                     location="query:grid"))
        standings = who.engine.leaderboard(window, scope=scope, grid=grid, top=top)
        return JSONResponse({"window": window, "scope": scope, "grid": grid,
                             "standings": [_standing(s) for s in standings]})

    @app.post("/v1/{tenant}/redemptions", **_doc("Redeem an item of the points mall", "redeem",
              "Idempotent by request_id: a retry returns the original decision; another subject or item under "
              "the same request_id is 409."))
    def redeem(request: Request, body: RedeemBody, who: Annotated[Principal, guard("redeem")]) -> Response:
        _state(request)["subject"] = body.subject
        try:
            decision = who.engine.redeem(body.subject, body.item, body.request_id, at=body.at)
        finally:
            observed(who.engine)
        return JSONResponse(decision_json(decision), headers=_replayed([decision]))

    @app.post("/v1/{tenant}/redemptions/{request_id}/fulfil", **_doc("Fulfil a held redemption", "fulfil_redemption"))
    def fulfil_redemption(request_id: str, body: AtBody,
                          who: Annotated[Principal, guard("fulfil_redemption")]) -> Response:
        try:
            decision = who.engine.fulfil(request_id, at=body.at)
        finally:
            observed(who.engine)
        return JSONResponse(decision_json(decision), headers=_replayed([decision]))

    @app.post("/v1/{tenant}/redemptions/{request_id}/cancel", **_doc("Cancel a held redemption", "cancel_redemption"))
    def cancel_redemption(request_id: str, body: AtBody,
                          who: Annotated[Principal, guard("cancel_redemption")]) -> Response:
        try:
            decision = who.engine.cancel(request_id, at=body.at)
        finally:
            observed(who.engine)
        return JSONResponse(decision_json(decision), headers=_replayed([decision]))

    @app.post("/v1/{tenant}/events/{event_id}/correct", **_doc("Correct (冲正) a recorded event", "correct_event",
              "Reverses the event's entries (linked to them) and its counter increments, and leaves it out of "
              "rankings not yet closed. Idempotent by the event corrected."))
    def correct_event(request: Request, event_id: str, body: CorrectBody,
                      who: Annotated[Principal, guard("correct_event")]) -> Response:
        _state(request)["subject"] = body.actor
        try:
            decision = who.engine.correct(event_id, reason=body.reason, actor=body.actor, at=body.at)
        finally:
            observed(who.engine)
        return JSONResponse(decision_json(decision), headers=_replayed([decision]))

    @app.post("/v1/{tenant}/adjustments", **_doc("A staff adjustment (人工调整) of a balance", "adjust_balance",
              "Credits or debits a resident through the adjustments account. Idempotent by request_id."))
    def adjust_balance(request: Request, body: AdjustBody,
                       who: Annotated[Principal, guard("adjust_balance")]) -> Response:
        _state(request)["subject"] = body.subject
        try:
            decision = who.engine.adjust(body.subject, body.points, reason=body.reason, actor=body.actor,
                                         at=body.at, request_id=body.request_id)
        finally:
            observed(who.engine)
        return JSONResponse(decision_json(decision), headers=_replayed([decision]))

    @app.post("/v1/{tenant}/periods/{window}/close", **_doc("Close a calendar window", "close_period",
              "Scheduled base points, challenges, allocation, expiry and deadlines; idempotent per window."))
    def close_period(window: str, body: CloseBody, who: Annotated[Principal, guard("close_period")]) -> Response:
        _window(window)
        try:
            report = who.engine.close_period(window, now=body.now)
        finally:
            observed(who.engine)
        return JSONResponse(_close_json(report))

    @app.get("/v1/{tenant}/ruleset", **_doc("The ruleset this tenant is served under", "get_ruleset"))
    def get_ruleset(who: Annotated[Principal, guard("get_ruleset")]) -> Response:
        policy = who.engine.policy
        return JSONResponse({"id": policy.id, "version": policy.spec.version, "ref": policy.ref,
                             "name": policy.spec.name, "timezone": policy.spec.timezone})

    @app.post("/v1/{tenant}/ruleset/lint", **_doc("Lint a draft ruleset", "lint_ruleset",
              "Every diagnostic with its place, its message in the request's language and its stable "
              "message code; never an error for a bad ruleset."))
    def lint_ruleset(request: Request, body: LintBody, who: Annotated[Principal, guard("lint_ruleset")],
                     lang: Lng = None) -> Response:
        text_lang: Lang = lang or _lang(request)
        diagnostics = gridpoints.lint(body.ruleset)
        found = [{"severity": d.severity, "code": d.code, "location": d.issue.where(text_lang),
                  "path": d.issue.path, "line": d.issue.line, "column": d.issue.column,
                  "message": d.issue.text(text_lang), "message_code": d.issue.code,
                  "suggestion": d.issue.suggestion, "text": d.describe(text_lang)} for d in diagnostics]
        return JSONResponse({"errors": sum(d.severity == "error" for d in diagnostics),
                             "warnings": sum(d.severity == "warning" for d in diagnostics), "diagnostics": found,
                             "lang": text_lang})

    @app.post("/v1/{tenant}/ruleset/check", **_doc("Prove the served ruleset fair", "check_ruleset",
              f"The fairness kit's properties over generated event streams (at most {MAX_CHECK_EXAMPLES} each), "
              "each failure in the request's language with its message code; one check runs at a time."))
    def check_ruleset(request: Request, body: CheckBody, who: Annotated[Principal, guard("check_ruleset")],
                      lang: Lng = None) -> Response:
        text_lang: Lang = lang or _lang(request)
        try:
            from gridpoints.testing.fairness import check_ruleset as run_properties
            from gridpoints.testing.fairness import result_line
            from gridpoints.testing.properties import events_jsonl
        except ModuleNotFoundError as exc:
            raise gridpoints.MissingExtra("test", "checking a ruleset (hypothesis)") from exc
        with service.check_lock:
            results = run_properties(who.engine.policy, body.examples, seed=body.seed)
        return JSONResponse({
            "ruleset": who.engine.policy.ref, "passed": all(r.passed for r in results),
            "properties": [{"name": r.name, "examples": r.examples, "passed": r.passed,
                            "detail": r.violation.text(text_lang) if r.violation else None,
                            "message_code": r.violation.code if r.violation else None,
                            "text": result_line(r, text_lang).rstrip("\n"),
                            "counterexample": events_jsonl(r.violation.events) if r.violation else None}
                           for r in results], "lang": text_lang})

    @app.get("/v1/{tenant}/verify", **_doc("Audit the tenant's ledger", "verify_ledger",
             "Walks the hash chain and recomputes balances; with anchor=HASH@SEQ also detects truncation."))
    def verify(who: Annotated[Principal, guard("verify_ledger")],
               anchor: Annotated[str | None, Query(description="HASH@SEQ recorded earlier")] = None) -> Response:
        try:
            parsed = Anchor.parse(anchor) if anchor is not None else None
        except ValueError as exc:
            raise Refusal(Problem.of("invalid-request", f"anchor 格式应为 HASH@SEQ：{exc}", str(exc),
                                     location="query:anchor")) from None
        report = verify_ledger(who.engine.store, who.engine.tenant, anchor=parsed,
                               key=service.seal_keys.get(who.engine.tenant))
        return JSONResponse({"ok": report.ok, "entries_checked": report.entries_checked,
                             "first_bad_seq": report.first_bad_seq, "problems": list(report.problems),
                             "head": str(report.head), "summary": report.summary()})

    @app.get("/healthz", tags=["operations"], summary="The process is up")
    def healthz() -> Response:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", tags=["operations"], summary="Every tenant's store answers")
    def readyz() -> Response:
        if service.stopping:
            return JSONResponse({"status": "stopping"}, status_code=503)
        for tenant, engine in service.engines.items():
            try:
                engine.head()
            except StoreError as exc:
                LOGGER.warning("not ready", extra={"tenant": tenant, "error": type(exc).__name__})
                return JSONResponse({"status": "store unavailable", "tenant": tenant}, status_code=503)
        return JSONResponse({"status": "ready", "tenants": sorted(service.engines)})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    def metrics() -> Response:
        return PlainTextResponse(service.metrics.exposition(), media_type="text/plain; version=0.0.4")


class _RequestLog:
    """ASGI middleware: a request id for every request (``X-Request-Id``, taken from the caller if given),
    the latency histogram, and one JSON log line per request with the subject as a pseudonym only."""

    def __init__(self, app: Any, service: _Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-request-id"), "")
        request_id = given if given and len(given) <= 128 and given.isprintable() else uuid.uuid4().hex
        state: dict[str, Any] = scope.setdefault("gridpoints", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            operation = state.get("operation") or _operation_of(scope)
            self.service.metrics.latency.labels(operation).observe(elapsed)
            if operation not in ("healthz", "readyz", "metrics"):
                record: dict[str, Any] = {"request_id": request_id, "method": scope.get("method"),
                                          "operation": operation, "status": status,
                                          "duration_ms": round(elapsed * 1000, 3)}
                for name in ("tenant", "key", "code"):
                    if name in state:
                        record[name] = state[name]
                if "subject" in state:
                    record["subject"] = self.service.pseudonym(state.get("tenant"), state["subject"])
                if "batch_ids" in state:
                    record["events"] = len(state["batch_ids"])
                LOGGER.info("request", extra=record)


def _operation_of(scope: dict[str, Any]) -> str:
    path = str(scope.get("path", ""))
    return path.strip("/") if path in ("/healthz", "/readyz", "/metrics") else "other"


def open_store(url: str, table_prefix: str | None = None) -> gridpoints.Store:
    """The store a URL names; a SQL store's tables under ``table_prefix`` if given."""
    if table_prefix is None:
        return gridpoints.open_store(url)
    from gridpoints.storage.sql import SQLStore  # needs SQLAlchemy, which only a SQL URL needs

    return SQLStore(url, table_prefix=table_prefix)


def app_from_environment() -> FastAPI:
    """The app ``gridpoints serve`` runs in each uvicorn worker, configured by ``GRIDPOINTS_SERVE`` (JSON:
    ruleset, store, table_prefix, tenants, keys_file, registry_file, notify, previous) and the keys, pseudonym and
    seal key variables (see docs/service.md)."""
    config = json.loads(os.environ["GRIDPOINTS_SERVE"])
    policy = gridpoints.load_ruleset(config["ruleset"])
    previous = [gridpoints.load_ruleset(path) for path in config.get("previous", ())]
    store = open_store(config["store"], config.get("table_prefix"))
    keys = KeyRing.from_file(config["keys_file"]) if config.get("keys_file") else KeyRing.from_environment()
    master = os.environ.get("GRIDPOINTS_PSEUDONYM_KEY")
    seal = os.environ.get("GRIDPOINTS_SEAL_KEY")
    members = read_registry(config["registry_file"]) if config.get("registry_file") else []
    engines: dict[str, Engine] = {}
    seal_keys: dict[str, bytes] = {}
    for tenant in config["tenants"]:
        pseudonymiser = Pseudonymiser.for_tenant(bytes.fromhex(master), tenant) if master else None
        if seal:
            seal_keys[tenant] = bytes.fromhex(seal)
        engine = Engine(policy, store=store, tenant=tenant, pseudonymiser=pseudonymiser,
                        seal_key=seal_keys.get(tenant), notify=bool(config.get("notify")), previous=previous)
        for member in members:
            if member.get("tenant", tenant) == tenant:
                engine.register(member["subject"], grid=member["grid"], household=member.get("household"),
                                roles=member.get("roles", ("resident",)), since=_when(member.get("since")),
                                until=_when(member.get("until")))
        engines[tenant] = engine
    log_key = os.environ.get("GRIDPOINTS_LOG_KEY")
    return create_app(engines, keys=keys, close_stores=True, seal_keys=seal_keys,
                      log_pseudonymiser=Pseudonymiser(bytes.fromhex(log_key)) if log_key else None)


_MEMBER_FIELDS = frozenset({"tenant", "subject", "grid", "household", "roles", "since", "until"})


def read_registry(path: str) -> list[dict[str, Any]]:
    """Memberships for the engines' registries from a JSON file: a list of ``{"subject", "grid",
    "household"?, "roles"?, "since"?, "until"?, "tenant"?}`` (a member without a tenant is in every one);
    a bad entry raises ``ValueError`` naming its position."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of memberships")
    for position, member in enumerate(data):
        where = f"{path}[{position}]"
        if not isinstance(member, dict):
            raise ValueError(f"{where}: expected an object")
        if set(member) - _MEMBER_FIELDS:
            raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(set(member) - _MEMBER_FIELDS))}")
        if not isinstance(member.get("subject"), str) or not isinstance(member.get("grid"), str):
            raise ValueError(f"{where}: subject and grid are required strings")
        for field in ("since", "until"):
            if member.get(field) is not None:
                try:
                    _when(member[field])
                except ValueError as exc:
                    raise ValueError(f"{where}.{field}: {exc}") from None
    return data


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    if moment.utcoffset() is None:
        raise ValueError(f"{text!r} needs a UTC offset")
    return moment
