"""Every error gridpoints raises.

::

    GridpointsError
    ├── RulesetError (ValueError)          a ruleset failed to load; .issues lists each problem with its place
    ├── EventError (ValueError)            an event is malformed; .field names what, .event_id which event
    │   ├── UnknownEventType (KeyError)    no rule handles the type and the ruleset does not ignore it
    │   ├── SegregationError               the actor may not verify or decide this (role, beneficiary, household)
    │   └── SettlementError                the event it settles is unknown, already settled, or past its window
    ├── IdempotencyConflict (ValueError)   an event id was reused with different content
    ├── RedemptionRefused (ValueError)     the points mall refused a redemption; .reason says why
    ├── StoreUrlError (ValueError)         a store URL names no registered store or one that cannot use it
    ├── SealKeyMismatch (ValueError)       an engine's sealing key is not the one its ledger was sealed with
    ├── StoreError                         the storage backend failed; never a business rejection
    │   ├── StoreUnavailable (ConnectionError)
    │   ├── SerializationFailure           a conflict that survived the adapter's bounded retries
    │   └── IntegrityError                 the stored ledger contradicts itself (broken chain, gap in sequence)
    └── MissingExtra (ImportError)         an optional integration was used without its extra installed

Input errors also subclass the builtin they mean, so a host that catches ``ValueError`` around input
handling keeps working. Each keeps its facts as attributes, not only in the message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs


class GridpointsError(Exception):
    """Root of every error raised by gridpoints."""


@attrs.frozen(slots=True)
class Issue:
    """One problem found in a ruleset: where it is, what was expected, what arrived.

    ``message`` is the English text. An issue the ruleset layer reports also carries its stable message
    ``code`` and the ``params`` the message was made from (the names, values and bounds it quotes), and its
    Chinese text ``zh``; :meth:`text` and :meth:`describe` give it in either language.
    """

    path: str
    message: str
    source: str | None = None
    line: int | None = None
    column: int | None = None
    suggestion: str | None = None
    code: str | None = None
    params: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)
    zh: str | None = attrs.field(default=None, eq=False)

    def where(self, lang: str = "en") -> str:
        """``path @ source:line:column``; ``lang`` names the placeholders of an unnamed ruleset or text."""
        zh = lang == "zh"
        place = self.path or ("<规则集>" if zh else "<ruleset>")
        if self.line is not None:
            return f"{place} @ {self.source or ('<文本>' if zh else '<text>')}:{self.line}:{self.column}"
        return place

    def text(self, lang: str = "en") -> str:
        """The message in ``lang`` (``zh`` or ``en``); an issue made without a Chinese text gives its English."""
        return self.zh if lang == "zh" and self.zh is not None else self.message

    def hint(self, lang: str = "en") -> str:
        """The did-you-mean in ``lang``, or ``""``."""
        if not self.suggestion:
            return ""
        return f"（建议：{self.suggestion!r}）" if lang == "zh" else f" (did you mean {self.suggestion!r}?)"

    def describe(self, lang: str = "en") -> str:
        """Place, message and did-you-mean on one line in ``lang``; ``str(issue)`` is ``describe("en")``."""
        separator = "：" if lang == "zh" else ": "
        return f"{self.where(lang)}{separator}{self.text(lang)}{self.hint(lang)}"

    def __str__(self) -> str:
        return self.describe("en")


class RulesetError(GridpointsError, ValueError):
    """A ruleset is invalid. ``issues`` holds every problem found, in document order."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = tuple(issues)
        super().__init__(self.describe("en"))

    def describe(self, lang: str = "en") -> str:
        """Every issue, one a line, under a count, in ``lang`` (``str(error)`` is the English)."""
        lines = "\n".join(issue.describe(lang) for issue in self.issues)
        if lang == "zh":
            return f"规则集无效（{len(self.issues)} 处问题）：\n{lines}"
        return f"invalid ruleset ({len(self.issues)} problem(s)):\n{lines}"


class EventError(GridpointsError, ValueError):
    """An event cannot be processed; ``field`` names the offending field, nothing was written."""

    def __init__(self, message: str, *, field: str, event_id: str | None = None, index: int | None = None):
        self.field = field
        self.event_id = event_id
        self.index = index
        where = f"event {event_id!r}" if event_id is not None else "event"
        if index is not None:
            where += f" (batch position {index})"
        super().__init__(f"{where}: {field}: {message}")


