"""The one enumeration of ledger entry reasons, with the named sets every layer reads.

Every entry's ``reason`` is a :class:`Reason` (a ``StrEnum``: it compares and hashes equal to its text, so
stored entries, whose reason is plain text, match it). Rankings, tiers, analytics, simulate and the
fairness kit select entries through the sets below rather than through lists of their own.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class Reason(StrEnum):
    """Why an entry moved points. The sets are class attributes: ``Reason.EARNED`` and so on."""

    #: A rule's award (also scheduled base points).
    AWARD = "award"
    #: A deduction for a violation.
    DEDUCTION = "deduction"
    #: An award waiting for verification, parked in the subject's pending account.
    PENDING = "pending"
    #: A pending award verified: pending → spendable.
    VERIFIED = "verified"
    #: The part of a verified award that the limits cut: pending → issuance.
    RELEASED = "released"
    #: A pending award rejected by the verifier: pending → issuance.
    REJECTED = "rejected"
    #: A pending award whose verification window passed: pending → issuance.
    EXPIRED = "expired"
    #: A deduction reversed by an upheld appeal.
    APPEAL_UPHELD = "appeal-upheld"
    #: A grid worker's performance credit.
    CREDIT = "credit"
    #: A challenge bonus.
    BONUS = "bonus"
    #: Points that expired at a period close.
    EXPIRED_POINTS = "expired-points"
    #: Points a completed repair (积分修复) restored.
    REPAIR_RESTORED = "repair-restored"
    #: Points spent in the points mall.
    REDEEMED = "redeemed"
    #: Points held for a redemption not yet fulfilled.
    HELD = "held"
    #: Points held for an application to a scarce item (allocated at the window's close).
    APPLIED = "applied"
    #: Held points given back (a cancelled or expired hold, an application not allocated).
    RETURNED = "returned"
    #: An entry reversed by a correction (冲正): the reversing entry, linked to it by ``reverses``.
    CORRECTED = "corrected"
    #: A staff adjustment (人工调整), credit or debit, through the adjustments account.
    ADJUSTED = "adjusted"

    EARNED: ClassVar[frozenset[Reason]]
    ISSUED: ClassVar[frozenset[Reason]]
    AWARDED: ClassVar[frozenset[Reason]]
    REDEMPTION: ClassVar[frozenset[Reason]]
    SETTLED_PENDING: ClassVar[frozenset[Reason]]
    ACTIVITY: ClassVar[frozenset[Reason]]


#: Points earned, as rankings, challenges, tiers and concentration count them: awards, verified awards and
#: challenge bonuses. Grid workers' credits are not: workers do not compete with the residents they serve.
#: Restored points count only where a repair says ``counts_for_ranking`` (decided per entry, not here).
Reason.EARNED = frozenset({Reason.AWARD, Reason.VERIFIED, Reason.BONUS})
#: Fresh points credited to a spendable account for activity (what can expire): the earned reasons and
#: workers' credits. The other credits to a spendable account undo an earlier debit.
Reason.ISSUED = frozenset({Reason.AWARD, Reason.VERIFIED, Reason.BONUS, Reason.CREDIT})
#: Entries that a rule's points flowed through to the resident directly (the fairness kit bounds them by the
#: rule's base): awards and verified awards.
Reason.AWARDED = frozenset({Reason.AWARD, Reason.VERIFIED})
#: The points mall's entries.
Reason.REDEMPTION = frozenset({Reason.REDEEMED, Reason.HELD, Reason.APPLIED, Reason.RETURNED})
#: A resident's own activity (grid analytics' participation and proactive-service list): an award, a report
#: pending verification, a worker's credit.
Reason.ACTIVITY = frozenset({Reason.AWARD, Reason.PENDING, Reason.CREDIT})
#: How a pending award leaves the pending account.
Reason.SETTLED_PENDING = frozenset({Reason.VERIFIED, Reason.RELEASED, Reason.REJECTED, Reason.EXPIRED})
