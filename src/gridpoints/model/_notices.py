"""Notices: what a resident or worker should be told, written to the store's outbox with the entries.

A :class:`Notice` is made by the engine inside the transaction that writes the entries it tells of (or, for
a reminder, inside the reminder's own transaction), so a host that reads the outbox never tells of points
that were rolled back nor misses points that were committed. The store numbers notices per tenant with a
``cursor`` (1, 2, 3 …, in commit order); a host reads those after the cursor it last acknowledged, sends
them (a WeChat mini-program subscription message, an SMS …) and acknowledges the last one sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal

import attrs


class NoticeKind(StrEnum):
    """What a notice tells of."""

    POINTS_AWARDED = "points_awarded"
    POINTS_DEDUCTED = "points_deducted"
    REPAIR_OPENED = "repair_opened"
    REPAIR_DUE = "repair_due"
    REPAIR_EXPIRED = "repair_expired"
    HOLD_EXPIRING = "hold_expiring"
    VERIFICATION_DUE = "verification_due"
    HONOUR_EARNED = "honour_earned"


_TEXT: dict[str, dict[str, str]] = {
    NoticeKind.POINTS_AWARDED: {"en": "You earned {points} points ({rule}).",
                                "zh": "您获得 {points} 积分（{rule}）。"},
    NoticeKind.POINTS_DEDUCTED: {"en": "{points} points were deducted ({rule}).",
                                 "zh": "您被扣除 {points} 积分（{rule}）。"},
    NoticeKind.REPAIR_OPENED: {"en": "You may restore the deduction by completing {repair} before {deadline}.",
                               "zh": "完成 {repair} 即可恢复所扣积分，截止时间 {deadline}。"},
    NoticeKind.REPAIR_DUE: {"en": "{repair} is due in {days} day(s), by {deadline}.",
                            "zh": "{repair} 还有 {days} 天截止（{deadline}）。"},
    NoticeKind.REPAIR_EXPIRED: {"en": "The time to complete {repair} has passed; the deduction stands.",
                                "zh": "{repair} 已过期，扣分维持。"},
    NoticeKind.HOLD_EXPIRING: {"en": "Your reservation of {item} expires on {deadline}; the points then return.",
                               "zh": "您预约的 {item} 将于 {deadline} 到期，届时积分退回。"},
    NoticeKind.VERIFICATION_DUE: {"en": "Event {event} awaits verification by {deadline}.",
                                  "zh": "事件 {event} 待核实，截止时间 {deadline}。"},
    NoticeKind.HONOUR_EARNED: {"en": "You earned the honour {title}.", "zh": "您获得荣誉：{title}。"},
}


def _details(value: Mapping[str, Any] | tuple[tuple[str, Any], ...]) -> tuple[tuple[str, Any], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple(sorted((str(k), v) for k, v in items))


@attrs.frozen(slots=True)
class Notice:
    """One notice. ``cursor`` is the store's number for it (0 until the store has numbered it);
    ``subject`` is who is told (a resident, or the grid worker for ``verification_due``); ``event_id`` the
    event it tells of; ``at`` its local time; ``details`` its facts (rule, repair, deadline, item …)."""

    kind: NoticeKind = attrs.field(converter=NoticeKind)
    subject: str
    event_id: str
    at: str
    points: int = 0
    details: tuple[tuple[str, Any], ...] = attrs.field(default=(), converter=_details)
    cursor: int = 0

    def detail(self, name: str, default: Any = None) -> Any:
        return dict(self.details).get(name, default)

    def text(self, lang: Literal["zh", "en"] = "zh") -> str:
        """The notice as a sentence in Chinese or English."""
        fields = {"points": abs(self.points), "event": self.event_id, **dict(self.details)}
        fields.setdefault("rule", "")
        return _TEXT[self.kind][lang].format_map(_Missing(fields))

    def to_json(self) -> str:
        """The notice's fields as JSON text (what SQL stores keep), without the cursor."""
        return json.dumps({"kind": self.kind.value, "subject": self.subject, "event_id": self.event_id,
                           "at": self.at, "points": self.points, "details": dict(self.details)},
                          ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, cursor: int) -> Notice:
        data = json.loads(text)
        return cls(data["kind"], data["subject"], data["event_id"], data["at"], data["points"],
                   data["details"], cursor)


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"
