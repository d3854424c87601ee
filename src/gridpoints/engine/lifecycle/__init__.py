"""Lifecycle mechanisms, each one module, and :data:`MECHANISMS`: the table the engine hands its kernel.

Adding a mechanism is its module (actions, handlers, planners, hooks, entry points that plan through the
:class:`~gridpoints.engine._kernel.Context`), one line in this table, and its DSL models.
"""

from gridpoints.engine._kernel import Mechanism
from gridpoints.engine.lifecycle import (
    _campaign,
    _close,
    _correct,
    _honour,
    _mall,
    _notify,
    _repair,
    _settle,
    _streak,
    _team,
    _upgrade,
)
from gridpoints.engine.lifecycle._close import CloseAction, CloseReport, close_older, close_period
from gridpoints.engine.lifecycle._correct import (
    Correction,
    CorrectionAction,
    adjust,
    adjustment_event_id,
    correct,
    correction_event_id,
    corrections,
)
from gridpoints.engine.lifecycle._honour import HONOURED, Honour, HonourAction, honours
from gridpoints.engine.lifecycle._mall import (
    MallAction,
    expire_holds,
    redeem,
    redemption_event_id,
    settle_hold,
    tier,
)
from gridpoints.engine.lifecycle._notify import NotifyAction, remind
from gridpoints.engine.lifecycle._ranking import Standing, counts_as_earned, earned, leaderboard
from gridpoints.engine.lifecycle._repair import RepairAction, RepairStatus, expire_repairs, repairs, restore_amount
from gridpoints.engine.lifecycle._settle import SettleAction, expire_pending
from gridpoints.engine.lifecycle._streak import StreakAction
from gridpoints.engine.lifecycle._team import TeamAction, TeamStanding, team_leaderboard
from gridpoints.engine.lifecycle._upgrade import (
    CHOICES,
    KINDS,
    Choice,
    Choices,
    Kind,
    OpenItem,
    StrandedItem,
    UpgradeAction,
    choices,
    open_items,
    stranded,
    upgrade_plans,
)
from gridpoints.engine.lifecycle._views import (
    OpenVerification,
    RepairDue,
    ResidentStanding,
    Statement,
    WorkerView,
    standing,
    statement,
    worker_view,
)

#: Every mechanism the engine runs, in the order their registrations are read.
#: Follow hooks run in this order: the streak's before the honours' (a badge reads the streak's run).
MECHANISMS: tuple[Mechanism, ...] = (_campaign.MECHANISM, _settle.MECHANISM, _repair.MECHANISM, _mall.MECHANISM,
                                     _close.MECHANISM, _correct.MECHANISM, _team.MECHANISM, _streak.MECHANISM,
                                     _honour.MECHANISM, _notify.MECHANISM, _upgrade.MECHANISM)

__all__ = [
    "CHOICES",
    "HONOURED",
    "KINDS",
    "MECHANISMS",
    "Choice",
    "Choices",
    "CloseAction",
    "CloseReport",
    "Correction",
    "CorrectionAction",
    "Honour",
    "HonourAction",
    "Kind",
    "MallAction",
    "NotifyAction",
    "OpenItem",
    "OpenVerification",
    "RepairAction",
    "RepairDue",
    "RepairStatus",
    "ResidentStanding",
    "SettleAction",
    "Standing",
    "Statement",
    "StrandedItem",
    "StreakAction",
    "TeamAction",
    "TeamStanding",
    "UpgradeAction",
    "WorkerView",
    "adjust",
    "adjustment_event_id",
    "choices",
    "close_older",
    "close_period",
    "correct",
    "correction_event_id",
    "corrections",
    "counts_as_earned",
    "earned",
    "expire_holds",
    "expire_pending",
    "expire_repairs",
    "honours",
    "leaderboard",
    "open_items",
    "redeem",
    "redemption_event_id",
    "remind",
    "repairs",
    "restore_amount",
    "settle_hold",
    "standing",
    "statement",
    "stranded",
    "team_leaderboard",
    "tier",
    "upgrade_plans",
    "worker_view",
]
