"""Errors as RFC 9457 problem details: one HTTP status per gridpoints error, in the caller's language.

Every body is ``application/problem+json`` with ``type`` (``urn:gridpoints:problem:<code>``), ``title``,
``status``, ``detail``, ``instance`` (the request path) and gridpoints' own members: ``code`` (stable, for
programs), ``location`` (where in the request the problem is, e.g. ``events[3].attributes.hours``, or
null), ``lang`` and ``request_id``, plus the facts an error keeps (both fingerprints of an idempotency
conflict, a refusal's reason, a did-you-mean).

Store failures are 5xx and never a business rejection: a serialization conflict is retried inside the
engine, and one that outlived the retries is ``503`` with ``Retry-After`` — the request wrote nothing and
may be sent again as it was.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from gridpoints.errors import (
    CorrectionRefused,
    EventError,
    GridpointsError,
    IdempotencyConflict,
    IntegrityError,
    MissingExtra,
    RedemptionRefused,
    RulesetError,
    SealKeyMismatch,
    SegregationError,
    SerializationFailure,
    SettlementError,
    StoreError,
    StoreUnavailable,
    UnknownEventType,
    UpgradeRefused,
    VersionMissing,
)

Lang = Literal["zh", "en"]

__all__ = ["PROBLEMS", "Lang", "Problem", "ProblemKind", "Refusal", "problem_of"]


@attrs.frozen(slots=True)
class ProblemKind:
    """One kind of problem: its code, status and title in both languages."""

    code: str
    status: int
    zh: str
    en: str

    def title(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en


def _kind(code: str, status: int, zh: str, en: str) -> ProblemKind:
    return ProblemKind(code, status, zh, en)


#: Every problem the service answers with, by code; the first match of :data:`_BY_ERROR` (most specific
#: class first) decides a gridpoints error's kind.
PROBLEMS: dict[str, ProblemKind] = {k.code: k for k in (
    _kind("unknown-event-type", 422, "未知的事件类型", "Unknown event type"),
    _kind("segregation-of-duties", 422, "违反职责分离", "Segregation of duties"),
    _kind("settlement", 409, "无法结算该事件", "The event cannot be settled"),
    _kind("invalid-event", 422, "事件无效", "Invalid event"),
    _kind("idempotency-conflict", 409, "事件编号已用于不同内容", "Event id reused with different content"),
    _kind("redemption-refused", 409, "兑换被拒绝", "Redemption refused"),
    _kind("correction-refused", 409, "冲正或人工调整被拒绝", "Correction or adjustment refused"),
    _kind("invalid-ruleset", 422, "规则集无效", "Invalid ruleset"),
    _kind("upgrade-refused", 409, "升级会遗留未结事项", "The upgrade would strand open items"),
    _kind("version-missing", 500, "服务缺少未结事项所属的规则集版本",
          "The service lacks an open item's ruleset version"),
    _kind("seal-key-mismatch", 500, "封存密钥与账本不符", "Sealing key does not match the ledger"),
    _kind("store-unavailable", 503, "存储暂不可用", "Store unavailable"),
    _kind("retry-later", 503, "并发冲突，请原样重试", "Concurrent conflict: retry the same request"),
    _kind("ledger-integrity", 500, "账本不一致", "Ledger integrity failure"),
    _kind("store-error", 500, "存储出错", "Store error"),
    _kind("missing-extra", 501, "缺少可选组件", "Optional component not installed"),
    _kind("internal", 500, "内部错误", "Internal error"),
    _kind("invalid-request", 422, "请求格式无效", "Invalid request"),
    _kind("unauthenticated", 401, "缺少或无效的访问密钥", "Missing or invalid API key"),
    _kind("forbidden", 403, "无权执行此操作", "Not allowed"),
    _kind("not-found", 404, "未找到", "Not found"),
    _kind("invalid-window", 422, "窗口编号无效", "Invalid window id"),
)}

_BY_ERROR: tuple[tuple[type[GridpointsError], str], ...] = (
    (UnknownEventType, "unknown-event-type"),
    (SegregationError, "segregation-of-duties"),
    (SettlementError, "settlement"),
    (EventError, "invalid-event"),
    (IdempotencyConflict, "idempotency-conflict"),
    (RedemptionRefused, "redemption-refused"),
    (CorrectionRefused, "correction-refused"),
    (RulesetError, "invalid-ruleset"),
    (UpgradeRefused, "upgrade-refused"),
    (VersionMissing, "version-missing"),
    (SealKeyMismatch, "seal-key-mismatch"),
    (StoreUnavailable, "store-unavailable"),
    (SerializationFailure, "retry-later"),
    (IntegrityError, "ledger-integrity"),
    (StoreError, "store-error"),
    (MissingExtra, "missing-extra"),
    (GridpointsError, "internal"),
)

_REFUSALS: dict[str, tuple[str, str]] = {
    "insufficient_balance": ("积分余额不足", "the balance is too low"),
    "out_of_stock": ("库存不足", "the item is out of stock"),
    "limit_reached": ("已达兑换次数上限", "the per-subject limit is reached"),
    "not_eligible": ("不符合兑换资格", "the subject is not eligible"),
    "unavailable": ("该商品当前不可兑换", "the item is not available at this time"),
    "unknown_item": ("积分商城中没有该商品", "no such item in the catalog"),
    "unknown_request": ("没有该兑换申请", "no such redemption request"),
    "already_settled": ("该兑换已结算", "the redemption is already settled"),
    "repair_required": ("须先完成积分修复", "a required point repair must be completed first"),
}


_CORRECTION_REFUSALS: dict[str, tuple[str, str]] = {
    "unknown_event": ("没有该事件的记录", "no such recorded event"),
    "not_correctable": ("该事件不能冲正", "the event cannot be corrected"),
    "nothing_to_correct": ("该事件没有可冲正的分录或计数", "the event posted and counted nothing"),
    "cap_reached": ("已达本期人工调整上限", "the staff member's adjustment cap for the window is reached"),
    "below_floor": ("扣减后余额将低于下限", "the debit would take the balance below the floor"),
    "invalid": ("请求参数无效", "the request is invalid"),
}


@attrs.frozen(slots=True)
class Problem:
    """A problem to answer with: its kind, detail in both languages, location and extra members."""

    kind: ProblemKind
    detail_zh: str
    detail_en: str
    location: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)
    headers: dict[str, str] = attrs.field(factory=dict)

    @classmethod
    def of(cls, code: str, zh: str, en: str, *, location: str | None = None, **extra: Any) -> Problem:
        return cls(PROBLEMS[code], zh, en, location, extra)

    @property
    def status(self) -> int:
        return self.kind.status

    def body(self, lang: Lang, *, instance: str, request_id: str) -> dict[str, Any]:
        return {
            "type": f"urn:gridpoints:problem:{self.kind.code}", "title": self.kind.title(lang),
            "status": self.kind.status, "detail": self.detail_zh if lang == "zh" else self.detail_en,
            "instance": instance, "code": self.kind.code, "location": self.location, "lang": lang,
            "request_id": request_id, **self.extra,
        }


class Refusal(Exception):
    """Raised inside the service to answer with ``problem`` (a gridpoints error is answered directly)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(problem.detail_en)