class UnknownEventType(EventError, KeyError):
    """No rule (nor repair, nor verification) handles this event type and the ruleset does not list it under
    ``events`` with ``ignore: true``."""

    def __init__(self, event_type: str, *, event_id: str | None, known: Sequence[str], index: int | None = None):
        import difflib

        self.event_type = event_type
        close = difflib.get_close_matches(event_type, list(known), n=1)
        self.suggestion = close[0] if close else None
        hint = f"; did you mean {self.suggestion!r}?" if self.suggestion else ""
        super().__init__(f"unknown event type {event_type!r}{hint}", field="type", event_id=event_id, index=index)

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class SegregationError(EventError):
    """Segregation of duties: the actor lacks a required role, is the beneficiary, or shares their household."""


class SettlementError(EventError):
    """A verify/reject/appeal event names an event that is unknown, already settled, or past its window."""


class IdempotencyConflict(GridpointsError, ValueError):
    """The event id was already used for an event with different content."""

    def __init__(self, event_id: str, *, stored: str, received: str):
        self.event_id = event_id
        self.stored_fingerprint = stored
        self.received_fingerprint = received
        super().__init__(
            f"event id {event_id!r} was already recorded with different content "
            f"(stored {stored[:12]}…, received {received[:12]}…)"
        )


class RedemptionRefused(GridpointsError, ValueError):
    """A redemption was refused and nothing was written. ``reason`` is one of: ``insufficient_balance``,
    ``out_of_stock``, ``limit_reached``, ``not_eligible``, ``unavailable``, ``unknown_item``,
    ``unknown_request``, ``already_settled``, ``repair_required`` (a required repair is still open). For
    ``not_eligible``, ``condition`` names the eligibility
    key that failed (``roles``, ``grids``, ``tags``, ``age_bands``, ``tiers``, ``earned``, ``min_balance``,
    ``max_balance``)."""

    def __init__(self, reason: str, message: str, *, item: str | None = None, subject: str | None = None,
                 condition: str | None = None):
        self.reason = reason
        self.item = item
        self.subject = subject
        self.condition = condition
        super().__init__(f"{reason}: {message}")


class CorrectionRefused(GridpointsError, ValueError):
    """A correction (冲正) or staff adjustment (人工调整) was refused and nothing was written. ``reason`` is one
    of: ``unknown_event``, ``not_correctable``, ``nothing_to_correct``, ``cap_reached``, ``below_floor``,
    ``invalid``. The message names the event and why, in English; :attr:`message_zh` says the same in Chinese
    (``None`` where only the reason code has a Chinese text)."""

    def __init__(self, reason: str, message: str, *, event_id: str | None = None, subject: str | None = None,
                 zh: str | None = None):
        self.reason = reason
        self.event_id = event_id
        self.subject = subject
        self.message_zh = zh
        super().__init__(f"{reason}: {message}")

    def explain(self, lang: str) -> str:
        """The refusal in ``zh`` or ``en``."""
        if lang not in ("zh", "en"):
            raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
        return self.message_zh or str(self) if lang == "zh" else str(self)


class UpgradeRefused(GridpointsError, ValueError):
    """An engine was not upgraded to a new ruleset version. ``items`` lists the open items
    (:class:`gridpoints.engine.lifecycle.StrandedItem`) the new version could not settle and that the upgrade
    was told to refuse or to carry; ``Engine.upgrade(new, now=…, stranded=…)`` says what to do with them
    instead: ``"keep"`` (settled by the version that opened them, the default), ``"expire"`` (settled now),
    or ``"carry"`` only where the new version has the same rule, repair or item."""

    def __init__(self, old: str, new: str, items: list[object], *, how: str = ""):
        self.old = old
        self.new = new
        self.items = items
        shown = "; ".join(str(item) for item in items[:5])
        more = f" (and {len(items) - 5} more)" if len(items) > 5 else ""
        self.how = how or ("upgrade with stranded='keep' (the version that opened each item settles it) or "
                           "stranded='expire' (settle them now), per kind: stranded={'pending': …, 'appeal': …, "
                           "'repair': …, 'hold': …}")
        super().__init__(f"upgrading {old} to {new} would strand {len(items)} open item(s): {shown}{more}; "
                         f"{self.how}")