def _event_place(field: str, index: int | None, batch: bool) -> str:
    return f"events[{index}].{field}" if batch and index is not None else field


def problem_of(error: GridpointsError, *, batch: bool = False, batch_ids: list[str] | None = None) -> Problem:
    """The problem a gridpoints error answers with. ``batch``: the request was a batch (locations are then
    ``events[i].…``); ``batch_ids`` the batch's event ids, to place an idempotency conflict."""
    code = next(code for cls, code in _BY_ERROR if isinstance(error, cls))
    text = str(error)
    kind = PROBLEMS[code]
    if isinstance(error, UnknownEventType):
        hint_zh = f"；是否想用 {error.suggestion!r}？" if error.suggestion else ""
        return Problem(kind, f"事件 {error.event_id!r} 的类型 {error.event_type!r} 没有对应的规则{hint_zh}", text,
                       _event_place(error.field, error.index, batch),
                       {"event_id": error.event_id, "event_type": error.event_type, "suggestion": error.suggestion})
    if isinstance(error, EventError):
        where = f"事件 {error.event_id!r}" if error.event_id is not None else "事件"
        if error.index is not None:
            where += f"（批次第 {error.index} 条）"
        return Problem(kind, f"{where}的字段 {error.field} 有误，未写入任何内容（{text}）", text,
                       _event_place(error.field, error.index, batch), {"event_id": error.event_id})
    if isinstance(error, IdempotencyConflict):
        index = batch_ids.index(error.event_id) if batch and batch_ids and error.event_id in batch_ids else None
        return Problem(kind, f"事件编号 {error.event_id!r} 已记录为不同的内容（已存指纹 {error.stored_fingerprint}，"
                             f"本次指纹 {error.received_fingerprint}）；未写入任何内容", text,
                       _event_place("id", index, batch),
                       {"event_id": error.event_id, "stored_fingerprint": error.stored_fingerprint,
                        "received_fingerprint": error.received_fingerprint})
    if isinstance(error, RedemptionRefused):
        zh, en = _REFUSALS.get(error.reason, (error.reason, error.reason))
        return Problem(kind, f"兑换被拒绝：{zh}（商品 {error.item!r}）；未写入任何内容",
                       f"redemption refused: {en} ({text})", "item" if error.reason != "unknown_request" else None,
                       {"reason": error.reason, "item": error.item})
    if isinstance(error, CorrectionRefused):
        zh, en = _CORRECTION_REFUSALS.get(error.reason, (error.reason, error.reason))
        said = f"（{error.message_zh}）" if error.message_zh else ""
        return Problem(kind, f"冲正或人工调整被拒绝：{zh}{said}；未写入任何内容", f"correction refused: {en} ({text})",
                       None,
                       {"reason": error.reason, "event_id": error.event_id})
    if isinstance(error, RulesetError):
        issues = [str(issue) for issue in error.issues]
        lines = "；".join(issue.describe("zh") for issue in error.issues)
        return Problem(kind, f"规则集有 {len(issues)} 处问题：{lines}", text,
                       error.issues[0].where() if error.issues else None, {"issues": issues})
    if isinstance(error, UpgradeRefused):
        items = [str(item) for item in error.items]
        return Problem(kind, f"从 {error.old} 升级到 {error.new} 会遗留 {len(items)} 个未结事项（待核实、可申诉、"
                             "修复中的事件或冻结的兑换）：升级时用 stranded='keep' 由原版本结清，或 stranded='expire' "
                             "立即结清（可按类别分别指定）", text, None,
                       {"old": error.old, "new": error.new, "items": items, "how": error.how})
    if isinstance(error, VersionMissing):
        return Problem(kind, f"事件 {error.event_id!r} 是规则集 {error.ruleset} 的未结事项，服务未载入该版本；"
                             f"请以 previous=[该版本] 启动（现有 {', '.join(error.held)}）；未写入任何内容", text, None,
                       {"ruleset": error.ruleset, "event_id": error.event_id, "held": list(error.held)})
    if isinstance(error, SealKeyMismatch):
        return Problem(kind, error.message("zh"), error.message("en"), None,
                       {"reason": error.reason, "tenant": error.tenant})
    if isinstance(error, SerializationFailure):
        return Problem(kind, "并发事务冲突在重试后仍未解决；未写入任何内容，可原样重发", text, None, {},
                       {"Retry-After": "1"})
    if isinstance(error, StoreUnavailable):
        return Problem(kind, "无法连接存储；未写入任何内容", text, None, {}, {"Retry-After": "5"})
    if isinstance(error, IntegrityError):
        return Problem(kind, f"存储的账本自相矛盾，请运行审计（{text}）", text)
    if isinstance(error, MissingExtra):
        return Problem(kind, f"此功能需要安装可选组件 '{error.extra}'", text, None, {"extra": error.extra})
    return Problem(kind, f"{kind.zh}（{text}）", text)