class VersionMissing(GridpointsError, LookupError):
    """An open item is governed by a ruleset version this engine was not given (it was opened under it, or an
    upgrade carried it there). ``ruleset`` names the version (``ruleset@version``), ``event_id`` the item and
    ``held`` the versions the engine holds. Give the engine that version: ``Engine(policy, store=…,
    previous=[older_policy])``. Nothing was written."""

    def __init__(self, ruleset: str, event_id: str, held: Sequence[str]):
        self.ruleset = ruleset
        self.event_id = event_id
        self.held = tuple(held)
        super().__init__(f"event {event_id!r} is an open item of {ruleset}, which this engine does not hold "
                         f"(it holds {', '.join(self.held)}); give it with Engine(..., previous=[the {ruleset} "
                         "policy])")


class StoreUrlError(GridpointsError, ValueError):
    """A store URL names no registered store, or the store it names cannot use it; ``schemes`` lists the
    accepted URL schemes. Not retryable: the URL has to change."""

    def __init__(self, message: str, *, schemes: Sequence[str] = ()) -> None:
        self.schemes = tuple(schemes)
        listed = f" (accepted schemes: {', '.join(self.schemes)})" if self.schemes else ""
        self.detail = message
        super().__init__(f"{message}{listed}")


class SealKeyMismatch(GridpointsError, ValueError):
    """An engine was opened with a sealing key its tenant's ledger was not sealed with, and refused to start
    (nothing was written: extending a chain under another key would break it for every later audit).

    ``reason``: ``other_key`` (the ledger is keyed with another key), ``keyed_ledger`` (the ledger is keyed,
    the engine has no key) or ``unkeyed_ledger`` (the engine has a key, the ledger was sealed without one).
    Each can also mean the head row was altered: ``gridpoints verify`` tells which. ``tenant`` and ``seq``
    (the ledger's length) say where; :meth:`message` says it in ``en`` or ``zh``; ``str()`` gives both."""

    _TEXT: ClassVar[dict[str, tuple[str, str]]] = {
        "other_key": ("the ledger of tenant {tenant!r} ({seq} entries) was sealed with another key than this "
                      "engine's seal_key (or its head row was altered)",
                      "租户 {tenant!r} 的账本（{seq} 条记录）是用另一把密钥封存的，"
                      "与本引擎的 seal_key 不符（或其链头行被改动）"),
        "keyed_ledger": ("the ledger of tenant {tenant!r} ({seq} entries) is sealed with a key, and this engine "
                         "has no seal_key (or its head row was altered)",
                         "租户 {tenant!r} 的账本（{seq} 条记录）是用密钥封存的，"
                         "本引擎却没有 seal_key（或其链头行被改动）"),
        "unkeyed_ledger": ("the ledger of tenant {tenant!r} ({seq} entries) was sealed without a key, and this "
                           "engine has a seal_key (or its head row was altered)",
                           "租户 {tenant!r} 的账本（{seq} 条记录）封存时没有密钥，"
                           "本引擎却带有 seal_key（或其链头行被改动）"),
    }
    _ADVICE = ("; open it with the key it was sealed with, and run 'gridpoints verify' to check it",
               "；请用封存时的密钥打开，并运行 'gridpoints verify' 核查")

    def __init__(self, reason: str, *, tenant: str, seq: int) -> None:
        if reason not in self._TEXT:
            raise ValueError(f"unknown seal key mismatch reason {reason!r}")
        self.reason = reason
        self.tenant = tenant
        self.seq = seq
        super().__init__(f"{self.message('en')} / {self.message('zh')}")

    def message(self, lang: str = "en") -> str:
        """The refusal in English (``en``) or Chinese (``zh``)."""
        index = 1 if lang == "zh" else 0
        return self._TEXT[self.reason][index].format(tenant=self.tenant, seq=self.seq) + self._ADVICE[index]


class StoreError(GridpointsError):
    """The storage backend failed. Raised from the driver error (``__cause__``)."""


class StoreUnavailable(StoreError, ConnectionError):
    """The backend could not be reached."""


class SerializationFailure(StoreError):
    """A transaction conflict persisted after the adapter's bounded retries."""


class IntegrityError(StoreError):
    """The stored ledger is inconsistent (sequence gap, chain mismatch, schema too new)."""


class MissingExtra(GridpointsError, ImportError):
    """An optional integration needs an extra that is not installed."""

    def __init__(self, extra: str, purpose: str):
        self.extra = extra
        super().__init__(f"{purpose} needs the '{extra}' extra: pip install 'gridpoints[{extra}]'")
